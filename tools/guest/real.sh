#!/bin/sh
# `make real-deb`, in the guest: the kernel is a Debian package built with
# Debian's own config; $1 is the sample as that package installed it.
set -e
ko=$1
echo "### kernel $(uname -r): $(cat /proc/version)"
echo "### the sample from the package: $ko"
case $ko in
*.xz) xzcat "$ko" >/tmp/rust_vhost_test.ko ;;
*.zst) echo "no zstd in busybox"; exit 1 ;;
*) cp "$ko" /tmp/rust_vhost_test.ko ;;
esac
insmod /tmp/rust_vhost_test.ko
grep rust_vhost_test /proc/modules
ls -l /dev/vhost-test
echo "### tools/virtio/virtio_test against it"
time virtio_test
time virtio_test --batch=random
rmmod rust_vhost_test
if dmesg | grep -E 'Oops|BUG:|WARNING:|Call Trace|module verification failed'; then
	echo "### kernel log is NOT clean"
	exit 1
fi
echo "### kernel log clean"
