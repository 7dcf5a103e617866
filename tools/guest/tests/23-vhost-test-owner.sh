#!/bin/sh
# Two processes on one fd; the owner killed with buffers in flight, then
# virtio_test killed mid-run: the device works for the next opener, and no
# vhost thread is left behind.
. /tests/lib.sh
load rust_vhost_test
vhost_client two-procs
vhost_client owner-killed
virtio_test >/dev/null 2>&1 &
pid=$!
sleep 2
kill -9 $pid
wait $pid || true
sleep 0.5
if cat /proc/[0-9]*/task/*/comm 2>/dev/null | grep -q "^vhost-"; then
	echo "a vhost thread is left"; exit 1
fi
vhost_client chains
