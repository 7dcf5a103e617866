#!/bin/sh
# Last: every module of the project unloads (one that will not is holding a
# leaked reference), and then a kmemleak scan must find no leak. The debug
# kernel (RVH_FLAVOUR=debug) must have kmemleak; elsewhere it is skipped.
set -e
left=
for m in $(grep -o '^rust_vhost[a-z_]*\|^vhost[a-z_]*' /proc/modules); do
	# Callbacks still in flight may hold a reference for a moment.
	i=0
	until rmmod "$m" 2>/tmp/rmmod.err; do
		i=$((i + 1))
		[ $i -lt 50 ] || { cat /tmp/rmmod.err; left="$left $m"; break; }
		usleep 100000
	done
done
if [ -n "$left" ]; then
	echo "modules that would not unload:$left"
	grep '^rust_vhost\|^vhost' /proc/modules
	exit 1
fi
mount -t debugfs none /sys/kernel/debug 2>/dev/null || :
if [ ! -e /sys/kernel/debug/kmemleak ]; then
	echo "no kmemleak in this kernel"
	[ "${RVH_FLAVOUR:-}" != debug ] || exit 1
	exit 77
fi
# Old objects first, then two scans so that the grey ones settle.
echo scan >/sys/kernel/debug/kmemleak
sleep 5
echo scan >/sys/kernel/debug/kmemleak
cat /sys/kernel/debug/kmemleak >/tmp/kmemleak
n=$(grep -c '^unreferenced object' /tmp/kmemleak) || [ "$n" = 0 ]
echo "kmemleak: $n unreferenced objects"
head -60 /tmp/kmemleak
[ "$n" = 0 ]
