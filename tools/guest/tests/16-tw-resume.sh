#!/bin/sh
# selftest tw-resume: see tools/guest/selftest.c.
. /tests/lib.sh
load rust_vhost_selftest
selftest tw-resume
