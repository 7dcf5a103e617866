#!/usr/bin/env bash
# plugin.sh DIR: build tools/bench/icount.c into DIR/icount.so, against the
# plugin header of the installed qemu-system-x86's own Debian source package.
# The source is fetched with a private apt state in DIR (the machine's apt
# sources are not touched) and checked against the Debian archive keyring.
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
src=$here/icount.c
ver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
hdr=$dir/qemu-$ver/qemu-plugin.h
mkdir -p "$dir"
if [ ! -f "$hdr" ]; then
	apt=$dir/apt
	mkdir -p "$apt/src"
	(cd "$apt/src" && "$here/../harness/apt-private.sh" "$apt" \
		"deb-src http://deb.debian.org/debian bookworm main" \
		"deb-src http://deb.debian.org/debian-security bookworm-security main" \
		-- source --download-only "qemu=$ver" >/dev/null 2>&1)
	orig=$(ls "$apt/src"/qemu_*.orig.tar.*)
	mkdir -p "$(dirname "$hdr")"
	tar -xf "$orig" -O --wildcards '*/include/qemu/qemu-plugin.h' >"$hdr.tmp"
	mv "$hdr.tmp" "$hdr"
	rm -rf "$apt/src"
	echo "plugin: qemu-plugin.h from Debian source qemu $ver"
fi
if [ ! "$dir/icount.so" -nt "$src" ] || [ ! "$dir/icount.so" -nt "$hdr" ]; then
	gcc -shared -fPIC -O2 -Wall -Wextra -Werror -I"$(dirname "$hdr")" -o "$dir/icount.so" "$src"
fi
echo "$dir/icount.so"
