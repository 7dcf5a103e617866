#!/bin/sh
# Pending task work holds its module: rmmod fails until the work has run.
. /tests/lib.sh
load rust_vhost_selftest
selftest tw-hold &
pid=$!
sleep 1
if rmmod rust_vhost_selftest 2>/tmp/rmmod.err; then
	echo "rmmod succeeded with task work pending"
	exit 1
fi
cat /tmp/rmmod.err
kill -9 $pid
wait $pid || true
# The work ran as the task exited, and dropped its module reference.
rmmod rust_vhost_selftest
! grep -q '^rust_vhost_selftest ' /proc/modules
echo "rmmod refused while pending, worked after the task exited"
