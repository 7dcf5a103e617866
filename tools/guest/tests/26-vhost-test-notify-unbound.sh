#!/bin/sh
# The call eventfd unbound for a batch, then bound again: vhost.c skips
# vhost_notify() without one, so with EVENT_IDX signalled_used stays behind
# and the next decision covers the buffers used meanwhile. The C device shows
# the expectation is right; the Rust device must do the same.
. /tests/lib.sh
load_both
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	[ -c $dev ] || { echo "no $dev"; exit 1; }
	echo "$dev:"
	VHOST_DEV=$dev vhost_client notify-unbound || fail=1
done
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
