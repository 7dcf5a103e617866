#!/usr/bin/env bash
# `make patches`: the project as a `git format-patch` series on top of the
# Debian source it builds, in a throwaway clone of the cache's tree. Each
# patch of patches/series becomes one commit, with the repository files that
# patches/files assigns to it. `--check` then builds the kernel and modules
# after each commit in turn and names the commits after which it fails.
set -euo pipefail
. "$(dirname "$0")/../harness/env.sh"
SER=$CACHE/series
DEST=$OUT/patches

# A Signed-off-by is its signer's certification (the DCO): the series is
# authored and signed off by whoever exports it, as git config names them
# in this repository. The patches in patches/ carry no identity of their own.
name=$(git -C "$REPO" config user.name || true)
email=$(git -C "$REPO" config user.email || true)
unset=
[ -n "$name" ] || unset="user.name"
[ -n "$email" ] || unset="${unset:+$unset and }user.email"
if [ -n "$unset" ]; then
	echo "error: git config has no $unset for $REPO." >&2
	echo "make patches signs the series off (Signed-off-by:) in the name of whoever" >&2
	echo "runs it, and writes no other. Set yours, then run it again:" >&2
	echo "  git config --global user.name 'Your Name'" >&2
	echo "  git config --global user.email you@example.org" >&2
	exit 1
fi
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email

"$REPO/tools/harness/rvh.sh" unpack >/dev/null
rm -rf "$SER" "$DEST"
git clone -q --shared --no-checkout "$SRC" "$SER"
cd "$SER"
git checkout -q -b rvh pristine

while read -r p; do
	[ -n "$p" ] || continue
	if awk '/^---$/ { exit } /^(From|Signed-off-by):/ { f = 1 } END { exit !f }' \
		"$REPO/patches/$p"; then
		echo "error: patches/$p: a From: or Signed-off-by: of its own (the export signs)" >&2
		exit 1
	fi
	git apply --index "$REPO/patches/$p"
	for f in $(awk -v p="$p" '$1 == p { for (i = 2; i <= NF; i++) print $i }' "$REPO/patches/files"); do
		mkdir -p "$(dirname "$f")"
		cp "$REPO/$f" "$f"
		git add -f "$f"
		case $f in
		Documentation/rust/*.rst)
			# At the end of the toctree that lists testing, in patch order.
			awk -v e="    $(basename "$f" .rst)" '
			    $0 == "    testing" { t = 1 }
			    t && $0 == "" { print e; t = 0 }
			    { print }' Documentation/rust/index.rst >"$SER/.idx"
			mv "$SER/.idx" Documentation/rust/index.rst
			git add -f Documentation/rust/index.rst ;;
		esac
	done
	# New files get F: lines in the MAINTAINERS entries that patches/maintainers
	# gives them (why: tools/dev/maintainers.md).
	new=$(git diff --cached --name-only --diff-filter=A)
	if [ -n "$new" ]; then
		python3 - "$REPO/patches/maintainers" $new <<-'PY'
		import fnmatch, sys
		rules = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])
		         if l.strip() and not l.startswith("#")]
		lines = open("MAINTAINERS").read().split("\n")
		for f in sys.argv[2:]:
		    entries = [e for pat, e in rules if fnmatch.fnmatchcase(f, pat)]
		    if not entries:
		        sys.exit(f"error: no line of patches/maintainers matches {f}")
		    for e in entries:
		        if e not in lines:
		            sys.exit(f"error: patches/maintainers: no entry {e!r} in MAINTAINERS")
		        start = lines.index(e)
		        end = lines.index("", start)
		        add = "F:\t" + f
		        fs = [i for i in range(start, end) if lines[i].startswith("F:\t")]
		        if add in lines[start:end]:
		            continue
		        # Before the first F: that sorts after it, else after the last F:.
		        later = [i for i in fs if lines[i] > add]
		        lines.insert(later[0] if later else fs[-1] + 1, add)
		open("MAINTAINERS", "w").write("\n".join(lines))
		PY
		git add MAINTAINERS
	fi
	# The message: the subject, then the body (after the blank line that ends
	# the header) up to the "---" line; -s signs it off as the exporter.
	awk '/^Subject: / { sub(/^Subject: (\[PATCH\] )?/, ""); print; print ""; next }
	     /^---$/ { exit } body { print } /^$/ && !body { body = 1 }' \
		"$REPO/patches/$p" | sed '${/^$/d}' >"$SER/.msg"
	git commit -q -s -F "$SER/.msg"
done <"$REPO/patches/series"
rm -f "$SER/.msg"

# The cover letter: its subject is the first paragraph of
# patches/cover-letter.txt, its blurb the rest (git takes them from the
# branch description).
git config branch.rvh.description "$(cat "$REPO/patches/cover-letter.txt")"
git format-patch -q --cover-letter --cover-from-description=subject -o "$DEST" pristine..rvh
cover=$DEST/0000-cover-letter.patch
if grep -q '^BENCH-7.3' "$cover"; then
	echo "cover letter: the BENCH-7.3 table is still to be filled in"
fi
pats=()
for f in "$DEST"/*.patch; do
	[ "$f" = "$cover" ] || pats+=("$f")
done

# checkpatch --strict must say nothing but the warnings that
# patches/checkpatch-expected lists: same patch, file, type and text, as
# many times. Those are kept on purpose, and the cover letter explains them.
bad=0 kept=0
for f in "${pats[@]}"; do
	b=$(basename "$f")
	# checkpatch exits 1 when it reports anything; more means it broke.
	rc=0
	out=$(perl scripts/checkpatch.pl --strict --terse --showfile --show-types -q "$f" 2>&1) || rc=$?
	if [ $rc -gt 1 ]; then
		echo "checkpatch: $b: checkpatch.pl failed (exit $rc): $out"
		bad=1
		continue
	fi
	got=$(echo "$out" | grep -v '^total: ' | sed -E 's/^([^: ]+):[0-9]+: /\1\t/' | sort) || true
	want=$(awk -F'\t' -v p="${b#[0-9][0-9][0-9][0-9]-}" \
		'$1 == p { for (i = 0; i < $3; i++) print $2 "\t" $4 }' \
		"$REPO/patches/checkpatch-expected" | sort)
	if [ "$got" != "$want" ]; then
		echo "checkpatch: $b:"
		diff <(echo "$want" | sed '/^$/d') <(echo "$got" | sed '/^$/d') | sed 's/\t/: /' |
			sed -n 's/^> /  unexpected: /p; s/^< /  missing (patches\/checkpatch-expected): /p' || true
		bad=1
	elif [ -n "$got" ]; then
		echo "checkpatch: $b: expected, explained in the cover letter:"
		echo "$got" | uniq -c | sed 's/\t/: /'
		kept=1
	fi
done

# The Documentation/rust/ pages must be valid reST, in the index, and add no
# warning to the kernel's own Sphinx build of that directory: its warnings
# with the series, line numbers dropped, must be those of the source alone.
for p in python3-sphinx python3-yaml; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
		[ "$(id -u)" = 0 ] || SUDO=sudo
		${SUDO:-} apt-get install -y -q --no-install-recommends "$p" >/dev/null
	}
done
sphinx_warnings() {
	rm -rf "$CACHE/docs"
	make -s O="$CACHE/docs" SPHINXDIRS=rust htmldocs >"$CACHE/docs.log" 2>&1 ||
		{ echo "htmldocs failed on $(git log -1 --format=%h): $CACHE/docs.log" >&2; return 1; }
	grep -E 'WARNING|ERROR|SEVERE|CRITICAL' "$CACHE/docs.log" | grep -v 'dot(1) not found' |
		sed -E "s|^$SER/||; s|^([^:]+):[0-9]+:|\1:|" | sort || true
}
docs_bad=0 new_warn=
pages=$(git diff --name-only --diff-filter=A pristine..rvh -- 'Documentation/rust/*.rst')
with=$(sphinx_warnings)
for f in $pages; do
	grep -qx "    $(basename "$f" .rst)" Documentation/rust/index.rst ||
		new_warn="$new_warn$f: not in Documentation/rust/index.rst
"
	[ -s "$CACHE/docs/Documentation/output/rust/$(basename "$f" .rst).html" ] ||
		new_warn="$new_warn$f: Sphinx wrote no page for it
"
done
git checkout -q pristine
without=$(sphinx_warnings)
git checkout -q rvh
new_warn="$new_warn$(comm -23 <(echo "$with") <(echo "$without") | sed '/^$/d')"
if [ -n "$new_warn" ]; then
	echo "htmldocs SPHINXDIRS=rust: the series adds:"
	echo "$new_warn" | sed '/^$/d; s/^/  /'
	docs_bad=1
else
	echo "htmldocs SPHINXDIRS=rust: $(echo "$pages" | wc -w) new pages, no new warning ($(echo "$without" | sed '/^$/d' | wc -l) warnings of the source's own)"
fi

# Whom to send each patch to, and the whole series (the cover letter), by
# the MAINTAINERS of the tree with the series applied. The tree has no
# history to offer, hence no --git.
gm=$DEST/get_maintainer.txt
for f in "${pats[@]}"; do
	echo "== $(basename "$f")"
	perl scripts/get_maintainer.pl --no-git --no-git-fallback "$f"
	echo
done >"$gm"
{
	echo "== the whole series ($(basename "$cover"))"
	perl scripts/get_maintainer.pl --no-git --no-git-fallback "${pats[@]}"
} >>"$gm"
cat "$gm"
echo "series: ${#pats[@]} patches and a cover letter in $DEST, on $(git log -1 --format=%s pristine)"
echo "get_maintainer.pl: $gm"
if [ $bad = 1 ]; then
	echo "checkpatch --strict: FAILED (run scripts/checkpatch.pl --strict in $SER for details)"
elif [ $kept = 1 ]; then
	echo "checkpatch --strict: clean but for the expected warnings above"
else
	echo "checkpatch --strict: clean"
fi

# --check: build the kernel and modules after each patch in turn and, unless
# RVH_PATCHES_BOOT=0, boot each one (rvh.sh kunit-boot) so that its
# doctests and #[kunit_tests] run. A boot must pass everything that passed
# at the patch before it (tools/harness/results.py with that boot's counts
# as the least expected); the boot of the last patch must also report
# every kernel suite of tools/harness/expected.txt. The first boot is of
# the source without the series.
if [ "${1:-}" = --check ]; then
	BOBJ=$CACHE/build-bisect
	BOUT=$BOBJ-out
	boot=${RVH_PATCHES_BOOT:-1}
	mkdir -p "$BOBJ" "$BOUT"
	fails=0 prev=$BOUT/expected-prev
	: >"$prev"
	commits=$(git rev-list --reverse pristine..rvh)
	pristine=$(git rev-parse pristine)
	# failed WHAT LOG COPY: patch $c failed; keep its log. Without the series
	# there is no baseline to compare the patches with, so that stops the check.
	failed() {
		cp "$2" "$3" 2>/dev/null || true
		if [ "$c" = "$pristine" ]; then
			echo "patches-check: the source without the series $1" >&2
			git checkout -q rvh
			exit 1
		fi
		fails=$((fails + 1))
	}
	last=$(git rev-parse rvh)
	for c in $([ "$boot" = 1 ] && echo "$pristine") $commits; do
		git checkout -q "$c"
		s=$(git log -1 --format=%s "$c")
		# Afresh each time: olddefconfig drops the symbols a tree lacks
		# (the samples' before the patch that adds their Kconfig entry).
		cp "$OBJ/.config" "$BOBJ/.config"
		# Without boots, the doctests need not be built: that halves the time.
		[ "$boot" = 1 ] || "$SER/scripts/config" --file "$BOBJ/.config" -d RUST_KERNEL_DOCTESTS
		if ! make -C "$SER" O="$BOBJ" -j"$JOBS" "${KTOOLS[@]}" \
			olddefconfig bzImage modules >"$BOBJ/build.log" 2>&1; then
			echo "FAILS:  $s (log: $BOBJ/build.log)"
			failed "does not build" "$BOBJ/build.log" "$BOBJ/fail-$(git rev-parse --short "$c").log"
			continue
		fi
		if [ "$boot" != 1 ]; then
			echo "builds: $s"
			continue
		fi
		exp=$prev
		if [ "$c" = "$last" ]; then
			exp=$BOUT/expected-last
			{ cat "$prev"; grep -vE '^(guest|compile_fail|style) ' "$REPO/tools/harness/expected.txt"; } >"$exp"
		fi
		booted=1
		rm -f "$BOUT/kunit-console.log"
		RVH_FLAVOUR=bisect RVH_TIMEOUT=${RVH_TIMEOUT:-900} \
			"$REPO/tools/harness/rvh.sh" kunit-boot >"$BOUT/boot.log" 2>&1 || booted=0
		rc=0
		python3 "$REPO/tools/harness/results.py" --kunit "$SER/tools/testing/kunit/kunit.py" \
			--expected "$exp" --console "$BOUT/kunit-console.log" \
			$([ $booted = 1 ] || echo --boot-failed) "$BOUT/kunit-console.log" \
			>"$BOUT/results.txt" 2>&1 || rc=$?
		if [ $rc = 0 ]; then
			echo "builds, boots, $(tail -1 "$BOUT/results.txt"): $s"
			# What passed here must pass at the next patch.
			sed -n 's/^suite \([^:]*\): [0-9]* tests, \([0-9]*\) passed,.*/\1 \2/p' "$BOUT/results.txt" >"$prev"
		else
			echo "FAILS:  $s: boot: $(tail -1 "$BOUT/results.txt")"
			grep -E '^(error|splat):' "$BOUT/results.txt" | sed 's/^/          /' || true
			failed "does not pass: no baseline" "$BOUT/kunit-console.log" \
				"$BOUT/fail-$(git rev-parse --short "$c")-console.log"
		fi
	done
	git checkout -q rvh
	echo "patches-check: $fails of $(echo "$commits" | wc -w) patches leave a tree that does not build$([ "$boot" = 1 ] && echo " or boot with every doctest and KUnit suite passing")"
	[ $fails = 0 ]
fi
[ $bad = 0 ] && [ $docs_bad = 0 ]
