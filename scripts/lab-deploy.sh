#!/usr/bin/env bash
# The main job on the local lab, from a fresh Debian 12 machine (as root): install what is
# missing, start the lab if it is down, run the full rollout (DNS -> compute stacks -> trusted
# stacks -> verify) and leave the JSON report in .homehub/reports/lab.json.
# Idempotent; the second run is a no-op deploy (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m nornir_homehub --config inventory/lab/config.yaml lab up
exec python3 -m nornir_homehub --config inventory/lab/config.yaml deploy --report .homehub/reports/lab.json "$@"
