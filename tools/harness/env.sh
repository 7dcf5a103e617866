# Sourced by the harness scripts: paths and toolchain settings.
# shellcheck shell=bash
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${RVH_CACHE:-$HOME/.cache/rust-vhost}
SRC=$CACHE/linux                  # patched source tree (a throwaway git repo)
OBJ=$CACHE/build${RVH_FLAVOUR:+-$RVH_FLAVOUR}   # kernel O= tree
EXT=$OBJ-ext                      # mirror of the repo's external modules
CREF=$OBJ-cref                    # the C reference vhost_test module (M= dir)
OUT=$OBJ-out                      # initramfs, logs, results
DL=$CACHE/dl                      # downloaded Debian packages (kept by `rvh.sh clean`)
# The kernel source: Debian's linux-source-7.3 from trixie-backports, which
# rvh.sh fetches into $DL (tools/harness/fetch-deb.sh); RVH_TARBALL overrides it.
KSRC_PKG=linux-source-7.3
TARBALL=${RVH_TARBALL:-$DL/$KSRC_PKG.tar.xz}
JOBS=${JOBS:-$(nproc)}

# Debian's rustc 1.96 has rust-src; the rustup one does not. bindgen and
# rustfmt come from ~/.cargo/bin.
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH:$CARGO_BIN
# The C side is built with LLVM 19 (LLVM=-19): why not 22, the LLVM that
# rustc 1.96 is built on, is in README.md ("Toolchain"). RVH_LLVM=-22 builds
# with clang-22 instead, for that comparison. bindgen loads the libclang of
# the same version, so that another LLVM on the machine cannot change it.
# RVH_BINDGEN names another bindgen (libclang 22 needs bindgen 0.72.1 or later).
LLVM_V=${RVH_LLVM:--19}
export LIBCLANG_PATH=/usr/lib/llvm$LLVM_V/lib
# The toolchain of every kernel make, whatever its tree and O= directory.
KTOOLS=(LLVM="$LLVM_V" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	BINDGEN="${RVH_BINDGEN:-$CARGO_BIN/bindgen}" RUSTFMT="$CARGO_BIN/rustfmt")
KMAKE=(make -C "$SRC" O="$OBJ" -j"$JOBS" "${KTOOLS[@]}")
# Clippy runs on every build (CLIPPY= turns it off).
CLIPPY=${CLIPPY-1}

# One run at a time on a cache: the harness scripts share its kernel tree
# ($SRC), which a run may reset and patch. The first script takes the lock,
# the scripts it calls inherit it.
if [ -z "${RVH_LOCKED:-}" ]; then
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock -n 9 || { echo "waiting for another run on $CACHE" >&2; flock 9; }
	export RVH_LOCKED=1
fi
