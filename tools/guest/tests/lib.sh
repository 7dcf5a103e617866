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

# vnet_runs LABEL: tools/virtio/vhost_net_test with each of its flags
# against /dev/vhost-net. A run sends its buffers through the tap one way
# (RX) and then the other (TX); both must complete them all. A run that
# does not finish in RVH_VNET_TIMEOUT seconds fails.
vnet_runs() {
	fail=0
	label=$1
	n=0x100000
	flags='"" --no-indirect --no-event-idx --no-virtio-1 --delayed-interrupt "--buf-num 4096"'
	# The debug kernel runs each flag on 16384 buffers.
	if [ "${RVH_SCALE:-}" = full ]; then
		n=0x4000
		flags='"--buf-num 16384" "--no-event-idx --buf-num 16384" "--no-indirect --buf-num 16384"'
	fi
	eval "set -- $flags"
	for f in "$@"; do
		want=$n
		case "$f" in *--buf-num*) want=$(printf '0x%x' "${f##*--buf-num }") ;; esac
		t0=$(cut -d' ' -f1 /proc/uptime)
		# $f is split on purpose: it may hold an option and its value.
		# shellcheck disable=SC2086
		out=$(timeout "${RVH_VNET_TIMEOUT:-300}" vhost_net_test $f 2>&1) && rc=0 || rc=$?
		t1=$(cut -d' ' -f1 /proc/uptime)
		out=$(echo "$out" | tr '\n' ' ')
		echo "$label vhost_net_test ${f:-(no flags)}: rc=$rc $(echo "$t0 $t1" | awk '{printf "%.2f s", $2 - $1}') $out"
		case "$out" in
		*"RX spurious"*"completed=$want "*"TX spurious"*"completed=$want "*) [ $rc = 0 ] || fail=1 ;;
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
