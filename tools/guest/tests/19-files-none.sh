#!/bin/sh
# An eventfd lookup where there is no file table (a vhost worker, task work
# at exit) fails with EBADF instead of dereferencing a null current->files.
. /tests/lib.sh
load rust_vhost_selftest
selftest files
