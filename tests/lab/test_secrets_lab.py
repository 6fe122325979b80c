"""Secrets on the lab: what an operator sees never holds one, and no command line carries one.

- ``exec -- cat`` of a rendered ``.env`` file: the values are redacted in stdout, ``--json``,
  the report and the history.
- On a host without curl the Qdrant probe's API key is in no process's argv, sampled from
  /proc while the probe runs (Qdrant is paused, so the client waits until it has been seen);
  on a host with only BusyBox wget the keyed probe is not made and the check says what to
  install. Both converge once curl is back.
- An external provider's key, deployed and then taken out of the inventory: the dry-run diff
  shows ``<secret sha256:…>`` for the removed line, never the key.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT, run_cli
from leak_guard import assert_clean

from nornir_homehub.config import load_settings
from nornir_homehub.secrets import load_secrets
from nornir_homehub.testing.secret_scan import scan_bytes

HISTORY = ROOT / ".homehub" / "runs"
ENV_FILE = "/opt/stacks/litellm/.env.litellm"
HIDDEN = ".hh-hidden-by-test"


@pytest.fixture(scope="module")
def deployed(lab: Any) -> Any:
    """The lab fully deployed (a no-op when an earlier module deployed it)."""
    res = run_cli("deploy", "--no-verify")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return lab


def lab_value(name: str) -> str:
    store = load_secrets(load_settings(LAB_CONFIG), environ={}, register=False)
    return store.get(name).reveal()


def history_of(run_id: str) -> str:
    (path,) = HISTORY.glob(f"*-{run_id}.json")
    assert path.stat().st_mode & 0o777 == 0o600
    return path.read_text()


def test_lab_folder_is_owner_only(lab: Any) -> None:
    assert Path(lab.dir).stat().st_mode & 0o777 == 0o700


def test_exec_cat_of_the_env_file_shows_no_secret(deployed: Any, tmp_path: Path) -> None:
    report = tmp_path / "exec.json"
    plain = run_cli(
        "exec", "--filter", "name=trusted", "--report", str(report), "--", f"cat {ENV_FILE}"
    )
    as_json = run_cli("exec", "--filter", "name=trusted", "--json", "--", f"cat {ENV_FILE}")
    assert plain.returncode == 0, plain.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert "LITELLM_MASTER_KEY=<secret vault_litellm_master_key>" in plain.stdout.splitlines()
    doc = json.loads(as_json.stdout)
    (row,) = doc["hosts"]
    assert "LITELLM_MASTER_KEY=<secret vault_litellm_master_key>" in row["stdout"].splitlines()
    rep = json.loads(report.read_text())
    task_out = rep["hosts"]["trusted"]["tasks"][0]["result"]["stdout"]
    assert "LITELLM_MASTER_KEY=<secret vault_litellm_master_key>" in task_out.splitlines()
    assert_clean(
        plain.stdout,
        plain.stderr,
        as_json.stdout,
        report.read_text(),
        history_of(rep["run_id"]),
        history_of(doc["run_id"]),
    )
    # The file on the host really holds the key (the redaction is not an empty file).
    master = lab_value("vault_litellm_master_key")
    on_host = deployed.host_exec("trusted", f"cat {ENV_FILE}").stdout
    assert f"LITELLM_MASTER_KEY={master}" in on_host.splitlines()


# --------------------------------------------------------------------------- no curl


def mount_ns(lab: Any, host: str) -> str:
    return lab.host_exec(host, "readlink /proc/self/ns/mnt").stdout.strip()


def sample(ns: str, key: str) -> tuple[list[str], list[list[str]]]:
    """Processes of the host (mount namespace ``ns``) whose argv holds any form of ``key``;
    the argv of every wget client running right now."""
    leaks: list[str] = []
    clients: list[list[str]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "mnt") != ns:
                continue
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if scan_bytes(argv, {"vault_qdrant_api_key": key}):
            leaks.append(proc.name)
        args = [a.decode(errors="replace") for a in argv.split(b"\0") if a]
        # The probe asks `wget --version` first (GNU or BusyBox?): only a request is a client.
        if args and Path(args[0]).name == "wget" and "--version" not in args:
            clients.append(args)
    return leaks, clients


def hide(lab: Any, host: str, *tools: str) -> None:
    for tool in tools:
        res = lab.host_exec(host, f"mv /usr/bin/{tool} /usr/bin/{tool}{HIDDEN}")
        assert res.returncode == 0, res.stderr
    res = lab.host_exec(host, f"bash -lc 'command -v {' '.join(tools)}'")
    assert res.stdout.strip() == "", res.stdout


def unhide(lab: Any, host: str, *tools: str) -> None:
    for tool in tools:
        lab.host_exec(
            host, f"[ -e /usr/bin/{tool}{HIDDEN} ] && mv /usr/bin/{tool}{HIDDEN} /usr/bin/{tool}"
        )


def verify_qdrant() -> tuple[int, dict[str, Any]]:
    res = run_cli("verify", "--json", "--filter", "name=compute", "--stacks", "qdrant")
    assert res.stdout.strip(), res.stderr
    assert_clean(res.stdout, res.stderr)
    return res.returncode, json.loads(res.stdout)


def readyz(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == "http.qdrant.readyz")


def wait_healthy(lab: Any, container: str) -> None:
    """Running and healthy again (a pause fails its 1 s healthchecks meanwhile)."""
    fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lab.host_exec("compute", f"docker unpause {container}")
        state = lab.host_exec("compute", f"docker inspect -f '{fmt}' {container}").stdout.split()
        if state in (["running"], ["running", "healthy"]):
            return
        time.sleep(0.5)
    pytest.fail(f"{container} did not become healthy again")


def test_without_curl_the_probe_key_is_in_no_argv(deployed: Any) -> None:
    lab = deployed
    key = lab_value("vault_qdrant_api_key")
    ns = mount_ns(lab, "compute")
    assert ns
    done: dict[str, Any] = {}
    leaks: list[str] = []
    seen: list[list[str]] = []
    sweeps = 0
    try:
        hide(lab, "compute", "curl")
        # Paused, Qdrant accepts the connection but does not answer: the client waits there
        # until the sampler below has seen it, then Qdrant is let go.
        assert lab.host_exec("compute", "docker pause qdrant").returncode == 0
        worker = threading.Thread(target=lambda: done.update(result=verify_qdrant()))
        worker.start()
        deadline = time.monotonic() + 300
        while worker.is_alive() and time.monotonic() < deadline:
            found, clients = sample(ns, key)
            leaks += found
            sweeps += 1
            if clients and not seen:
                seen.extend(clients)
                lab.host_exec("compute", "docker unpause qdrant")
            time.sleep(0.01)
        worker.join(timeout=60)
    finally:
        lab.host_exec("compute", "docker unpause qdrant")
        unhide(lab, "compute", "curl")
        wait_healthy(lab, "qdrant")
    assert "result" in done, "verify did not finish"
    assert seen, f"no wget client seen in {sweeps} samples of compute's processes"
    client = seen[0]
    assert any(a.startswith("--config=") for a in client), client  # GNU wget, headers in a file
    assert "--header" not in client
    assert leaks == [], f"processes with the key in their argv: {leaks}"
    assert readyz(done["result"][1])["status"] != "warn"  # the probe was made (with wget)
    # With curl back, the next run converges.
    code, report = verify_qdrant()
    assert code == 0, report["checks"]
    assert readyz(report)["status"] == "pass"


def test_with_busybox_wget_only_the_keyed_probe_is_not_sent(deployed: Any) -> None:
    lab = deployed
    key = lab_value("vault_qdrant_api_key")
    ns = mount_ns(lab, "compute")
    leaks: list[str] = []
    done: dict[str, Any] = {}
    try:
        hide(lab, "compute", "curl", "wget")
        assert lab.host_exec("compute", "busybox wget --help").returncode == 0
        worker = threading.Thread(target=lambda: done.update(result=verify_qdrant()))
        worker.start()
        deadline = time.monotonic() + 300
        while worker.is_alive() and time.monotonic() < deadline:
            leaks += sample(ns, key)[0]
            time.sleep(0.01)
        worker.join(timeout=60)
    finally:
        unhide(lab, "compute", "curl", "wget")
    assert "result" in done, "verify did not finish"
    code, report = done["result"]
    check = readyz(report)
    assert check["status"] == "warn", check
    assert "not sent" in check["evidence"]
    assert "BusyBox wget takes request headers only on its command line" in check["evidence"]
    assert "install curl" in check["remedy"]
    assert code == 0  # a warning: the rest of the checks ran and passed
    assert leaks == []
    code, report = verify_qdrant()
    assert code == 0
    assert readyz(report)["status"] == "pass"


# --------------------------------------------------------------------------- external key


GPT = {
    "name": "gpt-4o",
    "provider": "openai",
    "model": "gpt-4o",
    "api_key_secret": "vault_openai_api_key",
}


def set_external(config: Path, models: list[dict[str, str]]) -> None:
    hosts_file = config.parent / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    hosts["trusted"]["data"]["litellm_external_models"] = models
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))


def test_removed_external_key_is_masked_in_the_dry_run_diff(deployed: Any, lab_copy: Path) -> None:
    lab = deployed
    key = "sk-ext-" + secrets.token_hex(20)
    env = {"HOMEHUB_SECRET_VAULT_OPENAI_API_KEY": key}
    only = ("--filter", "name=trusted", "--stacks", "litellm")
    set_external(lab_copy, [GPT])
    try:
        res = run_cli("deploy", *only, "--no-verify", config=lab_copy, env=env)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        on_host = lab.host_exec("trusted", f"cat {ENV_FILE}").stdout.splitlines()
        assert f"OPENAI_API_KEY={key}" in on_host
        set_external(lab_copy, [])
        plain = run_cli("deploy", *only, "--dry-run", config=lab_copy)
        as_json = run_cli("deploy", *only, "--dry-run", "--json", config=lab_copy)
        assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
        assert as_json.returncode == 0, as_json.stderr[-3000:]
        removed = re.compile(r"^-OPENAI_API_KEY=<secret sha256:[0-9a-f]{8}>$", re.MULTILINE)
        assert removed.search(plain.stdout), plain.stdout[-3000:]
        diffs = [
            t["diff"] for t in json.loads(as_json.stdout)["hosts"]["trusted"]["tasks"] if t["diff"]
        ]
        assert any(removed.search(d) for d in diffs), diffs
        assert_clean(plain.stdout, plain.stderr, as_json.stdout, extra={"external": key})
    finally:
        set_external(lab_copy, [])
        res = run_cli("deploy", *only, "--no-verify", config=lab_copy)
    # Converged: the key is gone from the host and the next run is a no-op.
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "OPENAI_API_KEY" not in lab.host_exec("trusted", f"cat {ENV_FILE}").stdout
    again = run_cli("deploy", *only, "--dry-run", "--json", config=lab_copy)
    assert again.returncode == 0
    assert json.loads(again.stdout)["summary"]["hosts_changed"] == 0
