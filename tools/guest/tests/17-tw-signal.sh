#!/bin/sh
# selftest tw-signal: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest tw-signal
