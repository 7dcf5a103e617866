#!/bin/sh
# A vhost worker created from module init would be a thread of insmod: refused with EPERM.
. /tests/lib.sh
load rust_vhost_selftest
dmesg | grep 'rust_vhost_selftest: vhost_task from module init: errno -1$'
