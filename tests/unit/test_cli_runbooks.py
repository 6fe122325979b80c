"""``run``: an unknown runbook is a usage error (exit 2) naming the available ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import LAB_CONFIG, copy_lab_inventory

from nornir_homehub.cli import cli


def _books(tmp_path: Path, source: str, name: str = "mine") -> Path:
    """A copy of the lab inventory whose runbooks folder holds ``<name>.py``; its config."""
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    (books / f"{name}.py").write_text(source)
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    cfg["homehub"]["history_dir"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(cfg))
    return config


def test_unknown_runbook_exits_2_listing_the_available_ones() -> None:
    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "run", "nope"])
    assert res.exit_code == 2
    assert "no runbook 'nope'" in res.stderr
    for name in ("deploy", "dns", "example_uptime", "gpu", "rollout", "verify"):
        assert name in res.stderr


def test_unknown_runbook_in_a_user_folder(tmp_path: Path) -> None:
    config = _books(tmp_path, "def run(nr, ctx, **options):\n    pass\n")
    books = tmp_path / "books"
    (books / "_helper.py").write_text("")
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "nosuch"])
    assert res.exit_code == 2
    # The user's folder is searched first, then the built-in runbooks; both are listed.
    assert f"no runbook 'nosuch' in {books}, " in res.stderr
    available = res.stderr.split("available: ", 1)[1].split()
    assert "mine," in available and "deploy," in available and "_helper," not in available


def test_a_user_runbook_overrides_the_built_in_one(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = _books(
        tmp_path,
        f"from pathlib import Path\ndef run(nr, ctx, **options):\n    Path({str(marker)!r}).write_text('mine')\n",
        name="gpu",
    )
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "gpu"])
    assert res.exit_code == 0, res.output
    assert marker.read_text() == "mine"


def test_runbook_without_run_function_exits_2(tmp_path: Path) -> None:
    config = _books(tmp_path, "X = 1\n", name="broken")
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "broken"])
    assert res.exit_code == 2
    assert "has no run(nr, ctx, **options) function" in res.stderr


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (bool, "false", False),
        (bool, "yes", True),
        (int, "3", 3),
        (float, "0.5", 0.5),
        (float, "7", 7.0),
        (list, "a,b", ["a", "b"]),
        (str, "/srv/x", "/srv/x"),
        (str, "[1, 2]", "[1, 2]"),
        (dt.date, "2026-11-30", dt.date(2026, 11, 30)),
    ],
)
def test_runbook_option_values_are_typed_by_the_declaration(
    kind: type, text: str, value: object
) -> None:
    from nornir_homehub.runbook_options import Option

    parsed = Option("x", kind).from_text(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_run_help_shows_the_runbooks_options() -> None:
    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "run", "backup", "--help"])
    assert res.exit_code == 0, res.output
    assert "Runbook backup" in res.output
    assert "-o keep (integer): backup runs to keep per host" in res.output
    assert "-o fetch (text)" in res.output


def test_run_list_shows_every_runbook_with_its_options() -> None:
    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "run", "--list"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    names = [line.split(":")[0] for line in lines if not line.startswith(" ")]
    assert names == [
        "backup",
        "deploy",
        "dns",
        "example_uptime",
        "gpu",
        "gpu_metrics",
        "migrate",
        "restore",
        "rollout",
        "verify",
    ]
    assert "    -o disk_warn_pct (number, default 80): warn at this disk usage (%)" in lines


def test_a_runbook_without_declared_options_takes_its_keyword_parameters(tmp_path: Path) -> None:
    config = _books(
        tmp_path, "def run(nr, ctx, *, limit=3, name=None, **_):\n    raise SystemExit(0)\n"
    )
    from nornir_homehub.api import load_runbook_spec
    from nornir_homehub.config import load_settings

    book = load_runbook_spec(load_settings(config), "mine")
    assert [(o.name, o.type, o.default) for o in book.options] == [
        ("limit", int, 3),
        ("name", str, None),
    ]
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "mine", "-o", "limit=x"])
    assert res.exit_code == 2
    assert "-o limit: expected an integer, got 'x'" in res.stderr


@pytest.mark.parametrize(
    "name", ["backup", "deploy", "dns", "example_uptime", "gpu", "migrate", "rollout", "verify"]
)
def test_builtin_runbooks_declare_options_their_run_accepts(name: str) -> None:
    import inspect

    from nornir_homehub.api import load_runbook_spec
    from nornir_homehub.config import load_settings

    book = load_runbook_spec(load_settings(LAB_CONFIG), name)
    params = inspect.signature(book.run).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    explicit = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert book.options, f"{name} declares no OPTIONS"
    for option in book.options:
        assert option.name in explicit or takes_any, f"{name}.run() does not take {option.name}"
        if option.name in explicit:
            assert explicit[option.name].default == option.default, option.name
    # Every keyword the runbook's run() reads is declared (dns' dry_run is the CLI's --dry-run).
    undeclared = set(explicit) - {o.name for o in book.options} - {"dry_run"}
    assert undeclared == set(), f"{name}.run() takes undeclared options {undeclared}"


def test_homehub_run_checks_keyword_options_before_touching_hosts() -> None:
    from nornir_homehub import HomeHub
    from nornir_homehub.errors import ConfigError

    hh = HomeHub(LAB_CONFIG)
    with pytest.raises(ConfigError, match=r"unknown option 'kep' \(did you mean 'keep'\?\)"):
        hh.run("backup", kep=3)
    with pytest.raises(ConfigError, match=r"option keep: expected integer, got lots"):
        hh.run("backup", keep="lots")
    with pytest.raises(ConfigError, match=r"option stacks: empty list"):
        hh.deploy(stacks=[])


# Stages and gates: a user runbook whose local tasks connect nowhere (the lab hosts are only
# names here); the report and the exit code say which stage stopped the run.
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


def _run_gates(config: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "gates.json"
    res = CliRunner().invoke(
        cli, ["--config", str(config), "run", "gates", "--report", str(report), *extra]
    )
    return res.exit_code, json.loads(report.read_text())


def test_a_non_gating_stage_records_its_failure_and_the_run_goes_on(tmp_path: Path) -> None:
    code, doc = _run_gates(_books(tmp_path, GATES, name="gates"), tmp_path)
    assert code == 1
    stages = {s["name"]: s for s in doc["stages"]}
    # "look" failed on dns but declared gate=False: "gate" ran, failed on compute and stopped.
    assert list(stages) == ["look", "gate"]
    assert stages["look"]["failed_hosts"] == ["dns"] and stages["look"]["stopped"] is False
    assert stages["gate"]["stopped"] is True and stages["gate"]["failed_hosts"] == ["compute"]
    assert doc["stopped_at"] == {"stage": "gate", "reason": "compute: failed"}


def test_keep_going_makes_every_stage_non_gating(tmp_path: Path) -> None:
    code, doc = _run_gates(_books(tmp_path, GATES, name="gates"), tmp_path, "--keep-going")
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

    config = _books(tmp_path, GATES, name="gates")
    stopped = HomeHub(config).run("gates")
    assert [s.name for s in stopped.stages] == ["look", "gate"]
    assert stopped.stopped_at is not None and stopped.stopped_at.stage == "gate"
    going = HomeHub(config).run("gates", keep_going=True)
    assert [s.name for s in going.stages] == ["look", "gate", "after"]
    assert going.stopped_at is None and not going.ok
