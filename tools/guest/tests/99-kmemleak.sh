#!/bin/sh
# Last: with everything unloaded, a kmemleak scan must find no leak (on the
# debug kernel; skipped where kmemleak is not built).
for m in $(grep -o '^rust_vhost[a-z_]*\|^vhost[a-z_]*' /proc/modules); do
	rmmod "$m" 2>/dev/null || true
done
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
[ -e /sys/kernel/debug/kmemleak ] || { echo "no kmemleak in this kernel"; exit 77; }
# Old objects first, then two scans so that the grey ones settle.
echo scan >/sys/kernel/debug/kmemleak
sleep 5
echo scan >/sys/kernel/debug/kmemleak
n=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak || true)
echo "kmemleak: $n unreferenced objects"
cat /sys/kernel/debug/kmemleak | head -60
[ "$n" = 0 ]
