#!/bin/sh
# A worker that drops its own handle cannot stop its own thread: the handle
# is leaked, and its module reference with it, so that the thread never runs
# freed code. After 99a the module is pinned already, so this test looks at
# the reference count: it must stay one above where it was before the
# worker started, with the device closed, before and after the owner's death.
. /tests/lib.sh
load rust_vhost_selftest
before=$(cat /sys/module/rust_vhost_selftest/refcnt)
selftest vhost-self-drop &
pid=$!
i=0
until dmesg | grep -q 'a worker must not stop itself'; do
	i=$((i + 1))
	[ $i -le 50 ] || { echo "FAIL: the worker did not drop its handle"; kill -9 $pid; exit 1; }
	sleep 0.1
done
sleep 0.5
if [ -n "$(ls -l /proc/$pid/fd 2>/dev/null | grep rust-vhost-selftest)" ]; then
	echo "FAIL: the device is still open"; kill -9 $pid; exit 1
fi
now=$(cat /sys/module/rust_vhost_selftest/refcnt)
echo "refcnt: $before before the worker, $now after it dropped its own handle"
[ "$now" = $((before + 1)) ] || { echo "FAIL: want $((before + 1))"; kill -9 $pid; exit 1; }
# The SIGKILL handler runs on the worker thread, in the module's code.
kill -9 $pid
wait $pid 2>/dev/null || true
sleep 1
now=$(cat /sys/module/rust_vhost_selftest/refcnt)
echo "refcnt after the owner's death: $now"
[ "$now" = $((before + 1)) ] || { echo "FAIL: want $((before + 1))"; exit 1; }
echo "a handle dropped by its own worker keeps its module reference"
