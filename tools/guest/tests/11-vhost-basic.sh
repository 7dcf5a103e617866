#!/bin/sh
# selftest vhost-basic: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest vhost-basic
