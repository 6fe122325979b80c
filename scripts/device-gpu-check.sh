#!/bin/sh
# Run `check gpu` on THIS machine (a real NVIDIA GPU host) through the local inventory
# (inventory/gpu-local: connection local, no SSH) and save everything under $OUT:
#   raw-nvidia-smi.txt, raw-query.csv, raw-q.xml   raw nvidia-smi (the queries the parsers read)
#   check-gpu.json  `check gpu --json`      check-gpu.txt  the plain output
#   check-gpu-with-process.txt  (only with torch) the same while a process holds GPU memory
#   pip.log         dependency install log  summary.txt    what ran and exit codes
# Usage: OUT=/some/dir sh scripts/device-gpu-check.sh   (from anywhere; needs python3)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/device-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$ROOT" || exit 2
S="$OUT/summary.txt"
: >"$S"
note() { echo "$*" | tee -a "$S"; }

note "host: $(uname -a)"
note "python: $($PY --version 2>&1)"

# 1. Raw nvidia-smi, exactly the queries nornir_homehub/facts/gpu.py runs (at most 8 files
# come back from the device machine: keep the count low).
Q=index,uuid,name,driver_version,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,pstate,clocks.sm
{ nvidia-smi; nvidia-smi --version; } >"$OUT/raw-nvidia-smi.txt" 2>&1; note "nvidia-smi: exit $?"
R="$OUT/raw-query.csv"
echo "## --query-gpu --format=csv,noheader,nounits" >"$R"
nvidia-smi --query-gpu=$Q --format=csv,noheader,nounits >>"$R" 2>&1; note "query-gpu: exit $?"
echo "## --query-gpu --format=csv" >>"$R"
nvidia-smi --query-gpu=$Q --format=csv >>"$R" 2>&1
echo "## --query-compute-apps --format=csv" >>"$R"
nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv >>"$R" 2>&1
note "query-compute-apps: exit $?"
nvidia-smi -q -x >"$OUT/raw-q.xml" 2>&1; note "nvidia-smi -q -x: exit $?"

# 2. Dependencies: what is installed, else pure-Python copies carried in .homehub/devdeps
# (nornir, click, yaml, ruamel + their dist-info), else pip install -e . (may be offline).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! $PY -c "import nornir, click, yaml" >/dev/null 2>&1 && [ -d "$ROOT/.homehub/devdeps" ]; then
  export PYTHONPATH="$PYTHONPATH:$ROOT/.homehub/devdeps"
  note "using carried dependencies in .homehub/devdeps"
fi
if ! $PY -c "import nornir, click, yaml" >/dev/null 2>&1; then
  note "installing the project (pip install -e .), log in pip.log"
  PIP="$PY -m pip install -q --disable-pip-version-check --retries 0 --timeout 10"
  timeout 240 $PIP -e . >"$OUT/pip.log" 2>&1 || note "pip install -e . failed (offline?)"
fi
CFG=inventory/gpu-local/config.yaml

# 3. The real command, JSON and plain (a GPU host should exit 0; warnings do not fail).
if $PY -c "import nornir, click, yaml" >/dev/null 2>&1; then
  $PY -m nornir_homehub --config "$CFG" check gpu --json >"$OUT/check-gpu.json" 2>>"$S"
  note "check gpu --json: exit $?"
  $PY -m nornir_homehub --config "$CFG" check gpu >"$OUT/check-gpu.txt" 2>&1
  note "check gpu: exit $?"
  cat "$OUT/check-gpu.txt"
  # Optional: with torch present, hold ~1 GiB on the GPU so the processes check lists it.
  if $PY -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    $PY -c "import time, torch; x = torch.ones(1 << 28, device='cuda'); time.sleep(30)" &
    HOLDER=$!
    sleep 8
    $PY -m nornir_homehub --config "$CFG" check gpu >"$OUT/check-gpu-with-process.txt" 2>&1
    note "check gpu with a torch process (pid $HOLDER): exit $?"
    kill "$HOLDER" 2>/dev/null
    cat "$OUT/check-gpu-with-process.txt"
  fi
else
  # No dependencies could be installed: run the same pure parsers and evaluation (stdlib only)
  # on this machine's nvidia-smi, so the parsers are still exercised on real output.
  note "DEPENDENCIES MISSING (see pip.log): running the stdlib-only fallback, not the CLI"
  $PY - >"$OUT/check-gpu-fallback.txt" 2>&1 <<'EOF'
import json, subprocess
from nornir_homehub.checks.gpu import evaluate_gpu
from nornir_homehub.facts.gpu import gpu_commands, parse_gpu_facts
outs = {}
for name, cmd in gpu_commands().items():
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
    outs[name] = (p.returncode, p.stdout, p.stderr)
checks = evaluate_gpu("gpu-local", {"vendor": "nvidia"}, parse_gpu_facts(outs))
for c in checks:
    print(f"{str(c.status).upper():4} {c.host} {c.name}: {c.evidence}")
print(json.dumps([c.to_dict() for c in checks], indent=2))
EOF
  note "fallback: exit $?"
  cat "$OUT/check-gpu-fallback.txt"
fi
echo "--- summary"; cat "$S"
