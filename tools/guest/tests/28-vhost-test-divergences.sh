#!/bin/sh
# Where the Rust device parts from vhost.c and test.c (vhost_client
# divergences): each case on the C device, which shows that its expectation
# is what C does, then on the Rust device, in one boot.
. /tests/lib.sh
load vhost_iotlb
load vhost
load vhost_test
grep -q "^rust_vhost_test " /proc/modules && rmmod rust_vhost_test
insmod /modules/rust_vhost_test.ko name=vhost-test-rust
[ -c /dev/vhost-test ] || { echo "no /dev/vhost-test"; exit 1; }
[ -c /dev/vhost-test-rust ] || { echo "no /dev/vhost-test-rust"; exit 1; }
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	echo "$dev:"
	VHOST_DEV=$dev vhost_client divergences || fail=1
done
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
