#!/bin/sh
# A leaked vhost_task handle keeps its module: rmmod is refused for good, so
# that the thread can never call freed code (its SIGKILL handler, say). Last,
# after the kmemleak scan: the leak is deliberate, and the module stays.
. /tests/lib.sh
load rust_vhost_selftest
selftest vhost-leak &
pid=$!
sleep 1
if [ -n "$(ls -l /proc/$pid/fd 2>/dev/null | grep rust-vhost-selftest)" ]; then
	echo "FAIL: the device is still open"; exit 1
fi
if rmmod rust_vhost_selftest 2>/tmp/rmmod.err; then
	echo "FAIL: rmmod succeeded with a leaked worker running"; exit 1
fi
cat /tmp/rmmod.err
# The SIGKILL handler runs on the worker thread, in the module's code.
kill -9 $pid
wait $pid 2>/dev/null || true
sleep 1
if rmmod rust_vhost_selftest 2>/tmp/rmmod.err; then
	echo "FAIL: rmmod succeeded with a leaked handle"; exit 1
fi
cat /tmp/rmmod.err
echo "refcnt: $(cat /sys/module/rust_vhost_selftest/refcnt)"
echo "rmmod refused while the handle is leaked, before and after the owner's death"
