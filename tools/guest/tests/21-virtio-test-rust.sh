#!/bin/sh
# The same virtio_test runs against the Rust device, in the same boot.
. /tests/lib.sh
load rust_vhost_test
virtio_runs Rust
