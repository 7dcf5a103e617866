#!/bin/sh
# Error paths of the Rust device, each with the errno that C vhost gives.
# Chains that vhost_get_vq_desc() refuses stall the ring until it is reset;
# chains that test.c refuses after taking them are dropped, and the next one
# completes. The ring works again afterwards.
. /tests/lib.sh
load rust_vhost_test
vhost_client errors
vhost_client chains
