"""The README's main job with nothing but the wheel: a fresh venv outside the checkout runs
``homehub lab up`` and the full rollout on the lab config the lab writes for itself.

The session's lab is stopped for this test (the lab is machine-wide) and brought back after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def wheel_venv(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("nornir_homehub-*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    installed = _run([str(env / "bin" / "pip"), "install", "-q", f"{wheel}[lab]"], tmp_path)
    assert installed.returncode == 0, installed.stderr
    return env


@pytest.fixture
def lab_released(lab: Any) -> Iterator[Any]:
    """The session's lab, down for the test and up again afterwards."""
    lab.down()
    try:
        yield lab
    finally:
        assert lab.up(take_over=True).up


def test_the_wheel_runs_the_main_job_on_its_own_lab(
    wheel_venv: Path, lab_released: Any, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    homehub = str(wheel_venv / "bin" / "homehub")
    up = _run([homehub, "lab", "up"], work)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        config = work / ".homehub" / "lab" / "inventory" / "config.yaml"
        assert f"lab config (every path absolute): {config}" in up.stderr
        report = work / "lab.json"
        deployed = _run([homehub, "--config", str(config), "deploy", "--report", str(report)], work)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        data = json.loads(report.read_text())
        assert data["ok"] is True and data["summary"]["checks_fail"] == 0
        assert {s["name"] for s in data["stages"]} >= {"dns", "compute stacks", "trusted stacks"}
        # Nothing was written inside the installed package.
        site_packages = next((wheel_venv / "lib").glob("python3*/site-packages/nornir_homehub"))
        assert not (site_packages / ".homehub").exists()
    finally:
        down = _run([homehub, "lab", "down", "--purge"], work)
        assert down.returncode == 0, down.stderr
