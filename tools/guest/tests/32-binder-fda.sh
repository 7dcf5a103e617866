#!/bin/sh
# Binder closes the fds of a BINDER_TYPE_FDA object when the receiver frees
# the buffer: they are open before BC_FREE_BUFFER, and closed, with their
# files released, once that call is back in user space (the task work of
# drivers/android/binder/deferred_close.rs): also when the receiver closed one
# of them itself, and when one call frees two buffers. See
# tools/guest/binder_fda.c; it mounts binderfs on /dev/binderfs. It exits 77
# on a kernel without binder, but every kernel of the project has Rust Binder
# (tools/configs/base.config), so that is a failure here.
. /tests/lib.sh
rc=0
binder_fda || rc=$?
[ $rc = 77 ] && echo "FAIL: no binder in this kernel"
exit $rc
