"""``run``: an unknown runbook is a usage error (exit 2) naming the available ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import LAB_CONFIG, copy_lab_inventory

from nornir_homehub.cli import cli


def test_unknown_runbook_exits_2_listing_the_available_ones() -> None:
    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "run", "nope"])
    assert res.exit_code == 2
    assert "no runbook 'nope'" in res.stderr
    for name in ("deploy", "dns", "example_uptime", "gpu", "rollout", "verify"):
        assert name in res.stderr


def test_unknown_runbook_in_a_user_folder(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    (books / "mine.py").write_text("def run(nr, ctx, **options):\n    pass\n")
    (books / "_helper.py").write_text("")
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    config.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "nosuch"])
    assert res.exit_code == 2
    # The user's folder is searched first, then the built-in runbooks; both are listed.
    assert f"no runbook 'nosuch' in {books}, " in res.stderr
    available = res.stderr.split("available: ", 1)[1].split()
    assert "mine," in available and "deploy," in available and "_helper," not in available


def test_a_user_runbook_overrides_the_built_in_one(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    marker = tmp_path / "ran"
    (books / "gpu.py").write_text(
        f"from pathlib import Path\ndef run(nr, ctx, **options):\n    Path({str(marker)!r}).write_text('mine')\n"
    )
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    config.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "gpu"])
    assert res.exit_code == 0, res.output
    assert marker.read_text() == "mine"


def test_runbook_without_run_function_exits_2(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    (books / "broken.py").write_text("X = 1\n")
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    config.write_text(yaml.safe_dump(cfg))
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


def _books(tmp_path: Path, source: str) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    books = tmp_path / "books"
    books.mkdir()
    (books / "mine.py").write_text(source)
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    config.write_text(yaml.safe_dump(cfg))
    return config


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
        "migrate",
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
