#!/usr/bin/env bash
# The project's harness: build the patched 7.3 kernel and the project's
# modules, pack an initramfs and boot it in QEMU.
#
#   rvh.sh build            install, unpack, patch, configure, kernel, modules, initramfs
#   rvh.sh kernel           the same, up to the kernel
#   rvh.sh configure        the same, up to the .config (checked against the fragments)
#   rvh.sh test             build, compile-fail cases, boot the test suite, parse and count the results
#   rvh.sh run              build, boot the demo (tools/guest/demo.sh)
#   rvh.sh bench            build, boot the micro-benchmarks (tools/guest/bench.sh)
#   rvh.sh guest 'CMD'      build, boot, run CMD in the guest, exit with its status
#   rvh.sh shell            build, boot to an interactive shell
#   rvh.sh kunit-boot       boot the kernel already built in $OBJ with an init that
#                           only powers off: its built-in KUnit suites and doctests
#                           run, the console log is $OUT/kunit-console.log
#   rvh.sh clean            remove the build cache (not the downloaded packages)
#
# Environment: RVH_CACHE (default ~/.cache/rust-vhost), RVH_FLAVOUR (e.g. debug),
# KVM=1, RVH_TIMEOUT (seconds per boot), JOBS, RVH_QEMU_ARGS (extra QEMU arguments),
# RVH_TARBALL (a kernel source tarball to use instead of Debian's linux-source-7.3),
# RVH_PATCHES_SKIP (names in patches/series to leave out), RVH_PATCHES_EXTRA
# (patch files to apply after the series).
set -euo pipefail
. "$(dirname "$0")/env.sh"
# Extra QEMU arguments for every boot (split at spaces), e.g. a -plugin.
read -r -a QEMU_EXTRA <<<"${RVH_QEMU_ARGS:-}"

START=$(date +%s)
PHASES=()
phase() {
	local name=$1 t0
	shift
	t0=$(date +%s.%N)
	echo "==> $name"
	CURRENT=$name
	"$@"
	CURRENT=
	PHASES+=("$(printf '%-10s %7.1fs' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)")")
}
table() {
	echo "---- phases ----"
	printf '%s\n' "${PHASES[@]}"
	[ -z "${CURRENT:-}" ] || echo "$CURRENT     FAILED"
	echo "total      $(($(date +%s) - START))s"
	# `make test` ends with the results line; without one (a failed build,
	# results.py dying), it failed.
	if [ -n "${SUMMARY:-}" ]; then
		local last
		last=$(tail -1 "$SUMMARY" 2>/dev/null) || true
		case "$last" in
		[0-9]*" passed, "[0-9]*" failed") echo "$last" ;;
		*) echo "0 passed, 1 failed" ;;
		esac
	fi
}
trap 'table' EXIT

do_install() { "$REPO/tools/harness/deps.sh"; }

# Pristine Debian source, committed once so that patches and `make patches`
# work on git, and only files that really change get new mtimes. Without
# RVH_TARBALL, the tarball comes from Debian's linux-source-7.3 package
# (trixie-backports), fetched into $DL; the commit names its exact version.
do_unpack() {
	local stamp origin
	if [ -z "${RVH_TARBALL:-}" ]; then
		origin="Debian $KSRC_PKG $("$REPO/tools/harness/fetch-deb.sh" "$DL" "$KSRC_PKG" \
			"usr/src/$KSRC_PKG.tar.xz" "$TARBALL")"
	else
		[ -f "$TARBALL" ] || { echo "error: RVH_TARBALL=$TARBALL: no such file" >&2; return 1; }
		origin="$(basename "$TARBALL")"
	fi
	stamp="$(stat -c '%s %Y' "$TARBALL") $origin"
	if [ -d "$SRC/.git" ] && [ "$(cat "$CACHE/tarball.stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "source: $(make -s -C "$SRC" kernelversion), $(git -C "$SRC" log -1 --format=%s pristine) (cached)"
		return
	fi
	rm -rf "$SRC" "$CACHE/unpack" "$CACHE"/build*
	mkdir -p "$CACHE/unpack"
	tar -C "$CACHE/unpack" -xf "$TARBALL"
	mv "$CACHE/unpack"/linux-* "$SRC"
	rmdir "$CACHE/unpack"
	git -C "$SRC" init -q
	git -C "$SRC" add -A -f .
	git -C "$SRC" -c user.name=rvh -c user.email=rvh@localhost \
		commit -q -m "$origin (kernel $(make -s -C "$SRC" kernelversion))"
	git -C "$SRC" tag -f pristine >/dev/null
	echo "$stamp" >"$CACHE/tarball.stamp"
	echo "source: $(make -s -C "$SRC" kernelversion), $origin"
}

# The patches to apply, in order: patches/series without those named in
# RVH_PATCHES_SKIP, then the files of RVH_PATCHES_EXTRA (for comparisons
# such as tools/dev/binder-check.sh; the next run without them re-patches).
series_files() {
	local p
	for p in ${RVH_PATCHES_SKIP:-}; do
		grep -qx -- "$p" "$REPO/patches/series" ||
			{ echo "error: RVH_PATCHES_SKIP: $p is not in patches/series" >&2; return 1; }
	done
	for p in $(grep -v '^#' "$REPO/patches/series"); do
		case " ${RVH_PATCHES_SKIP:-} " in
		*" $p "*) echo "patch: skipping $p (RVH_PATCHES_SKIP)" >&2 ;;
		*) echo "$REPO/patches/$p" ;;
		esac
	done
	for p in ${RVH_PATCHES_EXTRA:-}; do
		[ -f "$p" ] || { echo "error: RVH_PATCHES_EXTRA: no file $p" >&2; return 1; }
		realpath "$p"
	done
}

# Apply the series to the pristine tree (only when it changed), then link
# the repository's new files into the tree.
do_patch() {
	local sum p f t files
	files=$(series_files)
	# Without RVH_PATCHES_*, the same sum as before they existed.
	sum=$( (cat "$REPO/patches/series"; cat /dev/null $files) | sha1sum)
	if [ "$(cat "$SRC/.rvh-patches" 2>/dev/null)" != "$sum" ]; then
		# No sum while the tree is half-patched: a run killed here re-patches.
		rm -f "$SRC/.rvh-patches"
		git -C "$SRC" reset -q --hard pristine
		for p in $files; do
			echo "patch: ${p#"$REPO"/}"
			git -C "$SRC" apply --index "$p" ||
				{ echo "error: patch $p does not apply" >&2; rm -f "$SRC/.rvh-patches"; return 1; }
		done
		echo "$sum" >"$SRC/.rvh-patches"
	else
		echo "patches: unchanged"
	fi
	# Drop the links of an earlier run (maybe from another clone) that this
	# repository no longer has.
	local now
	now=$(cd "$REPO" && git ls-files -co --exclude-standard rust samples Documentation)
	if [ -f "$SRC/.rvh-links" ]; then
		for f in $(grep -vxF -f <(echo "$now") "$SRC/.rvh-links"); do
			if [ -L "$SRC/$f" ]; then rm -v "$SRC/$f"; fi
		done
	fi
	echo "$now" >"$SRC/.rvh-links"
	for f in $now; do
		t=$SRC/$f
		if [ -e "$t" ] && [ ! -L "$t" ]; then
			echo "error: $f exists upstream; change it with a patch" >&2
			return 1
		fi
		mkdir -p "$(dirname "$t")"
		[ "$(readlink "$t" 2>/dev/null)" = "$REPO/$f" ] || ln -sfn "$REPO/$f" "$t"
	done
}

FRAGMENTS=("$REPO/tools/configs/base.config")
[ -n "${RVH_FLAVOUR:-}" ] && FRAGMENTS+=("$REPO/tools/configs/$RVH_FLAVOUR.config")

do_configure() {
	local sum line sym bad=0
	sum=$( (cat "${FRAGMENTS[@]}" "$SRC/.rvh-patches") | sha1sum)
	if [ -f "$OBJ/.config" ] && [ "$(cat "$OBJ/.rvh-config" 2>/dev/null)" = "$sum" ]; then
		echo "config: unchanged"
		return
	fi
	mkdir -p "$OBJ"
	"${KMAKE[@]}" -s tinyconfig
	(cd "$SRC" && scripts/kconfig/merge_config.sh -m -O "$OBJ" "$OBJ/.config" "${FRAGMENTS[@]}" >/dev/null)
	"${KMAKE[@]}" -s olddefconfig
	# Every option the fragments ask for (the last one to name it wins) must
	# have survived olddefconfig.
	declare -A want=()
	while read -r line; do
		case "$line" in
		CONFIG_*=*) want[${line%%=*}]=$line ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; want[${sym%% *}]=unset ;;
		esac
	done < <(cat "${FRAGMENTS[@]}")
	for sym in "${!want[@]}"; do
		line=${want[$sym]}
		if [ "$line" = unset ]; then
			! grep -q "^$sym=" "$OBJ/.config" || { echo "config: wanted $sym unset" >&2; bad=1; }
		else
			grep -qx -- "$line" "$OBJ/.config" ||
				{ echo "config: wanted $line, got: $(grep "^$sym=" "$OBJ/.config" || echo unset)" >&2; bad=1; }
		fi
	done
	[ $bad = 0 ] || return 1
	echo "$sum" >"$OBJ/.rvh-config"
}

do_kernel() {
	"${KMAKE[@]}" ${CLIPPY:+CLIPPY=1} bzImage modules
	echo "kernel: $(cat "$OBJ/include/config/kernel.release") $(stat -c %s "$OBJ/arch/x86/boot/bzImage") bytes"
}

# The repository's modules, built as external modules (M=) from a mirror
# of symlinks so that no build output lands in the repository.
do_modules() {
	local f
	mkdir -p "$EXT"
	find "$EXT" -type l ! -exec test -e {} \; -delete
	for f in Kbuild $(cd "$REPO" && git ls-files -co --exclude-standard samples | grep -E '\.(rs|c|h)$'); do
		mkdir -p "$EXT/$(dirname "$f")"
		[ "$(readlink "$EXT/$f" 2>/dev/null)" = "$REPO/$f" ] || ln -sfn "$REPO/$f" "$EXT/$f"
	done
	"${KMAKE[@]}" ${CLIPPY:+CLIPPY=1} M="$EXT" modules
	"$REPO/tools/harness/check-builtin.sh" "$OBJ/vmlinux" $(find "$EXT" -name '*.ko')
	# The C reference device, drivers/vhost/test.c, from a mirror as well.
	if grep -q '^CONFIG_VHOST=m' "$OBJ/.config"; then
		mkdir -p "$CREF"
		ln -sfn "$SRC/drivers/vhost/test.c" "$CREF/vhost_test.c"
		echo 'obj-m += vhost_test.o' >"$CREF/Kbuild"
		"${KMAKE[@]}" M="$CREF" KCFLAGS="-I$SRC/drivers/vhost" modules
	fi
	find "$EXT" "$CREF" -name '*.ko' -printf 'module: %P %s bytes\n' 2>/dev/null
}

# Debian's static busybox, the modules, the static guest programs and tests.
do_initramfs() {
	local root=$OUT/root f
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules,tests} "$OUT/bin"
	cp /bin/busybox "$root/bin/busybox"
	install -m 755 "$REPO/tools/guest/init" "$root/init"
	find "$EXT" "$CREF" "$OBJ/drivers/vhost" -name '*.ko' -exec cp {} "$root/modules/" \; 2>/dev/null || true
	make -s -C "$REPO/tools/guest" OUT="$OUT/bin" KSRC="$SRC"
	# The kernel's own vhost-test and vhost-net clients (they build in the
	# cache's tree).
	# make does not relink for other LDFLAGS: a binary built by hand (not
	# static) must not end up in the initramfs.
	rm -f "$SRC/tools/virtio/virtio_test" "$SRC/tools/virtio/vhost_net_test"
	make -s -C "$SRC/tools/virtio" virtio_test vhost_net_test LDFLAGS="-pthread -static" >/dev/null
	cp "$SRC/tools/virtio/virtio_test" "$SRC/tools/virtio/vhost_net_test" "$OUT/bin/"
	cp "$OUT"/bin/* "$root/bin/" 2>/dev/null || true
	cp "$REPO"/tools/guest/tests/* "$REPO"/tools/guest/*.sh "$root/tests/"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initramfs.cpio.gz"
	echo "initramfs: $OUT/initramfs.cpio.gz $(stat -c %s "$OUT/initramfs.cpio.gz") bytes"
}

build_kernel() {
	phase install do_install
	phase unpack do_unpack
	phase patch do_patch
	phase configure do_configure
	phase kernel do_kernel
}

build() {
	build_kernel
	phase modules do_modules
	phase initramfs do_initramfs
}

# tsc_early_khz= for a TCG guest on an x86 host (see tools/harness/tsc-khz.c).
tsc_append() {
	[ "${KVM:-0}" = 1 ] || [ "$(uname -m)" != x86_64 ] && return 0
	local bin=$CACHE/tsc-khz
	[ "$bin" -nt "$REPO/tools/harness/tsc-khz.c" ] ||
		gcc -O2 -o "$bin" "$REPO/tools/harness/tsc-khz.c" || return 0
	echo "tsc_early_khz=$("$bin")"
}

# boot NAME SCRIPT [interactive]: boot with SCRIPT as /rvh/run.sh. The kernel
# console goes to $OUT/NAME-console.log, the script's output to NAME-guest.log.
boot() {
	local name=$1 script=$2 extra=$OUT/$1-extra.cpio.gz rc=0
	local accel=(-accel tcg -cpu max)
	[ "${KVM:-0}" = 1 ] && accel=(-accel kvm -cpu host)
	# Checked by hand: `make test` calls this on the left of `||`.
	mkdir -p "$OUT/extra/rvh" &&
		printf '%s\n' "$script" >"$OUT/extra/rvh/run.sh" &&
		(cd "$OUT/extra" && find . | cpio -o -H newc --quiet | gzip -1) >"$extra" &&
		cat "$OUT/initramfs.cpio.gz" "$extra" >"$OUT/$name-initramfs.cpio.gz" || return 1
	CONSOLE_LOG=$OUT/$name-console.log GUEST_LOG=$OUT/$name-guest.log
	local q=(qemu-system-x86_64 "${accel[@]}" -m "${RVH_MEM:-1024}" -smp "${RVH_SMP:-2}" -no-reboot
		-kernel "$OBJ/arch/x86/boot/bzImage" -initrd "$OUT/$name-initramfs.cpio.gz"
		-append "console=ttyS0 panic=-1 tsc=reliable $(tsc_append) rvh.mode=${3:-batch} ${RVH_APPEND:-}"
		${QEMU_EXTRA[@]+"${QEMU_EXTRA[@]}"})
	if [ "${3:-}" = interactive ]; then
		"${q[@]}" -nographic
		return
	fi
	rm -f "$CONSOLE_LOG" "$GUEST_LOG"
	timeout --foreground -k 5 "${RVH_TIMEOUT:-1200}" "${q[@]}" -display none -monitor none \
		-serial file:"$CONSOLE_LOG" -serial file:"$GUEST_LOG" || rc=$?
	echo "console log: $CONSOLE_LOG"
	echo "guest log:   $GUEST_LOG"
	[ $rc = 124 ] && { echo "error: boot timed out after ${RVH_TIMEOUT:-1200}s" >&2; return 1; }
	grep -q '^RVH-EXIT=' "$GUEST_LOG" || { echo "error: guest did not finish (crash?)" >&2; tail -30 "$CONSOLE_LOG" >&2; return 1; }
	return 0
}

# The builds that must fail (tools/compile-fail/), as the KTAP suite
# compile_fail in $CFAIL_LOG. A case that is not ok is counted by results(),
# and does not stop the run.
do_compile_fail() {
	local rc=0
	"$REPO/tools/harness/compile-fail.sh" "$CFAIL_LOG" >/dev/null || rc=$?
	grep -E '^    (not )?ok ' "$CFAIL_LOG" | sed 's/^ *//' || true
	[ $rc -le 1 ]
}

# rustfmt over the repository's Rust files and the kernel's Rust files that
# the series changes, with the kernel's .rustfmt.toml, as the KTAP suite style
# in $STYLE_LOG (the kernel's `make rustfmtcheck` covers the whole tree). A
# file on the list that is not formatted, an error (a file rustfmt cannot
# parse) or a rustfmt that did not run (xargs: 123 when one rustfmt exited 1,
# with diffs or an error; other statuses when none ran) fails the case.
# rustfmt also checks the modules a file declares: only the list counts.
do_style() {
	local list=$OUT/style.files out bad rc=0
	(cd "$REPO" && git ls-files -co --exclude-standard '*.rs' | sed "s|^|$REPO/|") >"$list"
	git -C "$SRC" diff --name-only pristine -- '*.rs' | sed "s|^|$SRC/|" >>"$list"
	out=$(tr '\n' '\0' <"$list" | xargs -0 -r "$CARGO_BIN/rustfmt" --edition 2021 \
		--config-path "$SRC/.rustfmt.toml" --check -l 2>&1) || rc=$?
	bad=$(printf '%s\n' "$out" | grep -Fx -f "$list" || true)
	{
		printf 'KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: style\n    1..1\n'
		echo "    # rustfmt --check over $(wc -l <"$list") files: status $rc"
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    # /'
		if [ -s "$list" ] && { [ $rc = 0 ] || [ $rc = 123 ]; } && [ -z "$bad" ] &&
			! printf '%s\n' "$out" | grep -q '^error'; then
			echo "    ok 1 rustfmt"
			echo "ok 1 style"
		else
			echo "    not ok 1 rustfmt"
			echo "not ok 1 style"
		fi
	} >"$STYLE_LOG"
	grep -E '^    (not )?ok |^    # ' "$STYLE_LOG" | sed 's/^ *//'
}

results() {
	local rc=0
	python3 "$REPO/tools/harness/results.py" --kunit "$SRC/tools/testing/kunit/kunit.py" \
		--expected "$REPO/tools/harness/expected.txt" --console "$CONSOLE_LOG" \
		$([ "$1" = 1 ] || echo --boot-failed) "$CONSOLE_LOG" "$GUEST_LOG" "$CFAIL_LOG" "$STYLE_LOG" \
		>"$SUMMARY" || rc=$?
	cat "$SUMMARY"
	echo "results: $SUMMARY"
	return $rc
}

guest_status() { sed -n 's/^RVH-EXIT=\([0-9]*\).*/\1/p' "$GUEST_LOG" | tail -1; }

mkdir -p "$CACHE"
cmd=${1:-}
case "$cmd" in
build) build ;;
kernel) build_kernel ;;
test)
	SUMMARY=$OUT/results.txt
	CFAIL_LOG=$OUT/compile-fail.log
	STYLE_LOG=$OUT/style.log
	rm -f "$SUMMARY" "$CFAIL_LOG" "$STYLE_LOG"
	build
	phase style do_style
	phase cfail do_compile_fail
	if [ "${RVH_FLAVOUR:-}" = debug ]; then
		# init/Kconfig: Rust with KASAN needs clang, generic KASAN, and a new
		# enough rustc with RETHUNK; show that they hold and the options are on.
		grep -n 'depends on.*KASAN' "$SRC/init/Kconfig"
		grep -E '^CONFIG_(BUG|DEBUG_BUGVERBOSE|RUST|KASAN|KASAN_GENERIC|CC_IS_CLANG|MITIGATION_RETHUNK|RUSTC_VERSION|DEBUG_KMEMLEAK|PROVE_LOCKING|PROVE_RCU|DEBUG_ATOMIC_SLEEP|DEBUG_OBJECTS_RCU_HEAD|DEBUG_OBJECTS_ENABLE_DEFAULT|DEBUG_OBJECTS_WORK|DEBUG_PREEMPT|DEBUG_LIST|DETECT_HUNG_TASK|DEFAULT_HUNG_TASK_TIMEOUT|SOFTLOCKUP_DETECTOR)=' "$OBJ/.config"
	fi
	# A failed boot (timeout, crash, no RVH-EXIT) must not stop the script
	# before the results that did come are counted, and results.py counts
	# it as a failure. `phase boot boot ... || booted=0` cannot see it:
	# `set -e` is off on the left of `||`, and phase then returns 0. ktap.sh
	# exits 0 or 1; any other status means that it died half-way.
	booted=1
	test_boot() {
		boot "$@" || { booted=0; return 0; }
		case "$(guest_status)" in
		0 | 1) ;;
		*) echo "error: ktap.sh exited with status $(guest_status)" >&2; booted=0 ;;
		esac
	}
	phase boot test_boot test "RVH_FLAVOUR=${RVH_FLAVOUR:-} RVH_SCALE=${RVH_SCALE:-short} RVH_TEST_TIMEOUT=${RVH_TEST_TIMEOUT:-300} sh /tests/ktap.sh"
	[ $booted = 1 ] || PHASES+=("boot       FAILED")
	phase tests results $booted
	;;
run)
	build
	phase boot boot run "sh /tests/demo.sh"
	sed '/^RVH-EXIT=/d' "$GUEST_LOG"
	[ "$(guest_status)" = 0 ]
	;;
bench)
	build
	phase boot boot bench "sh /tests/bench.sh"
	sed '/^RVH-EXIT=/d' "$GUEST_LOG" >"$OUT/bench.txt"
	[ "$(guest_status)" = 0 ]
	# Guest instructions per virtio_test run, counted by a TCG plugin, in a
	# boot of their own: the plugin's inline counters slow kernel code more
	# than user code, which would skew the wall times above. The built-in
	# benchmarks are kept from starting, as they would share the windows, and
	# the guest has one vCPU, so that the plugin's plain adds are exact.
	if [ "${KVM:-0}" != 1 ]; then
		plugin=$("$REPO/tools/bench/plugin.sh" "$CACHE/qemu-plugin" | tail -1)
		rm -f "$OUT/icount.txt"
		QEMU_EXTRA+=(-plugin "$plugin,out=$OUT/icount.txt")
		RVH_SMP=1 RVH_APPEND="${RVH_APPEND:-} initcall_blacklist=__rust_vhost_bench_init" \
			phase count boot count "RVH_BENCH=count sh /tests/bench.sh"
		sed '/^RVH-EXIT=/d' "$GUEST_LOG" >>"$OUT/bench.txt"
		[ "$(guest_status)" = 0 ]
		cat "$OUT/icount.txt" >>"$OUT/bench.txt"
	fi
	grep -v '^\(PRIM\|DEV\|WIN\|MEM\|ALLOC\|RUNS\|BINDER\) ' "$OUT/bench.txt"
	python3 "$REPO/tools/bench/report.py" "$OUT/bench.txt" "$OUT" \
		--base "$REPO/tools/bench/2026-12-07.json" "$EXT" "$CREF" "$OBJ/drivers/vhost"
	echo "raw output: $OUT/bench.txt"
	;;
guest)
	[ $# -ge 2 ] || { echo "usage: rvh.sh guest 'CMD'" >&2; exit 2; }
	# A child shell: `set -e` would not reach into a function called on the
	# left of `||`, and a failed phase must stop the build.
	"$0" build >"$OUT.build.log" 2>&1 || { cat "$OUT.build.log"; exit 1; }
	phase boot boot guest "$2"
	sed '/^RVH-EXIT=/d' "$GUEST_LOG"
	exit "$(guest_status)"
	;;
shell)
	build
	boot shell "" interactive
	;;
kunit-boot)
	# No build: `make patches-check` builds each patch of the series itself.
	root=$OUT/kunit-root
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp}
	cp /bin/busybox "$root/bin/busybox"
	install -m 755 "$REPO/tools/guest/init" "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initramfs.cpio.gz"
	phase boot boot kunit true
	[ "$(guest_status)" = 0 ]
	;;
unpack) phase unpack do_unpack ;;
prepare)
	phase install do_install
	phase unpack do_unpack
	phase patch do_patch
	;;
configure)
	phase install do_install
	phase unpack do_unpack
	phase patch do_patch
	phase configure do_configure
	;;
rustdoc)
	# The kernel crate's docs, mainline's and the project's: any warning
	# fails it (issue 19: 0 warnings), those in the project's files named.
	build_kernel
	# Not through phase: set -e is off on the left of `||`, and phase would
	# return 0 for a make that failed.
	mkdir -p "$OUT"
	"${KMAKE[@]}" rustdoc >"$OUT/rustdoc.log" 2>&1 ||
		{ tail -30 "$OUT/rustdoc.log"; echo "rustdoc: make rustdoc failed" >&2; exit 1; }
	n=$(grep -c '^warning' "$OUT/rustdoc.log" || true)
	echo "rustdoc: $n warnings"
	if [ "$n" != 0 ]; then
		own=$(cd "$REPO" && git ls-files rust | sed 's|^rust/||' | paste -sd'|')
		grep -A3 '^warning' "$OUT/rustdoc.log" | grep -E "($own)" | sed 's/^/rustdoc: the project'"'"'s: /' || true
		echo "rustdoc: see $OUT/rustdoc.log" >&2
		exit 1
	fi
	echo "rustdoc: $OBJ/Documentation/output/rust/rustdoc/kernel/index.html"
	;;
rust-analyzer)
	# rust-project.json for the kernel crate and the samples (built in-tree
	# too), with paths that point into this repository, not at the symlinks.
	build
	"${KMAKE[@]}" rust-analyzer >/dev/null
	python3 - "$OBJ/rust-project.json" "$REPO/rust-project.json" <<-'PY'
	import json, os, sys
	proj = json.load(open(sys.argv[1]))
	for c in proj["crates"]:
	    c["root_module"] = os.path.realpath(c["root_module"])
	json.dump(proj, open(sys.argv[2], "w"), indent=1)
	ours = [c["display_name"] for c in proj["crates"] if "rust_vhost" in c["display_name"]]
	print(f"rust-analyzer: {sys.argv[2]}: {len(proj['crates'])} crates, samples: {ours}")
	PY
	;;
clean)
	# The downloaded packages ($DL) stay: they are the same for every build.
	trap - EXIT
	find "$CACHE" -mindepth 1 -maxdepth 1 ! -path "$DL" -exec rm -rf {} +
	;;
*)
	sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'
	exit 2
	;;
esac
