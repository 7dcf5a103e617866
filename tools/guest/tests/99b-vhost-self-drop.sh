#!/bin/sh
# A worker that drops its own handle cannot stop its own thread: the handle
# is leaked, and its module reference with it, so that the thread never runs
# freed code. After 99a the module is pinned already, so this test looks at
# the reference count: it must stay one above where it was before the
# worker started, with the device closed, before and after the owner's death.
. /tests/lib.sh
load rust_vhost_selftest
before=$(cat /sys/module/rust_vhost_selftest/refcnt)
# The worker's drop prints this on the worker thread only; count this run's.
drops() { dmesg | grep -c 'a worker must not stop itself' || true; }
drops0=$(drops)
selftest vhost-self-drop &
pid=$!
i=0
until [ "$(drops)" -gt "$drops0" ]; do
	i=$((i + 1))
	[ $i -le 50 ] || { echo "FAIL: the worker did not drop its handle"; kill -9 $pid; exit 1; }
	sleep 0.1
done
sleep 0.5
if [ -n "$(ls -l /proc/$pid/fd 2>/dev/null | grep rust-vhost-selftest)" ]; then
	echo "FAIL: the device is still open"; kill -9 $pid; exit 1
fi
# The handle could not stop its thread: the worker is still there.
[ "$(ls /proc/$pid/task | wc -l)" -ge 2 ] || { echo "FAIL: the worker thread is gone"; kill -9 $pid; exit 1; }
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
