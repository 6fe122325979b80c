"""Leak paths of the CLI, end to end as subprocesses, on a host reached locally (no SSH).

`exec` and `check` load the vault like every command, so a secret typed on the command line or
printed by the remote command is redacted in stdout, ``--json``, the report and the history;
without a vault password they say that only the known values were redacted. Nornir's own log
file (enabled in a copy of the lab config) gets task errors redacted. A pytest session with a
planted secret fails, naming the file and the offset (the session-end scan, tests/leak_guard.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT, copy_lab_inventory, run_captured, run_cli
from leak_guard import assert_clean

from nornir_homehub.config import load_settings
from nornir_homehub.secrets import load_secrets

LAB = LAB_CONFIG.parent
PLANT = ROOT / "tests" / "fixtures" / "leak_guard" / "plant_secret.py"


def lab_values() -> dict[str, str]:
    store = load_secrets(load_settings(LAB_CONFIG), environ={}, register=False)
    return {n: store.get(n).reveal() for n in store.names()}


def local_config(tmp: Path, *, password: bool = True) -> Path:
    """A config whose one host is this machine (homehub_local), with the lab's vault."""
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(LAB / "vault.yml", tmp / "vault.yml")
    homehub: dict[str, Any] = {
        "stacks_dir": str(ROOT / "stacks"),
        "runbooks_dir": str(ROOT / "runbooks"),
        "vault_file": "vault.yml",
        "report_dir": str(tmp / "reports"),
        "history_dir": str(tmp / "runs"),
    }
    if password:
        shutil.copy(LAB / "vault_pass.txt", tmp / "vault_pass.txt")
        homehub["vault_password_file"] = "vault_pass.txt"
    (tmp / "hosts.yaml").write_text(
        "here:\n  hostname: localhost\n  data:\n    role: compute\n    connection: local\n"
        "    gpu: {vendor: nvidia}\n"
    )
    (tmp / "defaults.yaml").write_text("{}\n")
    cfg = {
        "inventory": {
            "plugin": "SimpleInventory",
            "options": {"host_file": "hosts.yaml", "defaults_file": "defaults.yaml"},
        },
        "runner": {"plugin": "threaded", "options": {"num_workers": 2}},
        "logging": {"enabled": False},
        "homehub": homehub,
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return tmp / "config.yaml"


NO_PASSWORD_ENV = {
    "HOMEHUB_VAULT_PASSWORD": "",
    "HOMEHUB_VAULT_PASSWORD_FILE": "",
    "ANSIBLE_VAULT_PASSWORD_FILE": "",
}


def test_exec_redacts_typed_and_printed_secrets_everywhere(tmp_path: Path) -> None:
    values = lab_values()
    key, master = values["vault_qdrant_api_key"], values["vault_litellm_master_key"]
    env_file = tmp_path / ".env.litellm"
    env_file.write_text(f"TZ=UTC\nLITELLM_MASTER_KEY={master}\n")
    env_file.chmod(0o600)
    config = local_config(tmp_path / "cfg")
    command = (
        f"echo typed {key}; cat {env_file}; printf %s {key} | base64; "
        f"printf %s {key} | od -An -tx1 -v | tr -d ' \\n'; echo; printf %s {key} | fold -w 7"
    )
    report = tmp_path / "report.json"
    plain = run_cli("exec", "--report", str(report), "--", command, config=config)
    assert plain.returncode == 0, plain.stderr
    as_json = run_cli("exec", "--json", "--", command, config=config)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    out = plain.stdout
    assert "typed <secret vault_qdrant_api_key>" in out
    assert "LITELLM_MASTER_KEY=<secret vault_litellm_master_key>" in out
    assert out.count("<secret vault_qdrant_api_key>") == 4  # raw, base64, hex, folded
    assert doc["command"].startswith("echo typed <secret vault_qdrant_api_key>;")
    assert doc["redaction_note"] is None
    assert "note:" not in plain.stderr
    assert "warning: the command line holds a secret" in plain.stderr
    history = sorted((tmp_path / "cfg" / "runs").iterdir())
    assert len(history) == 2
    texts = [out, plain.stderr, as_json.stdout, report.read_text()]
    texts += [p.read_text() for p in history]
    assert_clean(*texts)
    rep = json.loads(report.read_text())
    assert "--" in rep["argv"]
    assert "<secret vault_qdrant_api_key>" in " ".join(rep["argv"])
    stdout = rep["hosts"]["here"]["tasks"][0]["result"]["stdout"]
    assert "LITELLM_MASTER_KEY=<secret vault_litellm_master_key>" in stdout


def test_exec_without_the_vault_password_says_what_is_redacted(tmp_path: Path) -> None:
    token = "EnvTokenTypedOnExec0123456789"
    config = local_config(tmp_path / "cfg", password=False)
    env = {**NO_PASSWORD_ENV, "HOMEHUB_SECRET_EXEC_TOKEN": token}
    report = tmp_path / "r.json"
    res = run_cli(
        "exec", "--json", "--report", str(report), "--", f"echo {token}", config=config, env=env
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["hosts"][0]["stdout"] == "<secret exec_token>\n"
    note = doc["redaction_note"]
    assert note.startswith("the vault was not loaded (vault file")
    assert "only the values known without it (HOMEHUB_SECRET_* variables) are redacted" in note
    assert f"note: {note}" in res.stderr
    rep = json.loads(report.read_text())
    warned = [c for c in rep["checks"] if c["name"] == "secrets.redaction"]
    assert [(c["host"], c["status"]) for c in warned] == [("here", "warn")]
    assert "only the values known without it" in warned[0]["evidence"]
    assert rep["ok"] is True  # a warning, not a failure
    assert_clean(res.stdout, res.stderr, report.read_text(), extra={"token": token})


def test_check_without_the_vault_password_says_so(tmp_path: Path) -> None:
    config = local_config(tmp_path / "cfg", password=False)
    res = run_cli("check", "gpu", "--json", config=config, env=NO_PASSWORD_ENV)
    assert res.returncode in (0, 1), res.stderr  # this machine may have no GPU: a failed check
    assert "note: the vault was not loaded" in res.stderr
    assert json.loads(res.stdout)["checks"]


LEAKY_RUNBOOK = '''\
"""A user runbook whose task fails with an error that quotes a secret (wrapped over lines)."""

from nornir.core.task import Result, Task


def run(nr, ctx, **options):
    key = ctx.secrets().get("vault_qdrant_api_key").reveal()

    def call_upstream(task: Task) -> Result:
        raise RuntimeError(f"upstream refused key {key}; retry with\\n  {key[:11]}\\n  {key[11:]}")

    ctx.stage("leak", nr.filter(name="dns"), call_upstream)
'''


def test_nornir_log_file_gets_task_errors_redacted(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    cfg = yaml.safe_load(config.read_text())
    log = tmp_path / "nornir.log"
    cfg["logging"] = {"enabled": True, "level": "DEBUG", "log_file": str(log)}
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "leaky.py").write_text(LEAKY_RUNBOOK)
    cfg["homehub"]["runbooks_dir"] = str(runbooks)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = run_cli("run", "leaky", config=config)
    assert res.returncode == 1, res.stdout + res.stderr
    text = log.read_text()
    assert "Host 'dns': task 'leak' failed with traceback" in text, text[-2000:]
    assert "upstream refused key <secret vault_qdrant_api_key>" in text
    assert_clean(text, res.stdout, res.stderr)


@pytest.mark.parametrize("plant", [True, False], ids=["planted", "clean"])
def test_a_session_with_a_planted_secret_fails_naming_file_and_offset(plant: bool) -> None:
    base = Path(tempfile.mkdtemp(prefix="hh-leak-guard-"))
    try:
        env = {**os.environ, "HOMEHUB_PLANT": "1" if plant else "0"}
        env.pop("PYTEST_ADDOPTS", None)
        proc = run_captured(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--basetemp={base / 'tmp'}",
                str(PLANT),
            ],
            env=env,
            timeout=300,
        )
        out = proc.stdout + proc.stderr
        assert "lab hosts not scanned: the session did not use the lab" in out
        assert "1 passed" in out
        if plant:
            assert proc.returncode == 1, out
            assert "SECRET LEAK: " in out
            assert "secret scan FAILED: the session fails (exit 1)" in out
            assert "planted/artefact.txt: byte 33: secret vault_qdrant_api_key (raw)" in out
            assert "planted/report.json: byte 17: secret vault_qdrant_api_key (base64+1)" in out
        else:
            assert proc.returncode == 0, out
            assert "SECRET LEAK" not in out
        assert_clean(out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
