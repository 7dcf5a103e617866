#!/bin/sh
# `make run`: load the project's modules, show them working, unload them.
set -e
echo "### kernel $(uname -r)"
echo "### insmod rust_vhost_hello, rust_vhost_selftest"
insmod /modules/rust_vhost_hello.ko
insmod /modules/rust_vhost_selftest.ko
grep rust_vhost /proc/modules
echo "### a vhost worker in this process, woken 10 times, stopped (tools/guest/selftest.c)"
selftest vhost-basic
echo "### task work that runs on the way back to user mode, and on a blocked thread"
selftest tw-resume
selftest tw-signal
echo "### Tasks RCU callbacks from the module, then barriers"
selftest rcu 1000
echo "### the Rust vhost-test device (samples/rust/rust_vhost_test.rs)"
insmod /modules/rust_vhost_test.ko
ls -l /dev/vhost-test
echo "### tools/virtio/virtio_test against it: 0x100000 buffers, random batches"
time virtio_test --batch=random
echo "### rmmod"
rmmod rust_vhost_test
rmmod rust_vhost_selftest
rmmod rust_vhost_hello
echo "### kernel log"
dmesg | grep -E 'rust_vhost_' || true
if dmesg | grep -E 'Oops|BUG:|WARNING:|Call Trace'; then
	echo "### kernel log is NOT clean"
	exit 1
fi
echo "### kernel log clean; demo done"
