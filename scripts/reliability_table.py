"""Render docs/reliability.md from the fault suite's results (``.homehub/reliability.json``).

Run the fault suite first (``python3 -m pytest -m fault``), then this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / ".homehub" / "reliability.json"
DOC = ROOT / "docs" / "reliability.md"

HEADER = """# Reliability: faults injected for real, and what the next run does

Made by `scripts/reliability_table.py` from the results of the fault suite
(`python3 -m pytest -m fault`): each row is a lab test that injects the fault for real (kills
a process, cuts a link, fills a disk), asserts the exit code and the report's failing host,
layer and reason, checks that nothing partial was left and that the other hosts were not
affected, then removes the fault and asserts that the next run converges (exit 0, then a
no-op). A row is written only when all of its test's assertions passed.

| fault | outcome | converged on re-run | test |
| --- | --- | --- | --- |
"""


def main() -> int:
    """Write the table; exit 1 when there are no results to render."""
    try:
        rows = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        print(f"no results in {RESULTS}: run `python3 -m pytest -m fault` first", file=sys.stderr)
        return 1
    lines = [
        f"| {r['fault']} | {r['outcome']} | {'yes' if r['converged'] else '**no**'} "
        f"| `{r['test']}` |"
        for r in sorted(rows.values(), key=lambda r: r["test"])
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"wrote {DOC} ({len(lines)} faults)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
