#!/bin/sh
# `make bench`: micro-benchmarks, printed; nothing is asserted.
set -e
echo "### primitives (rust_vhost_bench, kernel log)"
insmod /modules/rust_vhost_bench.ko
rmmod rust_vhost_bench
dmesg | sed -n 's/.*rust_vhost_bench: //p'
echo "### vhost_task wake-to-run round trips"
insmod /modules/rust_vhost_selftest.ko
selftest vhost-ping "${RVH_PING:-100000}"
rmmod rust_vhost_selftest
