#!/bin/sh
# selftest tw-cancel: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest tw-cancel
