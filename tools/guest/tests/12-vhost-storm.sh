#!/bin/sh
# selftest vhost-storm 1000000: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest vhost-storm 1000000
