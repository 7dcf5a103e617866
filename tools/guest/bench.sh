#!/bin/sh
# `make bench`: the Rust API and device against C, in one boot. Prints PRIM,
# DEV, MEM and ALLOC lines for tools/bench/report.py; nothing is asserted.
# With RVH_BENCH=count, in the boot with the instruction-counting plugin
# (tools/bench/icount.c), it only runs virtio_test once per case and device
# (five times for --batch=random), each in a window of the plugin, and
# prints a WIN line for each.
set -e
part=${RVH_BENCH:-all}
rounds=${RVH_ROUNDS:-5}
[ "$part" = count ] && rounds=1
# ns/op figures need the TSC: without a reference timer, TSC calibration
# under TCG sometimes fails and the kernel falls back to jiffies.
if [ "$part" = all ]; then
echo "CLOCK $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "### primitives (rust_vhost_bench, kernel log)"
# The benchmarks run in a kernel thread, which prints "done" at the end: the
# built-in one (make bench's kernel) first, then the module's.
bench_wait() {
	i=0
	until [ "$(dmesg | grep -c 'rust_vhost_bench: done')" -ge "$1" ]; do
		i=$((i + 1))
		[ $i -lt 1800 ] || { echo "rust_vhost_bench did not finish"; exit 1; }
		sleep 1
	done
}
n=0
# Built in: its symbols are the kernel's, not a module's (busybox has no pgrep).
if grep -q ' [tT] .*rust_vhost_bench[^[]*$' /proc/kallsyms; then
	n=1
	bench_wait $n
fi
insmod /modules/rust_vhost_bench.ko
bench_wait $((n + 1))
rmmod rust_vhost_bench
dmesg | sed -n 's/.*rust_vhost_bench: //p'
insmod /modules/rust_vhost_selftest.ko
selftest vhost-ping-cmp "${RVH_PING:-20000}"
rmmod rust_vhost_selftest
# Rust Binder's close path, which queues one kernel::task_work item per fd
# (patches/0012): not against C, as a kernel has one Binder; the same
# program in the kernel without that patch is tools/dev/binder-check.sh.
echo "### Binder close path (binder_fda bench)"
binder_fda bench 5 2000 16
fi

echo "### device: virtio_test, C vhost_test against rust_vhost_test"
insmod /modules/vhost_iotlb.ko
insmod /modules/vhost.ko
insmod /modules/vhost_test.ko
insmod /modules/rust_vhost_test.ko name=vhost-test-rust
# virtio_test opens /dev/vhost-test: bind the Rust node over it for its runs.
run() { # DEV CASE ROUND FLAGS...
	dev=$1 case=$2 round=$3
	shift 3
	[ "$dev" = rust ] && mount -o bind /dev/vhost-test-rust /dev/vhost-test
	if [ "$part" = count ]; then
		# Window $runs of the plugin.
		mark start
		virtio_test "$@" >/dev/null || { echo "virtio_test failed: $case $dev"; exit 1; }
		mark stop
		[ "$dev" = rust ] && umount /dev/vhost-test
		echo "WIN $runs $case $dev"
		runs=$((runs + 1))
		return
	fi
	out=$( { time -p virtio_test "$@"; } 2>&1) || echo "virtio_test failed: $out"
	[ "$dev" = rust ] && umount /dev/vhost-test
	real=$(echo "$out" | awk '/^real/ {print $2}')
	sys=$(echo "$out" | awk '/^sys/ {print $2}')
	sp=$(echo "$out" | sed -n 's/.*spurious wakeups: \(0x[0-9a-f]*\).*/\1/p')
	echo "DEV $case $dev $round real $real sys $sys spurious $sp"
	runs=$((runs + 1))
}
if [ "$part" = count ] && dmesg | grep -q 'rust_vhost_bench:'; then
	echo "the built-in benchmarks ran: they would share the windows"
	exit 1
fi
runs=0
k=0
for c in default no-event-idx no-indirect batch-random delayed-interrupt; do
	case $c in
	default) f= ;;
	batch-random) f=--batch=random ;;
	*) f=--$c ;;
	esac
	# In the counted boot every case runs once, but for --batch=random: how
	# many buffers each pass of the worker finds depends on how the
	# scheduler interleaves it with virtio_test, so its instructions per
	# buffer move from run to run, and one run of each device says little.
	n=$rounds
	[ "$part" = count ] && [ $c = batch-random ] && n=5
	i=1
	while [ $i -le "$n" ]; do
		# Alternate which device goes first, from round to round and case
		# to case.
		if [ $(((i + k) % 2)) = 1 ]; then
			run c $c $i $f; run rust $c $i $f
		else
			run rust $c $i $f; run c $c $i $f
		fi
		i=$((i + 1))
	done
	k=$((k + 1))
done

[ "$part" = count ] && exit 0
echo "### kernel memory per open, owned, running device (64 at once)"
mem() { awk '/^(Slab|KernelStack|PageTables):/ {s += $2} END {print s}' /proc/meminfo; }
for dev in c rust; do
	node=/dev/vhost-test
	[ "$dev" = rust ] && node=/dev/vhost-test-rust
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	rm -f /tmp/hold
	sleep 2
	before=$(mem)
	VHOST_DEV=$node vhost_client hold 64 >/tmp/hold &
	pid=$!
	while ! grep -q ready /tmp/hold; do sleep 0.2; done
	after=$(mem)
	kill $pid; wait $pid 2>/dev/null || true
	echo "MEM $dev $(( (after - before) * 1024 / 64 ))"
done

rmmod rust_vhost_test
dmesg | sed -n 's/.*rust_vhost_test: \([0-9]*\) buffers used, \([0-9]*\) allocations.*/ALLOC \1 \2/p' | tail -1
echo "RUNS $((runs / 2))"
rmmod vhost_test
