"""The same failure, through ``check gpu`` on the terminal and through `HomeHub` in a notebook.

The lab inventory's compute host is made this machine (``connection: local``) with a GPU and a
STAND-IN nvidia-smi first on PATH (tests only), so nothing is contacted over the network. The
CLI's lines and the notebook's `RunReport.check_lines()` must be the same lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import copy_lab_inventory

from nornir_homehub.cli import cli

DRIVER_DOWN = """#!/bin/sh
# STAND-IN for nvidia-smi (tests only): the driver does not answer.
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
exit 9
"""
GARBAGE = """#!/bin/sh
# STAND-IN for nvidia-smi (tests only): answers with output no nvidia-smi prints.
echo "not, a, gpu"
"""


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smi: str) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["history_dir"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(cfg))
    hosts_file = config.parent / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    hosts["compute"]["hostname"] = "localhost"
    hosts["compute"]["data"].update(connection="local", gpu={"vendor": "nvidia"})
    hosts_file.write_text(yaml.safe_dump(hosts))
    bindir = tmp_path / "standin-bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").write_text(smi)
    (bindir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return config


def _both(config: Path) -> tuple[list[str], list[str]]:
    from nornir_homehub import HomeHub

    res = CliRunner().invoke(cli, ["--config", str(config), "check", "gpu", "-l", "compute"])
    assert res.exit_code == 1, res.output
    report = HomeHub(config, limit="compute").check_gpu()
    assert not report.ok
    return res.stdout.splitlines(), report.check_lines()


def test_a_failed_check_reads_the_same_in_the_cli_and_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_lines, notebook_lines = _both(_site(tmp_path, monkeypatch, DRIVER_DOWN))
    assert cli_lines == notebook_lines
    assert cli_lines[0].startswith("FAIL compute gpu.driver: ")
    assert "couldn't communicate with the NVIDIA driver" in cli_lines[0]
    assert cli_lines[1].startswith("     remedy: ")


def test_a_host_that_cannot_be_checked_reads_the_same_in_the_cli_and_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_lines, notebook_lines = _both(_site(tmp_path, monkeypatch, GARBAGE))
    assert cli_lines == notebook_lines
    assert len(cli_lines) == 2
    assert cli_lines[0].startswith("FAIL compute gpu.host: GpuParseError: ")
    assert cli_lines[1] == (
        "     remedy: Check that the host is up and reachable over SSH: "
        "`python -m nornir_homehub exec --filter name=compute -- true`"
    )
