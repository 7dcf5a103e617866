#!/bin/sh
# A misc registration dropped while files are open: the files keep working
# (their f_op is the type's static table, which holds the module), and the
# module unloads once they are closed.
. /tests/lib.sh
load rust_vhost_selftest
selftest misc-dereg
rmmod rust_vhost_selftest
if grep -q '^rust_vhost_selftest ' /proc/modules; then
	echo "FAIL: module still loaded"; exit 1
fi
