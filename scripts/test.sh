#!/usr/bin/env bash
# The test suite, from a fresh Debian 12 machine (as root): install what is missing, then run
# pytest (the suite brings the lab up itself when it is down, and tears it down again).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -q`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
python3 -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
exit "$rc"
