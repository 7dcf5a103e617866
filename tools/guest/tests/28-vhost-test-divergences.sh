#!/bin/sh
# Where the Rust device parts from vhost.c and test.c (vhost_client
# divergences): each case on the C device, which shows that its expectation
# is what C does, then on the Rust device, in one boot.
. /tests/lib.sh
load_both
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	echo "$dev:"
	VHOST_DEV=$dev vhost_client divergences || fail=1
done
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
