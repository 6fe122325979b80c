"""A STAND-IN nvidia-smi for a lab host (there is no GPU here): it prints the REAL captures.

The lab's compute host has no GPU. To exercise the deploy's GPU gate on it, a lab-copy
inventory declares a GPU there and this script, installed as ``/usr/local/bin/nvidia-smi``
inside that host only (its own copy-on-write root), answers the queries nornir_homehub makes
with the H100 captures of ``tests/fixtures/gpu/`` (idle): nothing in it is made up.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

FIX = Path(__file__).parents[1] / "fixtures" / "gpu"
PATH = "/usr/local/bin/nvidia-smi"


def standin_script() -> str:
    """The stand-in's text, the captures embedded (the lab host cannot see the repository)."""
    csv = (FIX / "query-gpu-idle.csv").read_text().splitlines()[1]
    xml = (FIX / "nvidia-smi-q-idle.xml").read_text()
    text = (FIX / "nvidia-smi-idle.txt").read_text()
    return (
        "#!/bin/sh\n"
        "# STAND-IN for nvidia-smi (lab tests only; no GPU here): REAL captures from\n"
        "# tests/fixtures/gpu/ (an idle H100), installed by tests/lab/gpu_standin.py.\n"
        'case "$*" in\n'
        f"  *--query-gpu*nounits*) cat <<'HOMEHUB_CSV'\n{csv}\nHOMEHUB_CSV\n  ;;\n"
        "  *--query-compute-apps*) ;;\n"
        f"  *-q*-x*) cat <<'HOMEHUB_XML'\n{xml.rstrip()}\nHOMEHUB_XML\n  ;;\n"
        f"  *) cat <<'HOMEHUB_TXT'\n{text.rstrip()}\nHOMEHUB_TXT\n  ;;\n"
        "esac\n"
    )


def install(lab: Any, host: str) -> None:
    """Install the stand-in inside lab host ``host``."""
    script = shlex.quote(standin_script())
    res = lab.host_exec(host, f"printf '%s' {script} > {PATH} && chmod 0755 {PATH}")
    assert res.returncode == 0, res.stderr


def remove(lab: Any, host: str) -> None:
    """Remove the stand-in from lab host ``host``."""
    lab.host_exec(host, f"rm -f {PATH}")
