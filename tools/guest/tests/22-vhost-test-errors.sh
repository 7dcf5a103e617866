#!/bin/sh
# Error paths, each with its errno, and bad descriptors (the chains test.c
# consumes and drops, the ones vhost_get_vq_desc() stalls on): first on the
# C device, which shows the expectations are vhost.c's, then on the Rust one.
. /tests/lib.sh
load_both
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	echo "$dev:"
	VHOST_DEV=$dev vhost_client errors || fail=1
	VHOST_DEV=$dev vhost_client chains || fail=1
done
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
