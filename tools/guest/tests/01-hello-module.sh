#!/bin/sh
# Proof of life: the project's own module loads, prints, and unloads.
set -e
dmesg -c >/dev/null
insmod /modules/rust_vhost_hello.ko
grep -q '^rust_vhost_hello ' /proc/modules
rmmod rust_vhost_hello
if grep -q '^rust_vhost_hello ' /proc/modules; then
	echo "rust_vhost_hello still loaded after rmmod"; exit 1
fi
dmesg | grep -q 'rust_vhost_hello: loaded'
dmesg | grep -q 'rust_vhost_hello: unloaded'
echo "hello module loaded and unloaded"
