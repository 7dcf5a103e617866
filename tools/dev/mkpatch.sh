#!/usr/bin/env bash
# Developer aid: turn the uncommitted edits in the cache's kernel tree into
# the next patch of patches/series, with a kernel-style header.
#   tools/dev/mkpatch.sh NAME.patch "subsystem: subject" < body.txt
set -euo pipefail
. "$(dirname "$0")/../harness/env.sh"
name=$1 subject=$2
{
	echo "From: rust-vhost developers <rust-vhost@localhost>"
	echo "Subject: [PATCH] $subject"
	echo
	cat
	echo
	echo "Signed-off-by: rust-vhost developers <rust-vhost@localhost>"
	echo "---"
	git -C "$SRC" diff
} >"$REPO/patches/$name"
git -C "$SRC" add -u
echo "$name" >>"$REPO/patches/series"
echo "wrote patches/$name"
