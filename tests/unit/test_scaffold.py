"""homehub init: a site that renders right away, with strong secrets in a real Ansible vault."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner

from nornir_homehub.cli import cli
from nornir_homehub.secrets import decrypt_vault, encrypt_vault


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def ansible_vault_view(password_file: Path, vault: Path) -> str:
    """Decrypt with the real ansible-vault CLI (a test dependency: ansible-core)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_HOME"] = env["ANSIBLE_LOCAL_TEMP"] = str(vault.parent)
    proc = subprocess.run(
        ["ansible-vault", "view", "--vault-password-file", str(password_file), str(vault)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_init_writes_a_site_that_renders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    res = CliRunner().invoke(
        cli, ["init", str(site), "--domain", "lab.example", "--host", "compute=gpu1@198.51.100.7"]
    )
    assert res.exit_code == 0, res.output
    assert _mode(site) == 0o700
    assert _mode(site / ".vault_pass") == 0o600
    assert _mode(site / "inventory" / "vault.yml") == 0o600
    assert ".vault_pass" in (site / ".gitignore").read_text().split()
    hosts = yaml.safe_load((site / "inventory" / "hosts.yaml").read_text())
    assert {h["data"]["role"] for h in hosts.values()} == {"trusted", "compute", "dns"}
    assert hosts["gpu1"]["hostname"] == "198.51.100.7"
    # The vault opens with the real ansible-vault and holds three distinct strong secrets.
    secrets = yaml.safe_load(
        ansible_vault_view(site / ".vault_pass", site / "inventory" / "vault.yml")
    )
    assert set(secrets) == {
        "vault_webui_secret_key",
        "vault_qdrant_api_key",
        "vault_litellm_master_key",
    }
    assert len(set(secrets.values())) == 3
    assert all(len(v) >= 43 for v in secrets.values())
    assert secrets["vault_litellm_master_key"].startswith("sk-")
    # render works right after init, with the real secrets too.
    out = tmp_path / "r"
    res = CliRunner().invoke(
        cli,
        ["--config", str(site / "config.yaml"), "render", "--reveal-secrets", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    rendered = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert {p.split("/")[1] for p in rendered} == {"litellm", "openwebui", "ollama", "qdrant"}
    env = (out / "gpu1" / "qdrant" / ".env.qdrant").read_text()
    assert secrets["vault_qdrant_api_key"] in env
    assert "lab.example" in (out / "trusted-1" / "openwebui" / ".env.openwebui").read_text()


def test_init_with_a_given_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("given-password\n")
    site = tmp_path / "site"
    res = CliRunner().invoke(cli, ["init", str(site), "--vault-password-file", str(pw)])
    assert res.exit_code == 0, res.output
    assert not (site / ".vault_pass").exists()
    cfg = yaml.safe_load((site / "config.yaml").read_text())
    assert cfg["homehub"]["vault_password_file"] == str(pw.resolve())
    plain = decrypt_vault((site / "inventory" / "vault.yml").read_text(), "given-password")
    assert b"vault_webui_secret_key" in plain


def test_init_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    cases = [
        (["init", str(tmp_path / "full")], "not an empty folder"),
        (["init", str(tmp_path / "a"), "--domain", "not a domain"], "is not a DNS domain"),
        (["init", str(tmp_path / "b"), "--host", "gpu=x@1.2.3.4"], "unknown role 'gpu'"),
        (["init", str(tmp_path / "c"), "--host", "compute=x"], "expected ROLE=NAME@ADDRESS"),
        (
            ["init", str(tmp_path / "d"), "--host", "compute=../x@198.51.100.1"],
            "may use letters, digits",
        ),
    ]
    for args, message in cases:
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


def test_encrypt_vault_round_trips_through_ansible_vault(tmp_path: Path) -> None:
    text = encrypt_vault(b"a: 1\nb: two\n", "pw with spaces ")
    assert text.splitlines()[0] == "$ANSIBLE_VAULT;1.1;AES256"
    assert all(len(line) <= 80 for line in text.splitlines())
    (tmp_path / "v").write_text(text)
    (tmp_path / "p").write_text("pw with spaces\n")
    assert ansible_vault_view(tmp_path / "p", tmp_path / "v") == "a: 1\nb: two\n"
    assert encrypt_vault(b"x", "pw") != encrypt_vault(b"x", "pw")  # a fresh salt each time
