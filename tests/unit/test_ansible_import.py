"""import-ansible on a layout like the seed guide's: the written site renders exactly like the
hand-written equivalent, YAML and INI inventories alike, and the Ansible vault is referenced
(never decrypted into a new file)."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nornir_homehub.ansible_import import host_roles, import_ansible, read_inventory
from nornir_homehub.cli import cli
from nornir_homehub.errors import ConfigError

CASE = Path(__file__).parent / "cases" / "ansible_import" / "guide"


def _render(config: Path, out: Path) -> None:
    res = CliRunner().invoke(
        cli, ["--config", str(config), "render", "--reveal-secrets", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
        assert (a / rel).stat().st_mode == (b / rel).stat().st_mode, rel


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A private copy of the case (the expected site refers to ../ansible)."""
    dest = tmp_path / "case"
    shutil.copytree(CASE, dest)
    return dest


@pytest.mark.parametrize("inventory", ["inventories/prod", "inventories/prod/hosts.ini"])
def test_import_renders_like_the_hand_written_site(
    layout: Path, tmp_path: Path, inventory: str
) -> None:
    ansible = layout / "ansible"
    if inventory.endswith(".ini"):
        (ansible / "inventories/prod/hosts.yml").unlink()
    vault = ansible / "inventories/prod/group_vars/all/vault.yml"
    vault_bytes = vault.read_bytes()
    site = tmp_path / "site"
    res = CliRunner().invoke(
        cli,
        [
            "import-ansible",
            str(ansible / inventory),
            "--out",
            str(site),
            "--vault-password-file",
            str(ansible / ".vault_pass"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "host nas-1: not imported" in res.output
    assert "'ansible_python_interpreter' dropped" in res.output
    _render(site / "config.yaml", tmp_path / "imported")
    _render(layout / "expected" / "config.yaml", tmp_path / "by-hand")
    _same_tree(tmp_path / "imported", tmp_path / "by-hand")
    # The secrets came through: the rendered env files hold the vault's values.
    env = (tmp_path / "imported/srv-prod-1/qdrant/.env.qdrant").read_text()
    assert "qdrant-test-secret-00000000000000000" in env
    # The Ansible vault is referenced as it is, and the inline value copied, not re-encrypted.
    cfg = yaml.safe_load((site / "config.yaml").read_text())
    assert str(vault.resolve()) in cfg["homehub"]["vault_file"]
    assert vault.read_bytes() == vault_bytes
    own = (site / "inventory/vault.yml").read_text()
    source = (ansible / "inventories/prod/group_vars/compute/qdrant.yml").read_text()
    blob = source.split("!vault |\n", 1)[1].split()
    assert own.split("!vault |\n", 1)[1].split() == blob
    assert (site / "inventory/vault.yml").stat().st_mode & 0o777 == 0o600


def test_groups_map_to_roles_with_role_options(layout: Path) -> None:
    inv = read_inventory(layout / "ansible/inventories/prod")
    roles, skipped = host_roles(inv, {"nas": "compute"})
    assert roles["nas-1"] == "compute" and skipped == []
    assert inv.groups_of("ns1") == ["proxmox_guests", "dns"]


def test_a_host_in_two_role_groups_is_refused(layout: Path) -> None:
    inv = read_inventory(layout / "ansible/inventories/prod")
    with pytest.raises(ConfigError, match=r"host lxc-prod-2 maps to roles dns, trusted"):
        host_roles(inv, {"proxmox_guests": "dns"})


def test_no_host_with_a_role_exits_2(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text("[web]\nw1 ansible_host=198.51.100.9\n")
    res = CliRunner().invoke(
        cli, ["import-ansible", str(tmp_path / "hosts.ini"), "--out", str(tmp_path / "s")]
    )
    assert res.exit_code == 2
    assert "no host of" in res.stderr and "groups: web" in res.stderr
    assert "--role GROUP=ROLE" in res.stderr
    assert not (tmp_path / "s").exists()


def test_host_ranges_and_ini_vars(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(
        "[compute]\ngpu[01:03] ansible_port=2222\n\n[compute:vars]\nollama_keep_alive=1h\n"
    )
    inv = read_inventory(tmp_path)
    assert sorted(inv.host_vars) == ["gpu01", "gpu02", "gpu03"]
    assert inv.merged_vars("gpu02") == {"ansible_port": 2222, "ollama_keep_alive": "1h"}


def test_a_bad_inventory_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    a: [\n")
    with pytest.raises(ConfigError, match=r"hosts.yml is not valid YAML at line \d"):
        read_inventory(tmp_path)
    (tmp_path / "hosts.yml").unlink()
    (tmp_path / "hosts").write_text("[x]\nh1 novalue\n")
    with pytest.raises(ConfigError, match=r"hosts:2: expected KEY=VALUE"):
        read_inventory(tmp_path)


def test_import_into_a_non_empty_folder_exits_2(layout: Path, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "x").write_text("")
    with pytest.raises(ConfigError, match="not an empty folder"):
        import_ansible(layout / "ansible/inventories/prod", tmp_path / "site")
