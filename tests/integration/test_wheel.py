"""The wheel, installed alone into a fresh virtual environment outside the checkout.

It must carry the built-in stacks and runbooks: ``homehub init site`` then
``homehub --config site/config.yaml render --out r`` renders the four stacks there. The
wheel's dependencies come from the package index, as for a user.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_the_wheel_alone_inits_and_renders_a_site(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        tmp_path,
    )
    (wheel,) = dist.glob("nornir_homehub-*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    _run([str(env / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    homehub = str(env / "bin" / "homehub")
    _run([homehub, "init", "site"], work)
    res = _run([homehub, "--config", "site/config.yaml", "render", "--out", "r"], work)
    assert "rendered 9 files for 3 host(s)" in res.stdout
    stacks = {p.parent.name for p in (work / "r").glob("*/*/compose.yaml")}
    assert stacks == {"litellm", "openwebui", "ollama", "qdrant"}
    # The stacks came from the installed package, not from this checkout.
    where = _run(
        [
            str(env / "bin" / "python"),
            "-c",
            "from nornir_homehub import builtin; print(builtin.stacks_dir())",
        ],
        work,
    ).stdout.strip()
    assert str(env) in where and str(ROOT) not in where
    # The built-in runbooks travel too: an unknown name lists them.
    proc = subprocess.run(
        [homehub, "--config", "site/config.yaml", "run", "nosuch"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "deploy, dns" in proc.stderr and "verify" in proc.stderr
