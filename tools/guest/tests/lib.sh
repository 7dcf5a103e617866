# Sourced by the guest tests.
set -e
load() {
	# The Rust device takes the C device's node name unless told otherwise.
	[ "$1" != rust_vhost_test ] || ! grep -q "^vhost_test " /proc/modules || rmmod vhost_test
	grep -q "^$1 " /proc/modules || insmod "/modules/$1.ko"
}

# since T0: the seconds since T0, a first field of /proc/uptime.
since() {
	awk -v t0="$1" '{ printf "%.2f s", $1 - t0 }' /proc/uptime
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
		echo "$label virtio_test ${f:-(no flags)}: rc=$rc $(since "$t0") $out"
		case "$out" in
		*completed=0x100000*) [ $rc = 0 ] || fail=1 ;;
		*) fail=1 ;;
		esac
	done
	return $fail
}

# vnet_runs LABEL: tools/virtio/vhost_net_test against /dev/vhost-net, with
# no flags (0x100000 buffers each way) and with each of its flags. A run
# sends its buffers through the tap one way (RX) and then the other (TX),
# one at a time; both must complete them all, within 120 s. What it checks
# is little: it reads the bytes of received frames of its own type only
# (so IPv6 is kept off the tap, whose own frames would fill RX buffers
# unchecked), and binds no call eventfd. The Rust device's own tests will
# compare every byte.
vnet_runs() {
	fail=0
	label=$1
	for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
		[ ! -e "$f" ] || echo 1 >"$f"
	done
	n=0x100000
	flags='"" "--no-indirect --buf-num 262144" "--no-event-idx --buf-num 262144" "--delayed-interrupt --buf-num 262144" "--buf-num 4096"'
	if [ "${RVH_SCALE:-}" = full ]; then
		n=0x4000
		flags='"--buf-num 16384" "--no-event-idx --buf-num 16384"'
	fi
	eval "set -- $flags"
	for f in "$@"; do
		want=$n
		case "$f" in *--buf-num*) want=$(printf '0x%x' "${f##*--buf-num }") ;; esac
		t0=$(cut -d' ' -f1 /proc/uptime)
		# $f is split on purpose: it may hold an option and its value.
		# shellcheck disable=SC2086
		out=$(timeout 120 vhost_net_test $f 2>&1) && rc=0 || rc=$?
		took=$(since "$t0")
		out=$(echo "$out" | tr '\n' ' ')
		echo "$label vhost_net_test ${f:-(no flags)}: rc=$rc $took $out"
		case "$out" in
		*"RX spurious"*"completed=$want "*"TX spurious"*"completed=$want "*) [ $rc = 0 ] || fail=1 ;;
		*) fail=1 ;;
		esac
	done
	# --no-virtio-1 never completes, against C either: vhost_net_test sets
	# the tap's vnet header to 12 bytes whatever the features, while
	# vhost_net without VERSION_1 and MRG_RXBUF offers 10 for it. Each
	# packet is 2 bytes longer than what vhost_net reads it into, recvmsg
	# fails, vhost_net drops it ("Discarded rx packet"), and the test waits
	# for its first buffer forever. The run must end as it does against C:
	# still running after 20 s, killed by the timeout (status 143). Its
	# output is a pipe, fully buffered: what it printed is lost with it.
	out=$(timeout 20 vhost_net_test --no-virtio-1 --buf-num 1000 2>&1) && rc=0 || rc=$?
	echo "$label vhost_net_test --no-virtio-1 --buf-num 1000: rc=$rc, as C: rc=143, killed after 20 s $out"
	case "$rc/$out" in
	143/*spurious*) fail=1 ;;
	143/*) ;;
	*) fail=1 ;;
	esac
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
