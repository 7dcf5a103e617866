#!/bin/sh
# Run every guest test in /tests/[0-9]*.sh and report them as KTAP, so the
# host parses them with kunit.py like the in-kernel suites. A test passes
# when it exits 0, and is skipped when it exits 77; its output is kept as
# "# " diagnostic lines. A test killed by RVH_TEST_TIMEOUT (status 137) or by
# a crash fails. Exits 0 when every test passed, 1 when one did not: the
# harness takes any other status as this script dying half-way.
tests=$(ls /tests/[0-9]*.sh)
echo "KTAP version 1"
echo "1..1"
echo "    KTAP version 1"
echo "    # Subtest: guest"
echo "    1..$(echo "$tests" | wc -l)"
n=0
fail=0
for t in $tests; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout -s KILL "${RVH_TEST_TIMEOUT:-300}" sh "$t" >/tmp/out 2>&1
	rc=$?
	sed 's/^/    # /' /tmp/out
	echo "    # $name took $(echo "$t0 $(cut -d' ' -f1 /proc/uptime)" | awk '{printf "%.1f", $2 - $1}') s"
	if [ $rc = 0 ]; then
		echo "    ok $n $name"
	elif [ $rc = 77 ]; then
		echo "    ok $n $name # SKIP"
	else
		echo "    # $name: exit status $rc$([ $rc != 137 ] || echo " (killed: timeout after ${RVH_TEST_TIMEOUT:-300} s?)")"
		echo "    not ok $n $name"
		fail=1
	fi
done
[ $fail = 0 ] && echo "ok 1 guest" || echo "not ok 1 guest"
exit $fail
