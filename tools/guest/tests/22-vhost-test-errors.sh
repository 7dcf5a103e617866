#!/bin/sh
# Error paths of the Rust device, each with its errno; bad descriptors stall
# the ring until it is reset, and it works again afterwards.
. /tests/lib.sh
load rust_vhost_test
vhost_client errors
vhost_client chains
