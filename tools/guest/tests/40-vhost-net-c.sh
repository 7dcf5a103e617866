#!/bin/sh
# The C reference for the vhost-net device to come: the kernel's own
# tools/virtio/vhost_net_test against drivers/vhost/net.c, with no flags
# and with each of its flags.
. /tests/lib.sh
load vhost_iotlb
load vhost
load vhost_net
[ -c /dev/vhost-net ] || { echo "no /dev/vhost-net"; exit 1; }
vnet_runs C
rmmod vhost_net
