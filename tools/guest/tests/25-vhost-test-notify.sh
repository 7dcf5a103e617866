#!/bin/sh
# Every used element and every call eventfd signal, batch by batch, with and
# without EVENT_IDX and NOTIFY_ON_EMPTY, against vhost.c's rules: on the C
# device (which shows the expectations are right) and on the Rust device, in
# one boot. Then each expectation made wrong on purpose must fail.
. /tests/lib.sh
load_both
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	echo "$dev:"
	VHOST_DEV=$dev vhost_client notify || fail=1
	VHOST_DEV=$dev vhost_client chains || fail=1
done
# A wrong expectation must be caught: exit status 1 and a FAIL line.
for b in id len signal nosignal; do
	out=$(VHOST_CLIENT_BREAK=$b vhost_client notify 2>&1) && rc=0 || rc=$?
	line=$(echo "$out" | grep -m1 '^FAIL') || true
	if [ $rc != 1 ] || [ -z "$line" ]; then
		echo "broken expectation '$b' was not caught (rc=$rc)"; fail=1
	else
		echo "broken expectation '$b' caught: $line"
	fi
done
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
