#!/usr/bin/env bash
# `make real-deb`: the real-hardware path, walked once in QEMU.
#   1. Debian's own 7.3 amd64 config plus the project (real-config.sh), with
#      DWARF debug info off: it would double the build and add a -dbg
#      package of about a gigabyte, and nothing here reads it.
#   2. The patched tree built into Debian packages with the kernel's own
#      `bindeb-pkg`, timed. The packages land in <cache>/real-debs.
#   3. The packaged kernel booted in QEMU from the linux-image package, the
#      sample loaded from the module tree that package installs, and the
#      kernel's virtio_test run against it (tools/guest/real.sh).
# RVH_REAL_BOOT_ONLY=1 skips 1 and 2 and boots the packages already built.
set -euo pipefail
. "$(dirname "$0")/env.sh"
RO=$CACHE/build-real
DEBS=$CACHE/real-debs
WORK=$CACHE/real-out
KM=(make -C "$SRC" O="$RO" -j"$JOBS" "${KTOOLS[@]}")

if [ -z "${RVH_REAL_BOOT_ONLY:-}" ]; then
	# bindeb-pkg runs dpkg-buildpackage, which checks the Build-Depends of
	# the generated debian/control; its debian/rules uses debhelper.
	for p in dpkg-dev debhelper rsync libdw-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
			[ "$(id -u)" = 0 ] || SUDO=sudo
			${SUDO:-} apt-get install -y -q --no-install-recommends "$p"
		}
	done
	"$REPO/tools/harness/real-config.sh"
	"$SRC/scripts/config" --file "$RO/.config" -d DEBUG_INFO \
		-d DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT -d DEBUG_INFO_DWARF4 \
		-d DEBUG_INFO_DWARF5 -e DEBUG_INFO_NONE
	"${KM[@]}" -s olddefconfig
	grep -q '^CONFIG_DEBUG_INFO_NONE=y$' "$RO/.config" ||
		{ echo "real-deb: DEBUG_INFO is still on" >&2; exit 1; }
	rm -rf "$DEBS"
	mkdir -p "$DEBS"
	rm -f "$CACHE"/*.deb "$CACHE"/*.buildinfo "$CACHE"/*.changes
	t0=$(date +%s)
	echo "real-deb: bindeb-pkg of $(grep -c '=[ym]$' "$RO/.config") options, log in $RO/bindeb.log"
	"${KM[@]}" bindeb-pkg >"$RO/bindeb.log" 2>&1 ||
		{ tail -40 "$RO/bindeb.log"; echo "real-deb: bindeb-pkg failed" >&2; exit 1; }
	echo "real-deb: bindeb-pkg took $(($(date +%s) - t0)) s"
	# bindeb-pkg writes next to the O= directory.
	mv "$CACHE"/*.deb "$CACHE"/*.buildinfo "$CACHE"/*.changes "$DEBS/"
	# What the packages were built from, for a later boot-only run.
	git -C "$REPO" rev-parse HEAD >"$DEBS/repo-commit"
	cp "$SRC/.rvh-patches" "$DEBS/patches" 2>/dev/null || true
fi
krel=$(cat "$RO/include/config/kernel.release")
echo "real-deb: packages built from repository commit $(cat "$DEBS/repo-commit" 2>/dev/null || echo unknown) (now $(git -C "$REPO" rev-parse --short HEAD))"
ls -l "$DEBS"/*.deb | awk '{ printf "real-deb: package %s %d MiB\n", $NF, $5 / 1048576 }'
img=$(ls "$DEBS"/linux-image-"$krel"_*.deb | grep -v -- -dbg_)

# The guest: the package's kernel and module tree, Debian's busybox, the
# static virtio_test, and the project's guest init with tools/guest/real.sh.
rm -rf "$WORK"
mkdir -p "$WORK/pkg" "$WORK/root"/{bin,dev,proc,sys,tmp,rvh}
dpkg-deb -x "$img" "$WORK/pkg"
ko=$(cd "$WORK/pkg" && find "lib/modules/$krel" -name 'rust_vhost_test.ko*')
[ -n "$ko" ] || { echo "real-deb: no rust_vhost_test module in $img" >&2; exit 1; }
mkdir -p "$WORK/root/$(dirname "$ko")"
cp "$WORK/pkg/$ko" "$WORK/root/$ko"
cp /bin/busybox "$WORK/root/bin/"
make -s -C "$SRC/tools/virtio" virtio_test LDFLAGS="-pthread -static" >/dev/null
cp "$SRC/tools/virtio/virtio_test" "$WORK/root/bin/"
install -m 755 "$REPO/tools/guest/init" "$WORK/root/init"
printf 'sh /rvh/real.sh %s\n' "/$ko" >"$WORK/root/rvh/run.sh"
cp "$REPO/tools/guest/real.sh" "$WORK/root/rvh/"
(cd "$WORK/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.cpio.gz"
echo "real-deb: booting $(basename "$img") in QEMU (TCG), sample /$ko"
rc=0
timeout --foreground -k 5 "${RVH_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -cpu max \
	-m 2048 -smp 2 -no-reboot -display none -monitor none \
	-kernel "$WORK/pkg/boot/vmlinuz-$krel" -initrd "$WORK/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 tsc=reliable" \
	-serial file:"$WORK/console.log" -serial file:"$WORK/guest.log" || rc=$?
cat "$WORK/guest.log" 2>/dev/null || true
[ $rc = 0 ] || { echo "real-deb: QEMU exited with $rc" >&2; tail -30 "$WORK/console.log" >&2; exit 1; }
# The guest writes through a serial tty: lines end in \r\n.
tr -d '\r' <"$WORK/guest.log" | grep -qx 'RVH-EXIT=0' ||
	{ echo "real-deb: FAIL (console: $WORK/console.log)" >&2; exit 1; }
echo "real-deb: ok: $krel from $(basename "$img"), virtio_test passed against its rust_vhost_test"
