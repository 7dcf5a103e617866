#!/usr/bin/env bash
# Developer aid: turn the uncommitted edits in the cache's kernel tree into
# the next patch of patches/series, with a subject and a body. It writes no
# From: or Signed-off-by: line: `make patches` signs the series off as
# whoever runs it (tools/dev/export-patches.sh).
#   tools/dev/mkpatch.sh NAME.patch "subsystem: subject" < body.txt
set -euo pipefail
. "$(dirname "$0")/../harness/env.sh"
name=$1 subject=$2
{
	echo "Subject: [PATCH] $subject"
	echo
	printf '%s\n' "$(cat)"
	echo "---"
	git -C "$SRC" diff
} >"$REPO/patches/$name"
git -C "$SRC" add -u
echo "$name" >>"$REPO/patches/series"
echo "wrote patches/$name"
