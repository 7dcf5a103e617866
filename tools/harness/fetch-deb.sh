#!/usr/bin/env bash
# fetch-deb.sh DIR PACKAGE MEMBER DEST: the newest PACKAGE of trixie-backports,
# downloaded with a private apt state (tools/harness/apt-private.sh) into
# DIR/debs and checked against the archive's SHA256, and its file MEMBER
# (a path inside the package, e.g. usr/src/linux-source-7.3.tar.xz) extracted
# to DEST. DEST.version gets the package's Debian version, which is printed.
# A download or extraction that is already there is not done again.
set -euo pipefail
[ $# = 4 ] || { echo "usage: fetch-deb.sh DIR PACKAGE MEMBER DEST" >&2; exit 2; }
dir=$1 pkg=$2 member=${3#./} dest=$4
suite=${RVH_DEB_SUITE:-"deb http://deb.debian.org/debian trixie-backports main"}
apt=$(cd "$(dirname "$0")" && pwd)/apt-private.sh
mkdir -p "$dir/debs" "$(dirname "$dest")"

# 'URI' FILE SIZE SHA256:HASH, for the version apt would install.
read -r _ file size hash < <("$apt" "$dir/apt" "$suite" -- download --print-uris "$pkg" | grep "^'")
[ -n "${hash:-}" ] || { echo "fetch-deb: $pkg not found in: $suite" >&2; exit 1; }
hash=${hash#SHA256:}
deb=$dir/debs/$file
if [ ! -f "$deb" ] || [ "$(stat -c %s "$deb")" != "$size" ] ||
	[ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$hash" ]; then
	echo "fetch-deb: downloading $file ($((size / 1048576)) MiB)" >&2
	rm -f "$deb"
	(cd "$dir/debs" && "$apt" "$dir/apt" "$suite" -- download "$pkg" >/dev/null)
	[ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$hash" ] ||
		{ echo "fetch-deb: $file: SHA256 mismatch" >&2; rm -f "$deb"; exit 1; }
fi
version=$(dpkg-deb -f "$deb" Version)
if [ ! -f "$dest" ] || [ "$(cat "$dest.version" 2>/dev/null)" != "$version" ]; then
	echo "fetch-deb: extracting $member from $file" >&2
	rm -f "$dest" "$dest.version"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./$member" >"$dest.tmp"
	[ -s "$dest.tmp" ] || { echo "fetch-deb: no $member in $file" >&2; rm -f "$dest.tmp"; exit 1; }
	mv "$dest.tmp" "$dest"
	echo "$version" >"$dest.version"
fi
echo "$version"
