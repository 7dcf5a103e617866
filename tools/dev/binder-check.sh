#!/usr/bin/env bash
# Rust Binder with and without patches/0012 (its deferred close on
# kernel::task_work), and with that close broken in two ways: in each kernel,
# binder_fda's checks (tools/guest/tests/32-binder-fda.sh) and its close-path
# bench. The test must pass on the unpatched and the converted Binder, and
# fail on both mutants (tools/dev/mutants/); the bench compares the first
# two, one boot each, with the spread of its rounds as the noise figure, and
# in a second boot of each with one vCPU and the TCG plugin of make bench
# (tools/bench/icount.c): the kernel instructions and locked instructions
# of 1000 such transactions, which do not move with the host's load.
# Four builds of the test kernel (<cache>/build) and six boots; the last
# one is of the series as it is, so the cache is left as `make test` wants it.
set -euo pipefail
. "$(dirname "$0")/../harness/env.sh"
# Each check sets these itself; inherited ones would reach every build.
unset RVH_PATCHES_SKIP RVH_PATCHES_EXTRA
P=0012-rust_binder-use-kernel-task_work-for-deferred-close.patch
M=$REPO/tools/dev/mutants
LOGS=$CACHE/binder-check
ROUNDS=${RVH_BINDER_ROUNDS:-5}
mkdir -p "$LOGS"
PLUGIN=$("$REPO/tools/bench/plugin.sh" "$CACHE/qemu-plugin" | tail -1)
grep -qx "$P" "$REPO/patches/series" || { echo "binder-check: $P is not in patches/series" >&2; exit 1; }

bad=0
table=()
# check NAME WANT BENCH [VAR=VALUE...]: boot the test kernel built with the
# settings, run binder_fda (and its bench if BENCH=1), WANT pass or fail.
check() {
	local name=$1 want=$2 bench=$3 log=$LOGS/$1.log rc=0 got res
	shift 3
	local cmd="sh /tests/32-binder-fda.sh; echo BINDER-TEST=\$?"
	[ "$bench" = 1 ] && cmd="$cmd; binder_fda bench $ROUNDS 2000 16"
	echo "binder-check: $name ($*)"
	env "$@" "$REPO/tools/harness/rvh.sh" guest "$cmd" >"$log" 2>&1 || rc=$?
	res=$(sed -n 's/^BINDER-TEST=\([0-9]*\).*/\1/p' "$log" | tail -1)
	case "$res" in
	0) got=pass ;;
	# A mutant must fail where it breaks the close, not anywhere else.
	1) if grep -q 'not at EOF: its write end was not released' "$log"; then
		got=fail
	   else
		got="fail for another reason"
	   fi ;;
	*) got="no result (build or boot failed, rvh.sh $rc): $log" ;;
	esac
	[ "$got" = "$want" ] || { got="$got, WRONG: want $want"; bad=1; }
	local why bench_out= nb
	why=$(grep -m1 '^FAIL' "$log" | tr -d '\r' || true)
	if [ "$bench" = 1 ]; then
		# The guest's status is the bench's; it must have run every round.
		nb=$(grep -c '^BINDER close' "$log" || true)
		if [ "$rc" != 0 ] || [ "$nb" != "$ROUNDS" ]; then
			got="$got, bench FAILED ($nb of $ROUNDS rounds, rvh.sh $rc)"
			bad=1
		fi
		bench_out=$(tr -d '\r' <"$log" | awk '$1 == "BINDER" { print $10 }' | sort -n |
			awk '{ m[++n] = $1 } END { if (!n) print "no bench result";
			      else printf "%d ns, median of %d rounds (%d-%d)", m[int((n + 1) / 2)], n, m[1], m[n] }')
	fi
	if [ "$bench" = 1 ]; then
		# The counted boot: same build, so no rebuild.
		rm -f "$LOGS/$name.icount"
		env "$@" RVH_SMP=1 RVH_QEMU_ARGS="-plugin $PLUGIN,out=$LOGS/$name.icount" \
			"$REPO/tools/harness/rvh.sh" guest \
			"mark start; binder_fda bench 1 1000 16; s=\$?; mark stop; exit \$s" \
			>"$LOGS/$name-count.log" 2>&1 || { got="$got, counted run FAILED"; bad=1; }
		bench_out="$bench_out; $(awk '$1 == "ICOUNT" && $2 == 0 { k = $3 } $1 == "ICLOCK" && $2 == 0 { l = $3 }
			END { if (k == "") print "no count"; else printf "%d kernel insns, %.1f locked per transaction", k / 1000, l / 1000 }' \
			"$LOGS/$name.icount" 2>/dev/null || echo "no count")"
	fi
	table+=("$(printf '  %-22s %-6s %s' "$name" "$got" "$bench_out${bench_out:+${why:+; }}$why")")
}

check unpatched pass 1 RVH_PATCHES_SKIP="$P"
check mutant-never-release fail 0 RVH_PATCHES_EXTRA="$M/binder-never-release.patch"
check mutant-notify-none fail 0 RVH_PATCHES_EXTRA="$M/binder-notify-none.patch"
check converted pass 1
echo "binder-check: binder_fda, and the close path of a BC_FREE_BUFFER of 16 fds (logs: $LOGS)"
printf '%s\n' "${table[@]}"
[ $bad = 0 ] && echo "binder-check: ok" || { echo "binder-check: FAILED" >&2; exit 1; }
