#!/bin/sh
# Lifecycle storms: the owner killed in the middle of virtio_test runs,
# threads sharing an fd, closes under a running ring, 64 devices at once,
# and insmod/rmmod cycles that leave Tasks RCU callbacks pending at unload.
# RVH_SCALE=full (make test-debug): 200 kills and 200 reloads.
. /tests/lib.sh
load rust_vhost_test
kills=5 reloads=5
[ "${RVH_SCALE:-}" = full ] && kills=200 reloads=200

i=0
while [ $i -lt $kills ]; do
	virtio_test >/dev/null 2>&1 &
	pid=$!
	usleep $(( (i * 7919) % 900000 + 100000 ))
	kill -9 $pid
	wait $pid 2>/dev/null || true
	i=$((i + 1))
done
n=0
while cat /proc/[0-9]*/task/*/comm 2>/dev/null | grep -q '^vhost-'; do
	n=$((n + 1))
	[ $n -lt 20 ] || { echo "vhost threads left after the kills"; exit 1; }
	usleep 100000
done
echo "storms: $kills owners killed mid-run"

vhost_client threads
vhost_client close-running
rm -f /tmp/hold
vhost_client hold 64 >/tmp/hold &
pid=$!
n=0
until grep -q ready /tmp/hold; do
	n=$((n + 1))
	[ $n -lt 300 ] || { cat /tmp/hold; echo "64 devices did not come up"; exit 1; }
	usleep 100000
done
kill $pid
wait $pid 2>/dev/null || true
if grep -q FAIL /tmp/hold; then
	cat /tmp/hold; echo "vhost_client hold failed a check"; exit 1
fi
echo "storms: 64 devices at once"

rmmod rust_vhost_test
i=0
while [ $i -lt $reloads ]; do
	insmod /modules/rust_vhost_test.ko
	exec 3<>/dev/vhost-test
	if rmmod rust_vhost_test 2>/dev/null; then
		echo "rmmod succeeded with an open fd"; exit 1
	fi
	exec 3>&-
	# Its configs are freed after a Tasks Trace grace period: the callbacks
	# are still queued when rmmod runs, and the module's barrier waits.
	vhost_client chains >/dev/null
	rmmod rust_vhost_test
	i=$((i + 1))
done
echo "storms: $reloads insmod/rmmod cycles"
