#!/usr/bin/env bash
# The test suite, from a fresh Debian 12 machine (as root): install what is missing, then run
# pytest (the suite brings the lab up itself when it is down, and tears it down again).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -q`).
# A green run is remembered by its exact inputs (scripts/suite_cache.py): run again on the same
# files, arguments and installed packages, it says what passed and when instead of rerunning.
# `--force` (first argument) or HOMEHUB_TESTS_FORCE=1 always runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--force" ]; then export HOMEHUB_TESTS_FORCE=1; shift; fi
bash scripts/setup.sh
if python3 scripts/suite_cache.py check "$@"; then exit 0; fi
mkdir -p .homehub/tests
junit=".homehub/tests/last-junit.xml"
rm -f "$junit"
started="$(date +%s.%N)"
set +e
python3 -m pytest --junitxml="$junit" "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
if [ "$rc" -eq 0 ]; then python3 scripts/suite_cache.py record "$junit" "$started" "$@" || true; fi
exit "$rc"
