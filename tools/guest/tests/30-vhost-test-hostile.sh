#!/bin/sh
# The hostile client against the Rust device: seeded random ioctls and ring
# corruptions; after every round virtio_test must still pass. RVH_SCALE=full
# (make test-debug) runs 10 rounds: 100,000 ioctls and 1,000 corruptions.
. /tests/lib.sh
load rust_vhost_test
rounds=1 ioctls=3000 corrupt=100
[ "${RVH_SCALE:-}" = full ] && rounds=10 ioctls=10000 corrupt=100
r=1
while [ $r -le $rounds ]; do
	vhost_client hostile $r $ioctls $corrupt
	out=$(virtio_test --batch=random 2>&1)
	case "$out" in
	*completed=0x100000*) ;;
	*) echo "virtio_test after round $r: $out"; exit 1 ;;
	esac
	r=$((r + 1))
done
echo "hostile: $rounds rounds, $((rounds * ioctls)) ioctls, $((rounds * corrupt)) ring corruptions, virtio_test passed after each"
