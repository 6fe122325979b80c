"""``internal_dns``: how the trusted containers resolve the internal names, as rendered.

Offline (``render --out`` through the CLI on an edited copy of the lab inventory): the default
writes compose ``extra_hosts`` (the internal names -> the compute host); ``internal_dns: bind``
writes ``dns:`` with the dns host's address (or ``internal_dns_servers``) and no extra_hosts,
in both trusted stacks; the compute stacks do not change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import copy_lab_inventory

from nornir_homehub.cli import cli

TRUSTED = ("litellm", "openwebui")


def _render(tmp_path: Path, **data: object) -> Path:
    config = copy_lab_inventory(tmp_path / "inv")
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"].update(data)
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["--config", str(config), "render", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _compose(out: Path, stack: str) -> dict[str, object]:
    host = "trusted" if stack in TRUSTED else "compute"
    doc = yaml.safe_load((out / host / stack / "compose.yaml").read_text())
    (service,) = doc["services"].values()
    assert isinstance(service, dict)
    return service


def test_the_default_is_extra_hosts(tmp_path: Path) -> None:
    out = _render(tmp_path)
    for stack in TRUSTED:
        service = _compose(out, stack)
        assert service["extra_hosts"] == [
            "ollama.homehub.test:192.0.2.132",
            "qdrant.homehub.test:192.0.2.132",
        ]
        assert "dns" not in service


@pytest.mark.parametrize(
    ("data", "servers"),
    [
        ({"internal_dns": "bind"}, ["192.0.2.133"]),
        (
            {"internal_dns": "bind", "internal_dns_servers": ["192.0.2.133", "192.0.2.1"]},
            ["192.0.2.133", "192.0.2.1"],
        ),
    ],
)
def test_bind_asks_the_zones_server_and_writes_no_extra_hosts(
    tmp_path: Path, data: dict[str, object], servers: list[str]
) -> None:
    out = _render(tmp_path, **data)
    for stack in TRUSTED:
        service = _compose(out, stack)
        assert service["dns"] == servers
        assert "extra_hosts" not in service
        assert "extra_hosts" not in (out / "trusted" / stack / "compose.yaml").read_text()
    default = _render(tmp_path / "default")
    for stack in ("ollama", "qdrant"):
        assert (out / "compute" / stack / "compose.yaml").read_bytes() == (
            default / "compute" / stack / "compose.yaml"
        ).read_bytes()
