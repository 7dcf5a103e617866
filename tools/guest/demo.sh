#!/bin/sh
# `make run`: load the project's modules, show them working, unload them.
set -e
echo "### kernel: $(uname -r)"
for m in /modules/rust_vhost_hello.ko; do
	echo "### insmod $m"
	insmod "$m"
done
lsmod
for m in rust_vhost_hello; do
	echo "### rmmod $m"
	rmmod "$m"
done
echo "### kernel log"
dmesg | grep -iE 'rust_vhost|vhost' || true
! dmesg | grep -E 'Oops|BUG:|WARNING:|Call Trace'
echo "### demo done"
