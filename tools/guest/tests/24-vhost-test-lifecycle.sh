#!/bin/sh
# rmmod is refused while a device fd is open and works once it is closed;
# the name parameter lets the Rust device sit next to the C one.
. /tests/lib.sh
load rust_vhost_test
exec 3<>/dev/vhost-test
if rmmod rust_vhost_test 2>/dev/null; then
	echo "rmmod succeeded with an open fd"; exit 1
fi
exec 3>&-
rmmod rust_vhost_test
load vhost_iotlb
load vhost
load vhost_test
insmod /modules/rust_vhost_test.ko name=vhost-test-rust
for d in /dev/vhost-test /dev/vhost-test-rust; do
	[ -c $d ] || { echo "no device node $d"; exit 1; }
done
# The renamed node is the Rust device.
VHOST_DEV=/dev/vhost-test-rust vhost_client two-procs
rmmod rust_vhost_test
rmmod vhost_test
dmesg | grep -q 'rust_vhost_test: /dev/vhost-test-rust registered'
