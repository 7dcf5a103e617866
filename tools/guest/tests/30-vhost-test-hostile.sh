#!/bin/sh
# The hostile client against the Rust device: seeded random ioctls and ring
# corruptions; after every round virtio_test must still pass. RVH_SCALE=full
# (make test-debug) runs 2 rounds of 50,000 ioctls and 500 corruptions.
. /tests/lib.sh
load rust_vhost_test
rounds=1 ioctls=3000 corrupt=100
[ "${RVH_SCALE:-}" = full ] && rounds=2 ioctls=50000 corrupt=500
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
