#!/usr/bin/env bash
# Install what the build and the guest need, and only what is missing.
# Debian 12 packages from apt, bindgen-cli from crates.io. The kernel source
# is not among them: Debian 12 has no 7.3, and rvh.sh fetches trixie-backports'
# linux-source-7.3 itself (tools/harness/fetch-deb.sh).
set -euo pipefail

PKGS="rustc-web rust-web-src rust-web-clippy clang-19 lld-19
llvm-19 libclang-19-dev flex bison bc libelf-dev libssl-dev cpio kmod
busybox-static qemu-system-x86 python3 make gcc xz-utils git gnuplot-nox python3-ply python3-git
debian-archive-keyring"
BINDGEN_VERSION=0.71.1
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

if ! "$CARGO_BIN/bindgen" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	command -v cargo >/dev/null || { echo "deps: cargo not found (need rustup's cargo)" >&2; exit 1; }
	echo "deps: installing bindgen-cli $BINDGEN_VERSION"
	LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo install --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

# rustfmt for rustfmtcheck comes from rustup (Debian's is too old).
[ -x "$CARGO_BIN/rustfmt" ] || echo "deps: warning: no rustfmt in $CARGO_BIN" >&2
echo "deps: ok"
