"""Connection extras in seconds are checked when the inventory loads: exit 2, no host touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import copy_lab_inventory, run_cli


def _with_extras(tmp_path: Path, **extras: object) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    defaults_file = config.parent / "defaults.yaml"
    defaults = yaml.safe_load(defaults_file.read_text())
    defaults["connection_options"]["homehub_ssh"]["extras"].update(extras)
    defaults_file.write_text(yaml.safe_dump(defaults, sort_keys=False))
    return config


@pytest.mark.parametrize(
    ("key", "value", "need"),
    [
        ("keepalive_timeout", "soon", "a positive number of seconds"),
        ("keepalive_interval", -1, "a number of seconds >= 0 (0: off)"),
        ("command_timeout", 0, "a positive number of seconds"),
        ("connect_timeout", True, "a positive number of seconds"),
    ],
)
def test_bad_seconds_exit_2_naming_host_and_key(
    tmp_path: Path, key: str, value: object, need: str
) -> None:
    res = run_cli("inventory", config=_with_extras(tmp_path, **{key: value}))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"connection_options.homehub_ssh.extras.{key}: must be {need}" in res.stderr
    assert "defaults.yaml:" in res.stderr
    assert "Traceback" not in res.stderr


def test_keepalives_may_be_turned_off(tmp_path: Path) -> None:
    res = run_cli("inventory", config=_with_extras(tmp_path, keepalive_interval=0))
    assert res.returncode == 0, res.stderr
