"""The engine's stages and gates, through the CLI and `HomeHub`, with tasks that connect nowhere.

A user runbook's stages run local tasks on the lab inventory's hosts: nothing is contacted, the
report and the exit code say which stage stopped the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from conftest import copy_lab_inventory

from nornir_homehub.cli import cli

GATES = """
from nornir.core.task import Result


def fail_on(host):
    def task(task):
        return Result(host=task.host, failed=task.host.name == host, result="looked")

    return task


def run(nr, ctx, **_):
    ctx.stage("look", nr, fail_on("dns"), gate=False)
    ctx.stage("gate", nr, fail_on("compute"))
    ctx.stage("after", nr, fail_on(None))
"""


def _site(tmp_path: Path, source: str) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    (books / "gates.py").write_text(source)
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    cfg["homehub"]["history_dir"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(cfg))
    return config


def _run(config: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "gates.json"
    res = CliRunner().invoke(
        cli, ["--config", str(config), "run", "gates", "--report", str(report), *extra]
    )
    return res.exit_code, json.loads(report.read_text())


def test_a_non_gating_stage_records_its_failure_and_the_run_goes_on(tmp_path: Path) -> None:
    code, doc = _run(_site(tmp_path, GATES), tmp_path)
    assert code == 1
    stages = {s["name"]: s for s in doc["stages"]}
    # "look" failed on dns but declared gate=False: "gate" ran, failed on compute and stopped.
    assert list(stages) == ["look", "gate"]
    assert stages["look"]["failed_hosts"] == ["dns"] and stages["look"]["stopped"] is False
    assert stages["gate"]["stopped"] is True and stages["gate"]["failed_hosts"] == ["compute"]
    assert doc["stopped_at"] == {"stage": "gate", "reason": "compute: failed"}


def test_keep_going_makes_every_stage_non_gating(tmp_path: Path) -> None:
    code, doc = _run(_site(tmp_path, GATES), tmp_path, "--keep-going")
    assert code == 1
    assert [s["name"] for s in doc["stages"]] == ["look", "gate", "after"]
    assert doc["stopped_at"] is None and doc["ok"] is False
    assert {s["name"]: s["ok"] for s in doc["stages"]} == {
        "look": False,
        "gate": False,
        "after": True,
    }


def test_homehub_runs_the_same_gates(tmp_path: Path) -> None:
    from nornir_homehub import HomeHub

    config = _site(tmp_path, GATES)
    stopped = HomeHub(config).run("gates")
    assert [s.name for s in stopped.stages] == ["look", "gate"]
    assert stopped.stopped_at is not None and stopped.stopped_at.stage == "gate"
    going = HomeHub(config).run("gates", keep_going=True)
    assert [s.name for s in going.stages] == ["look", "gate", "after"]
    assert going.stopped_at is None and not going.ok


# --- what is refused before any host is touched: the same through the CLI and HomeHub ---------


def _broken_zone(tmp_path: Path) -> Path:
    from bad_input import build_template

    # Hosts on 127.0.0.1 at a port nothing listens on: a run that got as far as connecting fails.
    config = build_template(tmp_path / "case")
    defaults_file = config.parent / "defaults.yaml"
    defaults = yaml.safe_load(defaults_file.read_text())
    defaults["data"]["dns_records"] = [{"name": "nas", "type": "A", "value": "not-an-ip"}]
    defaults_file.write_text(yaml.safe_dump(defaults, sort_keys=False))
    return config


def test_a_broken_zone_is_refused_alike_by_the_cli_and_homehub(tmp_path: Path) -> None:
    import pytest

    from nornir_homehub import HomeHub
    from nornir_homehub.errors import ConfigError

    config = _broken_zone(tmp_path)
    res = CliRunner().invoke(cli, ["--config", str(config), "dns"])
    assert res.exit_code == 2, res.output
    with pytest.raises(ConfigError) as info:
        HomeHub(config).dns()
    assert "invalid A value 'not-an-ip'" in str(info.value)
    assert res.stderr == f"error: {info.value}\n"
    # Refused before the run: no report, no history entry.
    assert not (config.parent / "runs").exists()


def test_an_unknown_stack_is_refused_alike_by_the_cli_and_homehub(tmp_path: Path) -> None:
    import pytest

    from nornir_homehub import HomeHub
    from nornir_homehub.errors import ConfigError

    config = _broken_zone(tmp_path)
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "deploy", "-o", "stacks=olama"])
    assert res.exit_code == 2, res.output
    with pytest.raises(ConfigError) as info:
        HomeHub(config).deploy(stacks=["olama"])
    assert "unknown stack(s) olama (did you mean 'ollama'?)" in str(info.value)
    assert res.stderr == f"error: {info.value}\n"
