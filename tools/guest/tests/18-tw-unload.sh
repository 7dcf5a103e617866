#!/bin/sh
# Pending task work holds its module: with no file of the module open, only
# the queued item (Notify::None, so it waits for its task to die) keeps
# rmmod from unloading it, and rmmod works once the task has exited.
. /tests/lib.sh
load rust_vhost_selftest
rm -f /tmp/tw-hold
selftest tw-hold >/tmp/tw-hold 2>&1 &
pid=$!
n=0
until grep -q 'waiting\|FAIL' /tmp/tw-hold; do
	n=$((n + 1))
	[ $n -lt 100 ] || { cat /tmp/tw-hold; echo "tw-hold did not come up"; exit 1; }
	usleep 100000
done
cat /tmp/tw-hold
if grep -q FAIL /tmp/tw-hold; then exit 1; fi
# The evidence, from outside too: no fd of the holder points at the device.
ls -l /proc/$pid/fd
if ls -l /proc/$pid/fd | grep -q rust-vhost-selftest; then
	echo "the holder still has the device open"; exit 1
fi
grep '^rust_vhost_selftest ' /proc/modules
if rmmod rust_vhost_selftest 2>/tmp/rmmod.err; then
	echo "rmmod succeeded with task work pending and no file open"
	exit 1
fi
echo "rmmod refused: $(cat /tmp/rmmod.err)"
kill -9 $pid
wait $pid || true
# The work ran as the task exited, and dropped its module reference.
rmmod rust_vhost_selftest
if grep -q '^rust_vhost_selftest ' /proc/modules; then
	echo "rust_vhost_selftest still loaded after rmmod"; exit 1
fi
echo "rmmod refused while the item was pending with no file open, worked after the task exited"
