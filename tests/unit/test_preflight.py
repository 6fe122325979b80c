"""What is refused before any host is touched, refused alike by the CLI and `HomeHub`.

The offline checks of a run's input (`nornir_homehub.preflight`): the same mistake gives the
CLI's exit 2 and `HomeHub`'s `ConfigError` with the same message, and leaves no report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nornir_homehub import HomeHub
from nornir_homehub.cli import cli
from nornir_homehub.errors import ConfigError


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
    config = _broken_zone(tmp_path)
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "deploy", "-o", "stacks=olama"])
    assert res.exit_code == 2, res.output
    with pytest.raises(ConfigError) as info:
        HomeHub(config).deploy(stacks=["olama"])
    assert "unknown stack(s) olama (did you mean 'ollama'?)" in str(info.value)
    assert res.stderr == f"error: {info.value}\n"
