#!/bin/sh
# A worker stuck in a pass on a used ring page that userfaultfd serves late
# or never (tools/guest/vhost_uffd.c): Tasks Trace grace periods, stopping
# the backend, config changes and flushes while it is stuck, on the C device
# (which shows the expectations are right) and on the Rust device, in one
# boot. Then the control made wrong on purpose must fail.
. /tests/lib.sh
load_both
load rust_vhost_selftest
fail=0
for dev in /dev/vhost-test /dev/vhost-test-rust; do
	echo "$dev:"
	for c in control trace-stall stop-retry config-wait config-stop features-stopped flush-spin; do
		VHOST_DEV=$dev vhost_uffd $c || fail=1
	done
done
# A page never served: the control must catch it.
out=$(VHOST_UFFD_BREAK=noserve vhost_uffd control 2>&1) && rc=0 || rc=$?
line=$(echo "$out" | grep -m1 '^FAIL') || true
if [ $rc != 1 ] || [ -z "$line" ]; then
	echo "broken expectation 'noserve' was not caught (rc=$rc)"; fail=1
else
	echo "broken expectation 'noserve' caught: $line"
fi
rmmod rust_vhost_test
rmmod vhost_test
exit $fail
