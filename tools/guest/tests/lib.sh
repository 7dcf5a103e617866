# Sourced by the guest tests.
set -e
load() {
	# The Rust device takes the C device's node name unless told otherwise.
	[ "$1" != rust_vhost_test ] || ! grep -q "^vhost_test " /proc/modules || rmmod vhost_test
	grep -q "^$1 " /proc/modules || insmod "/modules/$1.ko"
}

# virtio_runs LABEL: virtio_test with each of its flags against
# /dev/vhost-test; every run must complete 0x100000 buffers.
virtio_runs() {
	fail=0
	flags='"" --no-indirect --no-event-idx --no-virtio-1 --delayed-interrupt --batch=32 --batch=random --reset --reset=3'
	label=$1
	# Under KASAN and lockdep on TCG a run takes about 6 minutes: the debug
	# kernel (RVH_SCALE=full, make test-debug) runs three of the nine on
	# the Rust device, and only the first on the C reference, whose code
	# the debug kernel is not there to check.
	if [ "${RVH_SCALE:-}" = full ]; then
		flags='"" --no-event-idx --reset=3'
		[ "$label" = C ] && flags='""'
	fi
	eval "set -- $flags"
	for f in "$@"; do
		t0=$(cut -d' ' -f1 /proc/uptime)
		out=$(virtio_test $f 2>&1) && rc=0 || rc=$?
		t1=$(cut -d' ' -f1 /proc/uptime)
		echo "$label virtio_test ${f:-(no flags)}: rc=$rc $(echo "$t0 $t1" | awk '{printf "%.2f s", $2 - $1}') $out"
		case "$out" in
		*completed=0x100000*) [ $rc = 0 ] || fail=1 ;;
		*) fail=1 ;;
		esac
	done
	return $fail
}

# load_both: the C device on /dev/vhost-test and the Rust one on
# /dev/vhost-test-rust, in one boot. An earlier test may have left the Rust
# device on /dev/vhost-test, which the C device's registration needs.
load_both() {
	! grep -q "^rust_vhost_test " /proc/modules || rmmod rust_vhost_test
	load vhost_iotlb
	load vhost
	load vhost_test
	insmod /modules/rust_vhost_test.ko name=vhost-test-rust
	[ -c /dev/vhost-test ] || { echo "no /dev/vhost-test"; return 1; }
	[ -c /dev/vhost-test-rust ] || { echo "no /dev/vhost-test-rust"; return 1; }
}
