#!/bin/sh
# selftest vhost-stop-pending: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest vhost-stop-pending
