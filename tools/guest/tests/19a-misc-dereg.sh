#!/bin/sh
# A misc registration dropped while files are open: the files keep working
# (their f_op is kernel::miscdevice's static table for the type, whose owner
# is the module that implements it, so each open file holds the module), and
# the module unloads once they are closed.
. /tests/lib.sh
load rust_vhost_selftest
selftest misc-dereg
rmmod rust_vhost_selftest
if grep -q '^rust_vhost_selftest ' /proc/modules; then
	echo "FAIL: module still loaded"; exit 1
fi
