#!/bin/sh
# selftest vhost-kill: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest vhost-kill
