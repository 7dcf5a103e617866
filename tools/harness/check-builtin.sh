#!/usr/bin/env bash
# The C lists call one trampoline, built into the kernel crate, that drops
# the module reference after the item's code has returned; the typed cancels
# match with a built-in function too. No module may carry its own copy of
# them: its copy would run (and drop the reference) in module code. The
# modules that queue task work must use the built-in ones.
#   check-builtin.sh VMLINUX KO...
set -euo pipefail
syms='kernel5owned10trampoline|kernel9task_work11match_entry'
vmlinux=$1
shift
[ $# -gt 0 ] || { echo "check-builtin: no modules given" >&2; exit 1; }
n=$(llvm-nm-19 --defined-only "$vmlinux" | grep -cE " T _R.*($syms)\$" || true)
[ "$n" = 2 ] || { echo "check-builtin: vmlinux defines $n of the 2 built-in functions" >&2; exit 1; }
users=0
for ko in "$@"; do
	syms_ko=$(llvm-nm-19 "$ko") || { echo "check-builtin: llvm-nm failed on $ko" >&2; exit 1; }
	if echo "$syms_ko" | grep -vE '^ +U ' | grep -E "($syms)\$"; then
		echo "check-builtin: $ko defines its own copy" >&2
		exit 1
	fi
	if echo "$syms_ko" | grep -qE "^ +U .*($syms)\$"; then
		users=$((users + 1))
	fi
done
[ $users -gt 0 ] || { echo "check-builtin: no module uses the built-in functions" >&2; exit 1; }
echo "check-builtin: $users of $# modules call the built-in trampoline or matcher; none has a copy"
