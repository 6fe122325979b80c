"""``status``, ``drift`` and ``logs`` through the engine and the real CLI, without a lab.

The library commands run on the lab inventory's compute host with a scripted connection (the
stacks rendered with the lab vault, as a run renders them); the CLI runs with every connection
refused (hosts on a closed loopback port), so what a user sees when a host is down is checked
as the real command prints it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from bad_input import build_template, no_connections
from click.testing import CliRunner
from conftest import copy_lab_inventory
from operate_double import operate_script

from nornir_homehub.cli import cli
from nornir_homehub.config import load_nornir, load_settings
from nornir_homehub.connection_options import SSH_PLUGIN
from nornir_homehub.facts.logs import logs_command
from nornir_homehub.operate import find_drift, stack_logs, stack_status
from nornir_homehub.render import render_host
from nornir_homehub.secrets import load_secrets
from nornir_homehub.testing import Command, ScriptedHost


def _site(tmp_path: Path) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["history_dir"] = str(tmp_path / "runs")
    cfg["homehub"]["report_dir"] = str(tmp_path / "reports")
    config.write_text(yaml.safe_dump(cfg))
    # The scripted compute host (operate_double) runs ollama and qdrant only.
    groups = config.parent / "groups.yaml"
    data = yaml.safe_load(groups.read_text())
    data["compute"]["data"]["stacks"] = ["ollama", "qdrant"]
    groups.write_text(yaml.safe_dump(data))
    return config


def _compute(config: Path, script: list[Command]) -> tuple[Any, ScriptedHost]:
    nr = load_nornir(config).filter(name="compute")
    host = ScriptedHost("compute", script)
    nr.inventory.hosts["compute"].connections[SSH_PLUGIN] = host
    return nr, host


def _stacks(config: Path) -> tuple[list[Any], str]:
    """The compute host's stacks rendered with the lab vault, and the Qdrant key's value."""
    settings = load_settings(config)
    store = load_secrets(settings, environ={}, register=False)
    values = store.as_template_vars()
    nr = load_nornir(config)
    stacks = render_host(nr, nr.inventory.hosts["compute"], settings.stacks_path, values)
    return stacks, str(values["vault_qdrant_api_key"])


def test_status_gives_a_table_a_json_document_and_an_html_table(tmp_path: Path) -> None:
    config = _site(tmp_path)
    stacks, _key = _stacks(config)
    script, _ = operate_script(stacks)
    nr, host = _compute(config, script)
    table = stack_status(nr, load_settings(config))
    assert table.ok and host.commands_run == 1 and host.uploads == []
    doc = table.to_dict()
    assert doc["format"] == 1 and doc["command"] == "status" and doc["run_id"]
    assert [(s["host"], s["stack"], s["drifted"]) for s in doc["stacks"]] == [
        ("compute", "ollama", False),
        ("compute", "qdrant", False),
    ]
    assert (
        doc["stacks"][1]["containers"][0]["image"] == "192.0.2.133:5000/homehub-standin/qdrant:lab"
    )
    assert doc["stacks"][1]["release"]["current"] is True
    text = repr(table)
    head = "host stack container state health image digest uptime restarts release drift"
    assert text.splitlines()[0].split() == head.split()
    assert "compute  ollama  ollama" in text and "healthy" in text
    html = table._repr_html_()
    assert html.startswith("<table>") and "192.0.2.133:5000/homehub-standin/qdrant:lab" in html


def test_drift_names_the_hand_edited_file_and_changes_nothing(tmp_path: Path) -> None:
    config = _site(tmp_path)
    stacks, _key = _stacks(config)
    compose = next(s.compose_file for s in stacks if s.name == "qdrant")
    script, _ = operate_script(stacks, files={compose: "ab" * 32})
    nr, host = _compute(config, script)
    found = find_drift(nr, load_settings(config))
    assert found.drifted and host.uploads == [] and host.commands_run == 1
    assert found.checked == ("compute/ollama", "compute/qdrant")
    assert found.lines() == [
        f"DRIFT compute qdrant file {compose}: content differs from the rendered file "
        "(edited on the host?)",
        "    remedy: run `python -m nornir_homehub deploy --stacks qdrant --limit compute`",
    ]
    doc = found.to_dict()
    assert doc["drifted"] is True and doc["items"][0]["name"] == compose
    assert doc["items"][0]["kind"] == "file"


def test_logs_follow_prints_each_line_once_prefixed_and_redacted(tmp_path: Path) -> None:
    config = _site(tmp_path)
    _rendered, key = _stacks(config)
    first = (
        "qdrant | 2026-12-01T09:01:24.050977250Z starting Qdrant\n"
        f"qdrant | 2026-12-01T09:01:25.000000000Z api key {key} loaded\n"
    )
    again = (
        "qdrant | 2026-12-01T09:01:25.000000000Z api key loaded (repeated by --since)\n"
        "qdrant | 2026-12-01T09:01:30.000000000Z collection created\n"
    )
    script = [
        Command(logs_command("qdrant", tail=5), out=first, times=1),
        Command(logs_command("qdrant", since="2026-12-01T09:01:25.000000000Z"), out=again, times=1),
    ]
    nr, host = _compute(config, script)
    got: list[str] = []
    report = stack_logs(
        "qdrant", nr, load_settings(config), got.append, tail=5, follow=True, polls=1, interval=0
    )
    assert got == [
        "compute qdrant | starting Qdrant",
        "compute qdrant | api key <secret vault_qdrant_api_key> loaded",
        "compute qdrant | collection created",
    ]
    assert host.unused() == [] and not report.failed_hosts


def _refused_site(tmp_path: Path) -> Path:
    root = tmp_path / "case"
    return build_template(root)


def _invoke(config: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.chdir(config.parent.parent)
    with no_connections(monkeypatch) as attempts:
        res = CliRunner().invoke(cli, ["--config", str(config), *args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res, attempts


def test_status_json_with_hosts_down_names_each_host_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, attempts = _invoke(_refused_site(tmp_path), monkeypatch, "status", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["stacks"] == [] and sorted(doc["errors"]) == ["compute", "trusted"]
    assert attempts  # the hosts were tried (and refused), the dns host has no stacks
    assert "Traceback" not in res.output


def test_drift_with_hosts_down_is_not_a_clean_bill_of_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, _ = _invoke(_refused_site(tmp_path), monkeypatch, "drift")
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.stdout.splitlines() if ln.startswith("ERROR ")]
    assert [ln.split()[1].rstrip(":") for ln in errors] == ["compute", "dns", "trusted"]
    assert "compared: nothing" in res.stderr


def test_logs_with_the_host_down_says_which_host_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, _ = _invoke(_refused_site(tmp_path), monkeypatch, "logs", "qdrant", "--tail", "5")
    assert res.exit_code == 1, res.output
    assert res.stdout.startswith("compute error: ")


def test_the_notebook_gets_the_same_tables_with_the_hosts_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nornir_homehub import HomeHub

    config = _refused_site(tmp_path)
    monkeypatch.chdir(config.parent.parent)
    with no_connections(monkeypatch):
        table = HomeHub(config).filter(role="compute").status()
        found = HomeHub(config).filter(role="compute").drift()
    assert not table.ok and list(table.errors) == ["compute"]
    assert "<td>compute</td>" in table._repr_html_() and "<td>error</td>" in table._repr_html_()
    assert not found.drifted and list(found.errors) == ["compute"]
    assert found.to_dict()["checked"] == []
