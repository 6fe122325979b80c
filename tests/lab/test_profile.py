"""Issue 20 against the lab: every report says where the time went, ``--profile`` prints it.

A deploy that restarts exactly one container (a changed Ollama env value, on a private copy
of the lab inventory) goes through every phase of a changed stack; a later ``exec`` run shows
the phases of an ad-hoc command. Only sanity is asserted about the numbers (> 0, a host's
phases add up to no more than the run's wall time): speed is measured by benchmarks.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import yaml
from conftest import run_cli

from nornir_homehub.report import validate_report


def _set_keep_alive(config: Path, value: str) -> None:
    defaults_file = config.parent / "defaults.yaml"
    defaults = yaml.safe_load(defaults_file.read_text())
    defaults["data"]["ollama_keep_alive"] = value
    defaults_file.write_text(yaml.safe_dump(defaults, sort_keys=False))


def _report(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    validate_report(doc)
    return doc


def _sane(doc: dict[str, Any]) -> None:
    for host, per in doc["phases"].items():
        assert all(v > 0 for v in per.values()), (host, per)
        assert sum(per.values()) <= doc["duration_s"], (host, per, doc["duration_s"])


def test_a_deploy_that_restarts_ollama_reports_each_phase_and_profiles_it(
    lab_copy: Path, tmp_path: Path
) -> None:
    converge = run_cli("deploy", "--no-verify", "--stacks", "ollama,qdrant", config=lab_copy)
    assert converge.returncode == 0, converge.stderr[-3000:]
    _set_keep_alive(lab_copy, f"{uuid.uuid4().int % 1000 + 1}m")
    report = tmp_path / "deploy.json"
    res = run_cli(
        "--profile", "deploy", "--no-verify", "--stacks", "ollama,qdrant",
        "--report", str(report), config=lab_copy,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    doc = _report(report)
    compute = doc["phases"]["compute"]
    # The changed stack went through every phase of a deploy on its host.
    for name in ("connect", "render", "facts", "upload", "compose", "health"):
        assert name in compute, compute
    _sane(doc)
    # The table is on stderr, a column per phase, a row for the host.
    header = next(line for line in res.stderr.splitlines() if line.startswith("host "))
    assert header.split()[:4] == ["host", "connect", "render", "facts"]
    row = next(line for line in res.stderr.splitlines() if line.startswith("compute "))
    assert len(row.split()) == len(header.split())
    assert "wall time" in res.stderr
    # --profile changes nothing on stdout's JSON: a no-op now, still with its phases.
    again = run_cli(
        "--profile", "deploy", "--no-verify", "--stacks", "ollama,qdrant", "--json",
        config=lab_copy,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    noop = json.loads(again.stdout)
    assert not noop["summary"]["hosts_changed"]
    assert {"connect", "facts"} <= set(noop["phases"]["compute"])
    assert "upload" not in noop["phases"]["compute"]


def test_an_exec_report_has_connect_and_command_per_host(lab_copy: Path, tmp_path: Path) -> None:
    report = tmp_path / "exec.json"
    res = run_cli("exec", "--report", str(report), "--", "true", config=lab_copy)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = _report(report)
    assert set(doc["phases"]) == {"trusted", "compute", "dns"}
    for per in doc["phases"].values():
        assert set(per) == {"connect", "command"}
    _sane(doc)
    # Without --profile there is no table.
    assert "wall time" not in res.stderr
