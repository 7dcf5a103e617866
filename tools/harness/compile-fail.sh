#!/usr/bin/env bash
# Compile-fail tests: where the type system makes a guarantee, the test is a
# build that must fail with the expected error.
#
# Each tools/compile-fail/<name>.rs is a small module. Its header names what
# rustc must say, an error code and a substring of that error's text:
#
#   // expect: E0277 "cannot be sent between threads safely"
#
# or `// expect: build` for a positive control, which must compile. A case
# passes when rustc fails, every coded error it reports has the expected
# code, and one of them contains the substring and points into the case
# file. The object alone is built (`make M=<dir> <name>.o` against the built
# kernel: rustc and objtool, no modpost, no Clippy), in the build cache.
#
# Usage: compile-fail.sh LOG [CASE.rs...]
# Writes the KTAP suite `compile_fail` to LOG (and stdout); exits 1 if a case
# failed, 2 if it could not run.
set -euo pipefail
. "$(dirname "$0")/env.sh"

[ $# -ge 1 ] || { echo "usage: $0 LOG [CASE.rs...]" >&2; exit 2; }
log=$1
shift
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("$REPO"/tools/compile-fail/*.rs)
[ -f "$OBJ/Module.symvers" ] || { echo "compile-fail: no kernel built in $OBJ" >&2; exit 2; }
dir=$OBJ-cfail

# check NAME CODE MSG < rustc output: prints why the output does not match.
# rustc names the case file by its absolute path (6.12) or by its path
# relative to the M= directory (7.3): `--> NAME.rs:12:5`; both count.
check() {
	awk -v file="$1.rs:" -v code="$2" -v msg="$3" '
	function done_block() {
		if (inblk && loc && hit) ok = 1
		inblk = 0
	}
	/^(error|warning)(\[[A-Z0-9]+\])?: / {
		done_block()
		if ($0 ~ /^error: aborting due to/ || $0 !~ /^error/) next
		if (index($0, "error[" code "]: ") == 1) {
			inblk = 1; seenloc = 0; loc = 0; hit = 0; n++
		} else {
			bad = bad "\n    " $0
		}
	}
	inblk && !seenloc && /^ *--> / {
		seenloc = 1
		sub(/^ *--> /, "")
		loc = index($0, file) == 1 || index($0, "/" file) > 0
	}
	inblk && index($0, msg) { hit = 1 }
	END {
		done_block()
		if (bad != "") print "other errors than " code ":" bad
		else if (!n) print "no error " code
		else if (!ok) print "no error " code " with \"" msg "\" in " substr(file, 1, length(file) - 1)
	}'
}

# One case: prints its diagnostics and result line; returns 1 if not ok.
run_case() {
	local n=$1 src=$2 name expect d t0 rc=0 secs why re='^(E[0-9]{4}) "(.*)"$'
	name=$(basename "$src" .rs)
	expect=$(sed -n 's|^// expect: ||p' "$src" | head -1)
	d=$dir/$name
	rm -rf "$d"
	mkdir -p "$d"
	ln -s "$(realpath "$src")" "$d/$name.rs"
	echo "obj-m := $name.o" >"$d/Kbuild"
	t0=$(date +%s.%N)
	"${KMAKE[@]}" -s CLIPPY= M="$d" "$name.o" >"$d/out" 2>&1 || rc=$?
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	# The compiler's own lines, with the paths as in the repository and tree.
	grep -E '^(error|warning)|^ *--> ' "$d/out" |
		sed "s|$d/|tools/compile-fail/|; s|--> $name.rs:|--> tools/compile-fail/$name.rs:|; s|$SRC/||" |
		head -20 | sed 's/^/    # /' || true
	if [ "$expect" = build ]; then
		why=
		[ $rc = 0 ] && [ -f "$d/$name.o" ] || why="expected a build, make exited with $rc"
	elif [[ $expect =~ $re ]]; then
		if [ $rc = 0 ]; then
			why="built, but expected ${BASH_REMATCH[1]}"
		else
			why=$(check "$name" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" <"$d/out")
		fi
	else
		why="no valid '// expect:' line in $src"
	fi
	printf '    # %s: expect %s, took %.1f s\n' "$name" "$expect" "$secs"
	if [ -z "$why" ]; then
		echo "    ok $n $name"
		return 0
	fi
	printf '%s\n' "$why" | sed 's/^/    # /'
	# A failure before rustc said anything (make, a missing tool): its last words.
	if [ $rc != 0 ] && ! grep -q '^error' "$d/out"; then
		tail -5 "$d/out" | sed 's/^/    # /'
	fi
	echo "    not ok $n $name"
	return 1
}

suite() {
	local n=0 fail=0 src
	echo "KTAP version 1"
	echo "1..1"
	echo "    KTAP version 1"
	echo "    # Subtest: compile_fail"
	echo "    1..${#cases[@]}"
	for src in "${cases[@]}"; do
		n=$((n + 1))
		run_case $n "$src" || fail=1
	done
	[ $fail = 0 ] && echo "ok 1 compile_fail" || echo "not ok 1 compile_fail"
	return $fail
}

mkdir -p "$dir"
suite | tee "$log"
