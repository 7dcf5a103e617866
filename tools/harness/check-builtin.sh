#!/usr/bin/env bash
# The C lists call one trampoline, built into the kernel crate, that drops
# the module reference after the item's code has returned; the typed cancels
# match with a built-in function too. No module may carry its own copy of
# them: its copy would run (and drop the reference) in module code.
#   check-builtin.sh VMLINUX KO...
set -euo pipefail
syms='kernel5owned10trampoline|kernel9task_work11match_entry'
vmlinux=$1
shift
n=$(llvm-nm-19 --defined-only "$vmlinux" | grep -cE " T _R.*($syms)\$" || true)
[ "$n" = 2 ] || { echo "check-builtin: vmlinux defines $n of the 2 built-in functions" >&2; exit 1; }
bad=0
for ko in "$@"; do
	if llvm-nm-19 --defined-only "$ko" | grep -E "($syms)\$"; then
		echo "check-builtin: $ko defines its own copy" >&2
		bad=1
	fi
done
[ $bad = 0 ] && echo "check-builtin: the trampoline and the matcher are built in, and $# modules use them"
