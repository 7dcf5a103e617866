#!/bin/sh
# The C reference: tools/virtio/virtio_test against drivers/vhost/test.c,
# with every flag virtio_test has.
. /tests/lib.sh
load vhost_iotlb
load vhost
load vhost_test
virtio_runs C
rmmod vhost_test
