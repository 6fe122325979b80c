"""The pieces under the bad-input contract: YAML loading, schema helpers, outputs, bugs, secrets."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
import ruamel.yaml
import yaml
from bad_input import apply_edits, build_template
from click.testing import CliRunner
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.cli import cli
from nornir_homehub.errors import ConfigError
from nornir_homehub.yamlfile import load_yaml

# -- the bounded loader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: 0750",
        "a: yes",
        "a: off",
        "a: 1_000",
        "a: 0o17",
        "a: 0x1f",
        "a: 1:20",
        "a: 1e3",
        "a: .5",
        "a: -12",
        "a: True",
        "a: ~",
        "a: 2026-11-30",
        "a: .inf",
    ],
)
def test_inventory_scalars_read_as_nornir_reads_them(text: str, tmp_path: Path) -> None:
    # The inventory is validated with the values SimpleInventory (ruamel, YAML 1.2) will use.
    path = tmp_path / "x.yaml"
    path.write_text(text)
    ours = load_yaml(path, yaml12=True).data["a"]
    theirs = ruamel.yaml.YAML(typ="safe").load(text)["a"]
    assert ours == theirs
    assert type(ours) is type(theirs)


def test_config_scalars_keep_pyyaml_reading(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: yes\nb: 0750\n")
    assert load_yaml(path).data == yaml.safe_load(path.read_text())


def test_every_key_and_item_keeps_its_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("top:\n  list:\n    - first\n    - second: {deep: 1}\n  other: 2\n")
    doc = load_yaml(path)
    assert doc.line(["top", "list", 1, "second", "deep"]) == 4
    assert doc.line(["top", "other"]) == 5
    assert doc.line(["top", "missing", "more"]) == 1  # nearest ancestor
    assert doc.at(["top", "list", 0]) == f"{path}:3"


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")  # 10**12 values once expanded
    with pytest.raises(ConfigError, match=r"bomb.yaml:\d+: aliases expand to more than 200000"):
        load_yaml(path, max_values=200_000)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {x: 1}\none:\n  <<: *b\n  y: 2\ntwo: *b\n")
    assert load_yaml(path).data == {"base": {"x": 1}, "one": {"x": 1, "y": 2}, "two": {"x": 1}}


# -- schema helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("192.0.2.131", True),
        ("::1", True),
        ("srv-prod-1.homehub.dk", True),
        ("localhost", True),
        ("127.0.0.300", False),
        ("10.2.0", False),
        ("fe80::1::2", False),
        ("bad_host", False),
        ("-lead.example", False),
        ("a" * 64 + ".example", False),
        ("", False),
        (12, False),
    ],
)
def test_addresses_are_ips_or_dns_names(value: object, ok: bool) -> None:
    from nornir_homehub.validate import address_problem

    assert (address_problem(value) is None) is ok


def test_every_extra_connection_py_reads_is_declared() -> None:
    # connection.py reads extras by name; a key it reads but validation does not declare would
    # be refused at load (and a declared key it ignores would be a silent no-op).
    from nornir_homehub.connection_options import INTERNAL_EXTRAS, LOCAL_OPTIONS, SSH_OPTIONS

    source = "".join(p.read_text() for p in (ROOT / "nornir_homehub" / "connection").glob("*.py"))
    read = set(re.findall(r"extras(?:\.get\(|\[)\"(\w+)\"", source))
    declared = {o.name for o in SSH_OPTIONS + LOCAL_OPTIONS} | INTERNAL_EXTRAS
    assert read, "no extras found: the pattern no longer matches connection.py"
    assert read <= declared, f"read but not declared: {read - declared}"


def test_allowed_networks_are_parsed_or_refused_naming_the_variable() -> None:
    from nornir_homehub.safety import parse_networks

    assert parse_networks("") is None
    assert parse_networks("  ") is None
    nets = parse_networks("192.0.2.128/26, 127.0.0.0/8,")
    assert nets is not None
    assert [str(n) for n in nets] == ["192.0.2.128/26", "127.0.0.0/8"]
    with pytest.raises(ConfigError, match=r"HOMEHUB_ALLOWED_NETWORKS=.*'lab' is not a network"):
        parse_networks("127.0.0.0/8,lab")


def test_an_inventory_from_another_plugin_is_checked_after_loading(tmp_path: Path) -> None:
    from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
    from nornir.core.plugins.inventory import InventoryPluginRegister

    from nornir_homehub.config import load_nornir

    class BadPortInventory:
        def __init__(self, **_: Any) -> None:
            pass

        def load(self) -> Inventory:
            defaults = Defaults()
            host = Host("box", hostname="127.0.0.1", port=99999, data={"role": "compute"})
            return Inventory(hosts=Hosts(box=host), groups=Groups(), defaults=defaults)

    InventoryPluginRegister.register("BadPortInventory", BadPortInventory)
    try:
        config = tmp_path / "config.yaml"
        config.write_text("inventory:\n  plugin: BadPortInventory\nhomehub: {}\n")
        with pytest.raises(ConfigError) as exc:
            load_nornir(config)
    finally:
        InventoryPluginRegister.deregister("BadPortInventory")
    assert "<inventory plugin BadPortInventory>" in str(exc.value)
    assert "box.port: port 99999 is out of range" in str(exc.value)


# -- output paths ------------------------------------------------------------------------------


def test_safe_join_stays_inside_its_folder(tmp_path: Path) -> None:
    from nornir_homehub.outputs import safe_join

    out = tmp_path / "out"
    out.mkdir()
    assert (
        safe_join(out, "compute", "ollama", "compose.yaml") == out / "compute/ollama/compose.yaml"
    )
    for parts in (("..", "x"), ("/etc", "passwd"), ("a/../../x",), ("",)):
        with pytest.raises(ConfigError, match="refusing to write"):
            safe_join(out, *parts)
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(ConfigError, match="outside"):
        safe_join(out, "link", "x")


def test_output_checks_create_nothing(tmp_path: Path) -> None:
    from nornir_homehub.outputs import check_output_dir, check_output_file

    assert check_output_file(str(tmp_path / "a" / "b" / "r.json"), "--report")
    assert check_output_dir(str(tmp_path / "c" / "d"), "--out")
    assert sorted(os.listdir(tmp_path)) == []


# -- unexpected exceptions ---------------------------------------------------------------------


def _crashing_copy(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "case"
    config = build_template(root)
    apply_edits(
        root,
        [
            {"file": ["books/crash.py", body]},
            {"set": ["config.yaml", ["homehub", "runbooks_dir"], "books"]},
        ],
    )
    return config


def test_a_bug_prints_one_line_and_saves_the_traceback_0600_redacted(tmp_path: Path) -> None:
    config = _crashing_copy(
        tmp_path,
        "def run(nr, ctx):\n"
        "    key = ctx.secrets().as_template_vars()['vault_qdrant_api_key']\n"
        "    raise RuntimeError('boom with ' + key)\n",
    )
    from nornir_homehub.config import load_settings
    from nornir_homehub.secrets import load_secrets

    value = load_secrets(load_settings(config), register=False).as_template_vars()
    secret = value["vault_qdrant_api_key"]
    res = CliRunner().invoke(cli, ["--config", str(config), "run", "crash"])
    assert res.exit_code == 70, res.output
    assert "Traceback" not in res.output
    assert secret not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "unexpected error in runbook" in lines[0]
    saved = Path(lines[0].split("full traceback in ")[1])
    assert saved.parent == config.parent / "reports"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    text = saved.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom with" in text
    assert secret not in text


def test_a_bug_in_the_library_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nornir_homehub.inventory

    def broken(host: Any) -> dict[str, Any]:
        raise KeyError("fqdn")

    monkeypatch.setattr(nornir_homehub.inventory, "host_summary", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "inventory"])
    assert res.exit_code == 70
    assert "internal error (a bug): KeyError: 'fqdn'; full traceback in" in res.stderr
    assert "Traceback" not in res.output
    [saved] = tmp_path.glob("homehub-crash-*.txt")
    assert "KeyError: 'fqdn'" in saved.read_text()


# -- secrets in rendered files -----------------------------------------------------------------


def _qdrant_vars(**secret: str) -> dict[str, Any]:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.inventory import site_vars

    nr = load_nornir(LAB_CONFIG)
    return {**site_vars(nr, nr.inventory.hosts["compute"]), **secret}


def test_a_short_secret_in_ordinary_text_does_not_make_a_file_secret() -> None:
    from nornir_homehub.render import render_stack
    from nornir_homehub.stackspec import load_stack

    # "qdrant" also appears in compose.yaml (service and container name): not a placement.
    rs = render_stack(
        load_stack(ROOT / "stacks", "qdrant"), _qdrant_vars(vault_qdrant_api_key="qdrant")
    )
    files = {Path(f.path).name: f for f in rs.files.values()}
    assert files["compose.yaml"].secret is False
    assert files["compose.yaml"].mode == 0o644
    assert files[".env.qdrant"].secret is True


def test_a_long_secret_leaking_into_a_world_readable_file_is_refused() -> None:
    from nornir_homehub.render import render_stack
    from nornir_homehub.stackspec import load_stack

    value = "Leaked-Secret-Value-7"
    variables = _qdrant_vars(vault_qdrant_api_key=value)
    variables["images"] = {**variables["images"], "qdrant": f"registry/{value}:1"}
    with pytest.raises(ConfigError) as exc:
        render_stack(load_stack(ROOT / "stacks", "qdrant"), variables)
    assert "vault_qdrant_api_key" in str(exc.value)
    assert "compose.yaml with mode 0644" in str(exc.value)
    assert value not in str(exc.value)
