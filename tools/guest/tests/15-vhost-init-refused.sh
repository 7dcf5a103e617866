#!/bin/sh
# Module init may fail, and a failing init frees the module whatever its
# references: a vhost worker (EPERM: it would also be a thread of insmod),
# task work and RCU callbacks (ENODEV) are all refused while it runs.
. /tests/lib.sh
load rust_vhost_selftest
fail=0
for line in 'vhost_task from module init: errno -1' \
	'task_work from module init: errno -19' \
	'rcu_tasks call from module init: errno -19' \
	'rcu_tasks free from module init: errno -19'; do
	if dmesg | grep -q "rust_vhost_selftest: $line\$"; then
		echo "ok: $line"
	else
		echo "FAIL: no '$line' in dmesg"
		fail=1
	fi
done
dmesg | grep 'from module init' || true
exit $fail
