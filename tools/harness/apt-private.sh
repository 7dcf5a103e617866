#!/usr/bin/env bash
# apt-private.sh DIR SUITE... -- APT-GET-ARGS...: run apt-get with a source
# list and state of its own in DIR, leaving the machine's apt configuration
# alone. Each SUITE is "TYPE URI SUITE COMPONENT" (e.g. "deb-src
# http://deb.debian.org/debian bookworm main"), checked against the Debian
# archive keyring. Files land in the current directory.
set -euo pipefail
dir=$1
shift
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
key=/usr/share/keyrings/debian-archive-keyring.gpg
: >"$dir/sources.new"
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	read -r type rest <<<"$1"
	printf '%s [signed-by=%s] %s\n' "$type" "$key" "$rest" >>"$dir/sources.new"
	shift
done
# Other sources than last time: the lists must be fetched again.
if ! cmp -s "$dir/sources.new" "$dir/sources.list"; then
	rm -rf "$dir/lists"
	mkdir -p "$dir/lists/partial"
fi
mv "$dir/sources.new" "$dir/sources.list"
[ "${1:-}" = -- ] || { echo "usage: apt-private.sh DIR SUITE... -- ARGS..." >&2; exit 2; }
shift
opts=(-q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache")
# As root, apt would hand the download to its _apt user, who cannot write in
# a private directory under root's home (and says so).
[ "$(id -u)" != 0 ] || opts+=(-o APT::Sandbox::User=root)
# Once a day is enough for the same sources.
if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Release' -mtime -1 2>/dev/null)" ]; then
	apt-get "${opts[@]}" update >/dev/null
fi
exec apt-get "${opts[@]}" "$@"
