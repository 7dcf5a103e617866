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
# Names the misc core cannot make a node of are refused with EINVAL.
for n in "" . .. a/b; do
	if insmod /modules/rust_vhost_test.ko "name=$n" 2>/tmp/insmod.err; then
		echo "FAIL: name='$n' was taken"; exit 1
	fi
	grep -q 'Invalid argument' /tmp/insmod.err ||
		{ echo "FAIL: name='$n': $(cat /tmp/insmod.err)"; exit 1; }
done
echo "name= '', '.', '..' and 'a/b' refused with EINVAL"
insmod /modules/rust_vhost_test.ko name=vhost-test-rust
for d in /dev/vhost-test /dev/vhost-test-rust; do
	[ -c $d ] || { echo "no device node $d"; exit 1; }
done
# The renamed node is the Rust device.
VHOST_DEV=/dev/vhost-test-rust vhost_client two-procs
rmmod rust_vhost_test
rmmod vhost_test
dmesg | grep -q 'rust_vhost_test: /dev/vhost-test-rust registered'
