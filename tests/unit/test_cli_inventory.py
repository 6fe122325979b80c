"""``inventory`` and filters: selection without any connection."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli

from nornir_homehub.cli import cli

PROD = ROOT / "config.yaml"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"inventory must not connect (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(PROD), *args])


def test_filter_role_compute_lists_only_srv_prod_1(no_network: list[Any]) -> None:
    res = invoke("inventory", "--filter", "role=compute", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [h["name"] for h in data["hosts"]] == ["srv-prod-1"]
    assert data["hosts"][0]["hostname"] == "10.2.0.190"
    assert data["hosts"][0]["groups"] == ["compute"]
    assert no_network == []


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (["name=lxc-prod-2"], ["lxc-prod-2"]),
        (["group=dns"], ["ns-prod-PLACEHOLDER"]),
        (["domain=homehub.dk", "role=trusted"], ["lxc-prod-2"]),
        (["stacks=ollama"], ["srv-prod-1"]),
        ([], ["lxc-prod-2", "srv-prod-1", "ns-prod-PLACEHOLDER"]),
    ],
)
def test_filters_combine_with_and(
    terms: list[str], expected: list[str], no_network: list[Any]
) -> None:
    args = [a for t in terms for a in ("--filter", t)]
    res = invoke("inventory", *args, "--json")
    assert res.exit_code == 0, res.output
    assert [h["name"] for h in json.loads(res.output)["hosts"]] == expected


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("nosuchkey=1", "unknown filter key(s) nosuchkey; valid keys:"),
        ("role", "malformed filter 'role'"),
        ("role=nothing", "selects no host; hosts: lxc-prod-2 (role=trusted)"),
    ],
)
def test_bad_filters_exit_2_with_a_helpful_message(term: str, message: str) -> None:
    res = run_cli("inventory", "--filter", term, config=PROD)
    assert res.returncode == 2
    assert message in res.stderr
    assert res.stdout == ""


def test_unknown_key_message_lists_valid_keys() -> None:
    res = invoke("inventory", "--filter", "nosuchkey=1")
    assert res.exit_code == 2
    for key in ("role", "name", "group", "fqdn", "domain"):
        assert key in res.output


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    res = run_cli("inventory", config=tmp_path / "nope.yaml")
    assert res.returncode == 2 and "not found" in res.stderr


def test_derived_site_values_are_not_typed_twice() -> None:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.inventory import site_vars

    nr = load_nornir(PROD)
    values = site_vars(nr, nr.inventory.hosts["lxc-prod-2"])
    assert values["ai_compute_ip"] == "10.2.0.190"
    assert values["extra_hosts"] == {
        "ollama.homehub.dk": "10.2.0.190",
        "qdrant.homehub.dk": "10.2.0.190",
    }
    for f in ("defaults.yaml", "groups.yaml", "hosts.yaml"):
        assert "ai_compute_ip:" not in (ROOT / "inventory" / f).read_text()
        assert "extra_hosts:" not in (ROOT / "inventory" / f).read_text()


def test_derived_values_do_not_depend_on_the_filter() -> None:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.inventory import apply_filters, parse_filters, site_vars

    nr = apply_filters(load_nornir(PROD), parse_filters(["role=trusted"]))
    assert list(nr.inventory.hosts) == ["lxc-prod-2"]
    values = site_vars(nr, nr.inventory.hosts["lxc-prod-2"])
    assert values["ai_compute_ip"] == "10.2.0.190"
    assert values["extra_hosts"]["ollama.homehub.dk"] == "10.2.0.190"


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ("srv-prod-1", ["srv-prod-1"]),
        ("srv-prod-1,lxc-prod-2", ["lxc-prod-2", "srv-prod-1"]),
        ("trusted:dns", ["lxc-prod-2", "ns-prod-PLACEHOLDER"]),
        ("all,!dns", ["lxc-prod-2", "srv-prod-1"]),
        ("*-prod-*,&compute", ["srv-prod-1"]),
        ("all", ["lxc-prod-2", "ns-prod-PLACEHOLDER", "srv-prod-1"]),
    ],
)
def test_limit_as_ansible_users_type_it(
    no_network: list[Any], pattern: str, hosts: list[str]
) -> None:
    res = invoke("inventory", "--limit", pattern, "--json")
    assert res.exit_code == 0, res.output
    assert sorted(h["name"] for h in json.loads(res.output)["hosts"]) == hosts


def test_limit_and_filter_combine(no_network: list[Any]) -> None:
    res = invoke("inventory", "-l", "trusted,compute", "--filter", "role=compute", "--json")
    assert res.exit_code == 0, res.output
    assert [h["name"] for h in json.loads(res.output)["hosts"]] == ["srv-prod-1"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("srv-prod-2", "'srv-prod-2' matches no host or group (did you mean 'srv-prod-1'?)"),
        ("", "empty item"),
        ("trusted,,dns", "empty item"),
        ("trusted,&dns", "selects no host"),
    ],
)
def test_bad_limits_exit_2(no_network: list[Any], pattern: str, message: str) -> None:
    res = invoke("inventory", "--limit", pattern)
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert no_network == []


def test_homehub_limit(no_network: list[Any]) -> None:
    from nornir_homehub import HomeHub

    hh = HomeHub(PROD)
    assert hh.limit("trusted,compute").hosts() == ["lxc-prod-2", "srv-prod-1"]
    assert hh.limit("trusted,compute").limit("compute").hosts() == ["srv-prod-1"]
    assert hh.limit("all,!dns").filter(role="trusted").hosts() == ["lxc-prod-2"]


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("homehub lab ", "2", {"up", "down", "status"}), ("homehub dep", "1", {"deploy"})],
)
def test_bash_completion_of_the_homehub_script(words: str, cword: str, expected: set[str]) -> None:
    import shutil
    import subprocess
    import sys

    script = shutil.which("homehub", path=str(Path(sys.executable).parent)) or "homehub"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "COMP_WORDS": words,
        "COMP_CWORD": cword,
        "_HOMEHUB_COMPLETE": "bash_complete",
    }
    out = subprocess.run([script], env=env, capture_output=True, text=True, check=False).stdout
    assert {line.split(",", 1)[1] for line in out.splitlines()} == expected
    source = subprocess.run(
        [script],
        env={**env, "_HOMEHUB_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "complete -o nosort -F _homehub_completion homehub" in source
