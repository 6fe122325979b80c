"""``run``: an unknown runbook is a usage error (exit 2) naming the available ones."""

from __future__ import annotations

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
    ("text", "value"),
    [
        ("false", False),
        ("true", True),
        ("3", 3),
        ("0.5", 0.5),
        ("a,b", "a,b"),
        ("/srv/x", "/srv/x"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_runbook_option_values_are_typed_scalars(text: str, value: object) -> None:
    from nornir_homehub.cli.runbooks import _option_value

    assert _option_value(text) == value
    assert type(_option_value(text)) is type(value)
