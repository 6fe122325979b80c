"""Issue 3 against the lab: deploy the stacks (four of the guide and the two of monitoring), idempotence, precise restarts, no leaks.

The tests run in order on one module-scoped lab state (each builds on the previous deploy).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT, run_cli

from nornir_homehub.config import load_nornir, load_settings
from nornir_homehub.connection import close_all
from nornir_homehub.render import render_host
from nornir_homehub.secrets import load_secrets

OUTPUTS: list[str] = []  # every stdout/stderr/report of this module, scanned for secrets


def cli(*args: str, config: Path = LAB_CONFIG, env: dict[str, str] | None = None) -> Any:
    res = run_cli(*args, config=config, env=env)
    OUTPUTS.extend([res.stdout, res.stderr])
    return res


def containers(lab: Any, host: str) -> dict[str, tuple[str, str]]:
    """Container name -> (id, started_at) of running compose containers on a lab host.

    Read with the package's own Docker fact, so the lab also checks its inspect template.
    """
    from nornir_homehub.connection import CommandResult
    from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers

    cmd = containers_command(label=PROJECT_LABEL)
    res = lab.host_exec(host, cmd)
    docker = parse_containers(CommandResult(cmd, res.returncode, res.stdout, res.stderr))
    assert docker.error is None, docker.error
    return {c.name: (c.id, c.started_at) for c in docker.containers if c.state == "running"}


def secret_values() -> list[str]:
    store = load_secrets(load_settings(LAB_CONFIG), register=False)
    return [store.get(n).reveal() for n in store.names()]


@pytest.fixture(scope="module")
def clean(lab: Any) -> Any:
    """Start from hosts without stacks (as a fresh server would be)."""
    for host in ("trusted", "compute"):
        lab.host_exec(
            host,
            'for d in /opt/stacks/*/; do [ -f "$d/compose.yaml" ] && '
            '(cd "$d" && docker compose -p "$(basename "$d")" down -v --remove-orphans); done; '
            "rm -rf /opt/stacks /srv/docker",
            timeout=180,
        )
    return lab


def test_compute_first_touches_nothing_on_trusted(clean: Any, tmp_path_factory: Any) -> None:
    lab = clean
    report = tmp_path_factory.mktemp("r") / "compute.json"
    res = cli("deploy", "--filter", "role=compute", "--no-verify", "--report", str(report))
    assert res.returncode == 0, res.stdout + res.stderr
    OUTPUTS.append(report.read_text())
    assert {"ollama", "qdrant"} <= set(containers(lab, "compute"))
    assert containers(lab, "trusted").keys() <= {"traefik", "authentik-outpost"}
    assert lab.host_exec("trusted", "ls /opt/stacks 2>/dev/null | wc -l").stdout.strip() == "0"
    data = json.loads(report.read_text())
    assert list(data["hosts"]) == ["compute"]
    # Ollama's post-deploy step pulled the configured model.
    listing = lab.host_exec("compute", "docker exec ollama ollama list").stdout
    assert "qwen2.5-coder:14b" in listing


def test_full_deploy_brings_up_trusted(clean: Any) -> None:
    lab = clean
    res = cli("deploy", "--no-verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert {"litellm", "open-webui"} <= set(containers(lab, "trusted"))


def test_files_on_hosts_equal_the_render(clean: Any) -> None:
    lab = clean
    nr = load_nornir(LAB_CONFIG)
    store = load_secrets(load_settings(LAB_CONFIG), register=False)
    settings = load_settings(LAB_CONFIG)
    try:
        for host in ("trusted", "compute"):
            for stack in render_host(
                nr, nr.inventory.hosts[host], settings.stacks_path, store.as_template_vars()
            ):
                for path, f in stack.files.items():
                    got = lab.host_exec(host, f"cat {path}").stdout.encode()
                    assert got == f.content, f"{host}:{path} differs from the render"
                    mode = lab.host_exec(host, f"stat -c %a {path}").stdout.strip()
                    assert int(mode, 8) == f.mode
                    if path.split("/")[-1].startswith(".env"):
                        assert mode == "600"
                for d in stack.data_dirs:
                    st = lab.host_exec(host, f"stat -c '%a %U' {d.path}").stdout.split()
                    assert st == [f"{d.mode:o}", d.owner]
    finally:
        close_all(nr)


def test_second_deploy_changes_nothing(clean: Any, tmp_path_factory: Any) -> None:
    lab = clean
    before = {h: containers(lab, h) for h in ("trusted", "compute")}
    report = tmp_path_factory.mktemp("r") / "noop.json"
    res = cli("deploy", "--no-verify", "--json", "--report", str(report))
    assert res.returncode == 0, res.stderr
    OUTPUTS.append(report.read_text())
    data = json.loads(res.stdout)
    assert data == json.loads(report.read_text())
    for host, rec in data["hosts"].items():
        assert rec["changed"] is False, host
        for t in rec["tasks"]:
            assert t["changed"] is False, (host, t["name"])
            if isinstance(t.get("result"), dict) and "bytes_uploaded" in t["result"]:
                assert t["result"]["bytes_uploaded"] == 0  # no file content transferred
    after = {h: containers(lab, h) for h in ("trusted", "compute")}
    assert after == before  # same container IDs and start times: nothing restarted


def test_one_value_changes_one_stack(clean: Any, lab_copy: Path) -> None:
    lab = clean
    defaults = lab_copy.parent / "defaults.yaml"
    data = yaml.safe_load(defaults.read_text())
    data["data"]["ollama_keep_alive"] = "12h"  # used by the ollama stack only
    defaults.write_text(yaml.safe_dump(data, sort_keys=False))
    before = {h: containers(lab, h) for h in ("trusted", "compute")}

    dry = cli("deploy", "--dry-run", "--no-verify", config=lab_copy)
    assert dry.returncode == 0, dry.stderr
    diff_lines = [
        ln
        for ln in dry.stdout.splitlines()
        if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))
    ]
    assert diff_lines == ["-OLLAMA_KEEP_ALIVE=24h", "+OLLAMA_KEEP_ALIVE=12h"]
    assert "compute stack:ollama: would compose up" in dry.stdout
    assert "stack:qdrant: would" not in dry.stdout and "stack:litellm: would" not in dry.stdout
    assert {h: containers(lab, h) for h in ("trusted", "compute")} == before  # dry run: untouched
    assert (
        "OLLAMA_KEEP_ALIVE=24h"
        in lab.host_exec("compute", "cat /opt/stacks/ollama/.env.ollama").stdout
    )

    res = cli("deploy", "--no-verify", config=lab_copy)
    assert res.returncode == 0, res.stdout + res.stderr
    after = {h: containers(lab, h) for h in ("trusted", "compute")}
    assert after["compute"]["ollama"] != before["compute"]["ollama"]  # restarted
    assert after["compute"]["qdrant"] == before["compute"]["qdrant"]
    assert after["trusted"] == before["trusted"]
    # Back to the repository's inventory for the tests that follow.
    assert cli("deploy", "--no-verify").returncode == 0


def test_mounted_config_change_recreates_litellm_only(clean: Any, lab_copy: Path) -> None:
    lab = clean
    defaults = lab_copy.parent / "defaults.yaml"
    data = yaml.safe_load(defaults.read_text())
    data["data"]["ollama_models"] = ["qwen2.5-coder:14b", "llama3.2:3b"]
    defaults.write_text(yaml.safe_dump(data, sort_keys=False))
    before = containers(lab, "trusted")
    res = cli("deploy", "--no-verify", "--filter", "role=trusted", config=lab_copy)
    assert res.returncode == 0, res.stdout + res.stderr
    after = containers(lab, "trusted")
    assert after["litellm"] != before["litellm"]
    assert after["open-webui"] == before["open-webui"]
    assert "recreate litellm" in res.stdout
    assert cli("deploy", "--no-verify", "--filter", "role=trusted").returncode == 0


def test_unhealthy_stack_fails_with_its_last_log_lines(clean: Any, lab_copy: Path) -> None:
    lab = clean
    # A STAND-IN that crashes at start, built on the compute host for this test only.
    build = lab.host_exec(
        "compute",
        'printf \'FROM homehub-standin/qdrant:lab\\nENTRYPOINT ["sh", "-c", '
        '"echo qdrant-test: storage is corrupted >&2; exit 3"]\\n\' | '
        "docker build -q -t homehub-test/crashing-qdrant:lab -",
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    defaults = lab_copy.parent / "defaults.yaml"
    data = yaml.safe_load(defaults.read_text())
    data["data"]["images"]["qdrant"] = "homehub-test/crashing-qdrant:lab"
    data["data"]["deploy_wait_timeout"] = 8
    defaults.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        res = cli(
            "deploy",
            "--no-verify",
            "--filter",
            "role=compute",
            "--stacks",
            "qdrant",
            config=lab_copy,
        )
        assert res.returncode == 1
        out = " ".join(res.stdout.split())  # the summary wraps long messages
        # It exits at once; its restart policy restarts it: either is seen first.
        assert re.search(r"container qdrant (is (exited|restarting)|restarted \d+ time)", out), out
        assert "qdrant-test: storage is corrupted" in out
        assert "StackFailed" in out and "[container]" in out
    finally:
        assert cli("deploy", "--no-verify", "--filter", "role=compute").returncode == 0
    assert "qdrant" in containers(lab, "compute")


def test_missing_secret_exits_2_before_touching_hosts(clean: Any, lab_copy: Path) -> None:
    (lab_copy.parent / "vault_pass.txt").write_text("wrong-password\n")
    res = cli("deploy", "--dry-run", config=lab_copy)
    assert res.returncode == 2
    assert "wrong vault password" in res.stderr and "vault.yml" in res.stderr


def test_no_secret_in_any_output(clean: Any) -> None:
    history = ROOT / ".homehub" / "runs"
    texts = list(OUTPUTS)
    if history.is_dir():
        texts += [p.read_text() for p in history.glob("*.json")]
    for h in clean.hosts:
        for log in clean.host_dir(h.name).glob("*.log"):
            texts.append(log.read_text(errors="replace"))
    assert len(texts) > 10
    for value in secret_values():
        for text in texts:
            assert value not in text
