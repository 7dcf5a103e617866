#!/bin/sh
# selftest rcu 1000: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest rcu 1000
