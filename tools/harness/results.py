#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count the results of one test boot and decide whether it passed.

The KTAP in each log (kernel console and guest programs) is parsed by the
kernel's own `kunit.py parse --json`; this script only adds the numbers up,
checks them against the expected suites, and scans the console log for
kernel splats. It prints `N passed, N failed` last and exits non-zero on
any failure, missing result or splat.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

SPLATS = re.compile(r'Oops|BUG:|WARNING:|blocked for more than \d+ seconds|'
                    r'Kernel panic|KASAN:|kmemleak:.*new suspected|'
                    r'possible recursive locking|suspicious RCU usage|'
                    r'circular locking dependency|INFO: rcu_.*stall|'
                    # A doctest assertion made outside the test's own thread only
                    # prints this: KUnit cannot count it.
                    r'ASSERTION FAILED')


def leaves(group):
    for sub in group.get('sub_groups', []):
        yield from leaves(sub)
    for case in group.get('test_cases', []):
        yield case


def parse(kunit, log):
    with tempfile.NamedTemporaryFile(suffix='.json') as out:
        # kunit.py exits non-zero when a test failed; the JSON says which.
        subprocess.run([sys.executable, kunit, 'parse', '--json=' + out.name,
                        os.path.abspath(log)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        with open(out.name, encoding='utf-8') as f:
            text = f.read()
    return json.loads(text) if text.strip() else {'sub_groups': []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kunit', required=True, help='path to kunit.py')
    ap.add_argument('--expected', required=True,
                    help='file of "suite min_passed" lines')
    ap.add_argument('--console', required=True, help='kernel console log')
    ap.add_argument('--boot-failed', action='store_true',
                    help='the guest timed out, crashed, or ktap.sh died')
    ap.add_argument('logs', nargs='+', help='logs holding KTAP')
    args = ap.parse_args()

    suites = {}
    for log in args.logs:
        for suite in parse(args.kunit, log).get('sub_groups', []):
            suites[suite['name']] = [c['status'] for c in leaves(suite)]

    passed = failed = skipped = 0
    for name, st in sorted(suites.items()):
        p, s = st.count('PASS'), st.count('SKIP')
        f = len(st) - p - s
        print(f'suite {name}: {len(st)} tests, {p} passed, {f} failed, {s} skipped')
        passed, failed, skipped = passed + p, failed + f, skipped + s

    with open(args.expected, encoding='utf-8') as f:
        for line in f:
            line = line.split('#')[0].split()
            if not line:
                continue
            # Only passes count: a skipped test is no evidence either.
            name, want = line[0], int(line[1])
            got = suites.get(name, []).count('PASS')
            if got < want:
                print(f'error: suite {name}: {got} passed, expected at least {want}')
                failed += max(want - got, 1)

    splats = 0
    with open(args.console, encoding='utf-8', errors='replace') as f:
        for line in f:
            if SPLATS.search(line):
                splats += 1
                print('splat: ' + line.rstrip())
    if splats:
        print(f'error: {splats} kernel splat lines in {args.console}')
        failed += 1

    if args.boot_failed:
        print('error: the guest did not finish (timeout, crash, or ktap.sh died)')
        failed += 1

    if skipped:
        print(f'{skipped} skipped (not counted)')
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
