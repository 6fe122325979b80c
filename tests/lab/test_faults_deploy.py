"""Issue 10, the deploy faults: each injected for real into the lab, then removed.

Every test asserts (a) the exit code and the report's failing host, layer and reason; (b) that
nothing partial is left (file bytes on the host, the stacks' state records, the containers);
(c) that the other hosts are unaffected; (d) that with the fault removed the next run
converges (exit 0) and the one after is a no-op (changed false everywhere). Each ends with its
row in the session's fault table (``scripts/reliability_table.py`` -> docs/reliability.md).

Faults: compose up on an image tag that does not exist; the controller SIGKILLed after a
mounted-config upload and before compose; a container that turns healthy, then crash-loops (the
stand-ins' STANDIN_EXIT_AFTER knob); dockerd stopped on compute (by its PID); the stacks root
full on trusted (a small tmpfs over /opt/stacks in the host's mount namespace, filled with dd);
both of the last two in one run with --keep-going; a container removed between ``docker ps``
and ``docker inspect``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT, run_cli

from nornir_homehub.report import validate_report

SECRET_ENV = "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY"
CHANGED_SECRET = "homehub-fault-suite-webui-key-3f1a"  # a test value, not a lab secret
STATE = ".homehub-state.json"
GATE = "/run/hh-fault-gate"
WRAPPER = "/usr/local/sbin/docker"


# --- helpers ---------------------------------------------------------------------------------


def host(lab: Any, name: str, command: str, timeout: float = 120) -> str:
    res = lab.host_exec(name, command, timeout=timeout)
    assert res.returncode == 0, f"{name}: {command}: {res.stdout}{res.stderr}"
    return str(res.stdout)


def snapshot(lab: Any, name: str, *, containers: bool = True) -> dict[str, Any]:
    """What a user would check on a host: every file under the stacks root with its hash (so a
    leftover temp file shows), the state records' bytes, the compose containers."""
    files = host(
        lab,
        name,
        "[ -d /opt/stacks ] && cd /opt/stacks && find . -type f -exec sha256sum {} + "
        "| sort -k2 || true",
    )
    states = host(
        lab,
        name,
        f"for f in /opt/stacks/*/{STATE}; do [ -f $f ] && echo $f && cat $f && echo; done; true",
    )
    out: dict[str, Any] = {"files": files, "states": states}
    if containers:
        out["containers"] = host(
            lab,
            name,
            "docker ps -aq --filter label=com.docker.compose.project | xargs -r docker inspect "
            "--format '{{.Name}} {{.Id}} {{.State.Status}} {{.RestartCount}}' | sort",
        )
    return out


def container_id(lab: Any, name: str, container: str) -> str:
    return host(lab, name, f"docker inspect --format '{{{{.Id}}}}' {container}").strip()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    validate_report(data)
    return data


def task_errors(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The errors of a host's tasks that failed on their own (not "subtask failed")."""
    return [
        t["error"]
        for t in data["hosts"][name]["tasks"]
        if t["error"] and t["error"]["type"] != "NornirSubTaskError"
    ]


def one_error(data: dict[str, Any], name: str) -> dict[str, Any]:
    errors = task_errors(data, name)
    assert len(errors) == 1, errors
    assert data["hosts"][name]["failed"] is True
    return errors[0]


def stack_failed(data: dict[str, Any], name: str) -> dict[str, Any]:
    """(a): the one error of host ``name``, a StackFailed on layer container."""
    err = one_error(data, name)
    assert (err["type"], err["layer"]) == ("StackFailed", "container"), err
    return err


def failed_deploy(
    tmp_path: Path,
    report_name: str,
    *args: str,
    config: Path = LAB_CONFIG,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    """(a): a deploy (``args`` before ``--report``) that exits 1.

    Returns its process, its report (validated) and the report's path.
    """
    report = tmp_path / report_name
    res = run_cli("deploy", *args, "--report", str(report), config=config, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    return res, load(report), report


def trusted_plan(data: dict[str, Any], stack: str) -> dict[str, Any]:
    """The plan (the ``stack:<stack>`` task's result) of ``stack`` on trusted in a report."""
    return next(  # type: ignore[no-any-return]
        t["result"] for t in data["hosts"]["trusted"]["tasks"] if t["name"] == f"stack:{stack}"
    )


def edit_copy(config: Path, **data: Any) -> None:
    """Set site values in a lab inventory copy's defaults.yaml (``images__openwebui=...``)."""
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    for key, value in data.items():
        where = doc["data"]
        *parents, last = key.split("__")
        for p in parents:
            where = where[p]
        where[last] = value
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))


def converges(config: Path = LAB_CONFIG, env: dict[str, str] | None = None) -> None:
    """(d): a deploy exits 0, and the one after it is a no-op (changed false everywhere)."""
    res = run_cli("deploy", config=config, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    noop = run_cli("deploy", "--no-verify", "--json", config=config, env=env)
    assert noop.returncode == 0, noop.stdout[-3000:] + noop.stderr[-3000:]
    data = json.loads(noop.stdout)
    changed = [(h, t["name"]) for h, v in data["hosts"].items() for t in v["tasks"] if t["changed"]]
    assert changed == [] and data["summary"]["hosts_changed"] == 0, changed


def rendered(config: Path, name: str, path: str, env: dict[str, str] | None = None) -> str:
    """sha256 of the file the deploy would write at ``path`` on host ``name``."""
    from nornir_homehub.config import load_nornir, load_settings
    from nornir_homehub.connection import close_all
    from nornir_homehub.render import render_host
    from nornir_homehub.secrets import load_secrets

    nr = load_nornir(config)
    try:
        secrets = load_secrets(
            load_settings(config), environ={**os.environ, **(env or {})}, register=False
        )
        for stack in render_host(
            nr, nr.inventory.hosts[name], ROOT / "stacks", secrets.as_template_vars()
        ):
            if path in stack.files:
                return hashlib.sha256(stack.files[path].content).hexdigest()
    finally:
        close_all(nr)
    raise AssertionError(f"{name} renders no {path}")


def remote_sha(lab: Any, name: str, path: str) -> str:
    return host(lab, name, f"sha256sum {path}").split()[0]


def record(fault_table: Any, request: pytest.FixtureRequest, fault: str, outcome: str) -> None:
    """The fault's row: the outcome observed, and that the next run converged (asserted)."""
    fault_table.record(fault=fault, outcome=outcome, converged=True, test=str(request.node.nodeid))


@pytest.fixture(scope="module")
def converged(lab: Any) -> Any:
    """Every stack deployed and the run after it a no-op: the state each fault starts from."""
    converges()
    return lab


def _docker_wrapper(lab: Any, name: str, body: str) -> None:
    """Put a ``docker`` wrapper first on the PATH of the host's SSH sessions (fault injection)."""
    real = host(lab, name, "command -v docker").strip()
    assert real and real != WRAPPER, real
    script = f'#!/bin/sh\n# fault injection by tests/lab/test_faults_deploy.py\n{body}\nexec {real} "$@"\n'
    host(lab, name, f"cat > {WRAPPER} <<'EOF'\n{script}EOF\nchmod 755 {WRAPPER}")
    seen = run_cli("exec", "--filter", f"name={name}", "--", "command -v docker")
    assert seen.stdout.split()[-1:] == [WRAPPER] or WRAPPER in seen.stdout, seen.stdout


def _remove_wrapper(lab: Any, name: str) -> None:
    lab.host_exec(name, f"rm -f {WRAPPER} {GATE} {GATE}.pid /run/hh-race-armed")


def _stop_dockerd(lab: Any, name: str) -> None:
    pid = lab.stop_dockerd(name, timeout=30)
    assert pid, "the lab's dockerd pid file is missing"


def _start_dockerd(lab: Any, name: str) -> None:
    """Start the host's dockerd again (as `lab up` does), unless it already runs."""
    lab.start_dockerd(name)


FILL = (
    "set -e; rm -rf /run/hh-stacks-copy; cp -a /opt/stacks /run/hh-stacks-copy; "
    "mount -t tmpfs -o size=2m hh-fault-full /opt/stacks; cp -a /run/hh-stacks-copy/. /opt/stacks/; "
    "dd if=/dev/zero of=/opt/stacks/.hh-fill bs=4k 2>/dev/null || true; "
    "df -k /opt/stacks | tail -n 1"
)
UNFILL = (
    "if grep -q ' /opt/stacks tmpfs' /proc/mounts; then umount /opt/stacks; fi; "
    "rm -rf /run/hh-stacks-copy"
)


@pytest.fixture
def trusted_full(converged: Any) -> Iterator[Any]:
    """trusted's stacks root is a full 2 MiB tmpfs holding the deployed files (then removed)."""
    try:
        free = host(converged, "trusted", FILL).split()
        assert free[3] == "0", free  # no block left
        yield converged
    finally:
        converged.host_exec("trusted", UNFILL)
    assert " /opt/stacks tmpfs" not in host(converged, "trusted", "cat /proc/mounts")


@pytest.fixture
def compute_dockerd_down(converged: Any) -> Iterator[Any]:
    """dockerd on compute stopped by its PID (the lab's pid file), started again afterwards."""
    _stop_dockerd(converged, "compute")
    try:
        yield converged
    finally:
        _start_dockerd(converged, "compute")


# --- the faults --------------------------------------------------------------------------------


@pytest.mark.fault
def test_compose_up_fails_on_an_image_tag_that_does_not_exist(
    converged: Any, lab_copy: Path, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = converged
    edit_copy(lab_copy, images__openwebui="192.0.2.133:5000/homehub-standin/openwebui:no-such-tag")
    before = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute")
    old_webui = container_id(lab, "trusted", "open-webui")
    _, data, _ = failed_deploy(tmp_path, "fail.json", "--no-verify", config=lab_copy)
    err = one_error(data, "trusted")
    # The deploy's pre-pull asks the lab registry first: its own answer, before anything changed.
    assert (err["type"], err["layer"]) == ("ImagePullFailed", "container"), err
    assert "stack openwebui" in err["message"] and "manifest unknown" in err["message"], err
    assert data["stopped_at"]["stage"] == "trusted stacks"
    # (b) the old container keeps running; nothing of the stack was written (files, state).
    after = snapshot(lab, "trusted")
    assert container_id(lab, "trusted", "open-webui") == old_webui
    assert after == before
    assert snapshot(lab, "compute") == compute  # (c)
    # With the fault still there the next run pulls again (no false "nothing to do").
    again = run_cli("deploy", "--no-verify", "--json", config=lab_copy)
    assert again.returncode == 1
    assert "manifest unknown" in again.stdout
    # (d) the tag fixed (the lab's inventory): converges, then a no-op.
    converges()
    # The old container already runs what the fixed inventory describes: Compose keeps it.
    assert container_id(lab, "trusted", "open-webui") == old_webui
    record(
        fault_table,
        request,
        "an image tag that does not exist in the registry",
        "exit 1; trusted, layer container: ImagePullFailed names the stack with the registry's "
        "own error (pre-pull, before any file is written); the old container keeps running; "
        "nothing written or recorded, so the next run pulls again",
    )


@pytest.mark.fault
def test_run_killed_after_a_mounted_config_upload_before_compose(
    converged: Any, lab_copy: Path, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = converged
    config = "/opt/stacks/litellm/config/config.yaml"
    hosts = lab_copy.parent / "hosts.yaml"
    doc = yaml.safe_load(hosts.read_text())
    doc["trusted"]["data"]["ollama_models"] = ["qwen2.5-coder:14b", "homehub-fault:1b"]
    # LiteLLM lists a model only once a compute host has it: compute pulls it in step (d).
    doc["compute"]["data"]["ollama_models"] = ["qwen2.5-coder:14b", "homehub-fault:1b"]
    hosts.write_text(yaml.safe_dump(doc, sort_keys=False))
    new_config = rendered(lab_copy, "trusted", config)
    assert new_config != remote_sha(lab, "trusted", config)
    before = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute")
    old_litellm = container_id(lab, "trusted", "litellm")
    # A gate on trusted: while armed, any `docker compose` sleeps instead of running, so the run
    # is caught exactly after its uploads and before compose.
    _docker_wrapper(
        lab,
        "trusted",
        f'if [ "$1" = compose ] && [ -f {GATE} ]; then echo $$ > {GATE}.pid; exec sleep 600; fi',
    )
    host(lab, "trusted", f"touch {GATE}")
    cmd = [
        sys.executable,
        "-m",
        "nornir_homehub",
        "--config",
        str(lab_copy),
        "deploy",
        "--no-verify",
        "--filter",
        "role=trusted",
        "--stacks",
        "litellm",
        "--report",
        str(tmp_path / "killed.json"),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while lab.host_exec("trusted", f"test -s {GATE}.pid").returncode != 0:
            assert proc.poll() is None, f"the deploy ended (exit {proc.returncode}) before compose"
            assert time.monotonic() < deadline, "the deploy never reached compose"
            time.sleep(0.2)
        # The new config is on the host, complete; now the controller dies.
        assert remote_sha(lab, "trusted", config) == new_config
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        pid = lab.host_exec("trusted", f"cat {GATE}.pid").stdout.strip()
        if pid.isdigit():
            lab.host_exec("trusted", f"kill {pid}")
        _remove_wrapper(lab, "trusted")
    # (a) a SIGKILLed controller leaves no report: no run claims to have finished.
    assert not (tmp_path / "killed.json").exists()
    # (b) the container was not recreated and the state record still describes it.
    after = snapshot(lab, "trusted")
    assert container_id(lab, "trusted", "litellm") == old_litellm
    assert after["states"] == before["states"]
    assert ".homehub-" not in after["files"].replace(STATE, "")
    assert snapshot(lab, "compute") == compute  # (c)
    # (d) the next run, same inputs: nothing to upload, yet litellm is recreated (the state
    # says config.yaml was never applied), then a no-op.
    report = tmp_path / "next.json"
    res = run_cli("deploy", "--no-verify", "--report", str(report), config=lab_copy)
    assert res.returncode == 0, res.stdout + res.stderr
    plan = trusted_plan(load(report), "litellm")
    assert plan["files"] == [] and plan["recreate"] == ["litellm"], plan
    assert any("config/config.yaml not applied yet" in r for r in plan["reasons"]), plan
    assert container_id(lab, "trusted", "litellm") != old_litellm
    converges(lab_copy)
    converges()  # back to the lab's inventory
    host(lab, "compute", "docker exec ollama ollama rm homehub-fault:1b")
    record(
        fault_table,
        request,
        "the controller dies (SIGKILL) after a mounted-config upload, before compose",
        "no report (killed); the new config is on the host complete, the container and the "
        "state record are the old ones; the next run uploads nothing and recreates litellm "
        "because the state's per-file hash says config.yaml was never applied",
    )


@pytest.mark.fault
def test_a_container_healthy_then_crash_looping_fails_the_deploy(
    converged: Any, lab_copy: Path, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = converged
    # A STAND-IN variant whose server exits 2 s after each start (the stand-ins' fault knob).
    host(
        lab,
        "trusted",
        "printf 'FROM homehub-standin/openwebui:lab\\nENV STANDIN_EXIT_AFTER=2\\n' | "
        "DOCKER_BUILDKIT=0 docker build -q -t homehub-test/openwebui-crashloop:lab -",
    )
    # A 5 s stable window: the knob's exit at 2 s falls inside it however fast "healthy" came.
    edit_copy(
        lab_copy,
        images__openwebui="homehub-test/openwebui-crashloop:lab",
        deploy_stable_window=5,
    )
    before = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute")
    litellm = container_id(lab, "trusted", "litellm")
    # --no-rollback: this test is about the failure itself (test_releases covers the rollback).
    res, data, report = failed_deploy(
        tmp_path, "crash.json", "--no-verify", "--no-rollback", config=lab_copy
    )
    msg = stack_failed(data, "trusted")["message"]
    assert "stack openwebui: container open-webui" in msg, msg
    assert "restarted" in msg or "is restarting" in msg or "is exited" in msg, msg
    # the report carries the container's last log lines
    assert "fault knob STANDIN_EXIT_AFTER=2: exiting 1" in msg, msg
    assert CHANGED_SECRET not in res.stdout + res.stderr + report.read_text()
    after = snapshot(lab, "trusted")
    assert after["states"] == before["states"]  # (b) not recorded as deployed
    assert container_id(lab, "trusted", "litellm") == litellm  # (c) the other stack, host
    assert snapshot(lab, "compute") == compute
    converges()  # (d)
    lab.host_exec("trusted", "docker rmi homehub-test/openwebui-crashloop:lab >/dev/null 2>&1")
    record(
        fault_table,
        request,
        "a container turns healthy, then crash-loops",
        "exit 1; trusted, layer container: StackFailed says open-webui restarted (or is "
        "restarting) after it was up and carries its last log lines (redacted); no state record",
    )


@pytest.mark.fault
def test_dockerd_stopped_on_compute(
    compute_dockerd_down: Any, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = compute_dockerd_down
    trusted = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute", containers=False)
    _, data, _ = failed_deploy(tmp_path, "dockerd.json")
    err = stack_failed(data, "compute")
    assert "compute: Docker Engine not usable" in err["message"], err
    assert "Cannot connect to the Docker daemon" in err["message"], err
    assert data["stopped_at"]["stage"] == "compute stacks"  # the gate held: trusted untouched
    assert [s["name"] for s in data["stages"]] == ["dns", "compute stacks"]
    assert snapshot(lab, "compute", containers=False) == compute  # (b) nothing written
    assert snapshot(lab, "trusted") == trusted  # (c)
    _start_dockerd(lab, "compute")  # the fault removed (the fixture's restart is then a no-op)
    converges()  # (d)
    record(
        fault_table,
        request,
        "dockerd stopped on compute",
        "exit 1; compute, layer container: 'Docker Engine not usable (Cannot connect to the "
        "Docker daemon ...)' before any upload; the gate stops the run, trusted untouched",
    )


@pytest.mark.fault
def test_disk_full_under_the_stacks_root(
    trusted_full: Any, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = trusted_full
    env = {SECRET_ENV: CHANGED_SECRET}  # a changed secret: .env.openwebui must be written
    env_file = "/opt/stacks/openwebui/.env.openwebui"
    before = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute")
    res, data, report = failed_deploy(tmp_path, "full.json", "--no-verify", env=env)
    err = stack_failed(data, "trusted")
    assert f"stack openwebui: cannot write {env_file}" in err["message"], err
    assert (
        "No space left on device" in err["message"] and "KiB free on /opt/stacks" in err["message"]
    )
    # (b) the old file intact byte for byte, no temp file, state and containers unchanged
    assert snapshot(lab, "trusted") == before
    assert CHANGED_SECRET not in res.stdout + res.stderr + report.read_text()
    assert snapshot(lab, "compute") == compute  # (c)
    lab.host_exec("trusted", UNFILL)
    converges(env=env)  # (d) the same inputs, the disk free again
    converges()
    record(
        fault_table,
        request,
        "disk full under the stacks root (tmpfs on /opt/stacks, filled with dd)",
        "exit 1; trusted, layer container: 'cannot write .../.env.openwebui: No space left on "
        "device; 0 KiB free on /opt/stacks'; old file intact, no temp file, no state",
    )


@pytest.mark.fault
def test_two_hosts_failing_differently_in_one_run(
    trusted_full: Any, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = trusted_full
    env = {SECRET_ENV: CHANGED_SECRET}
    trusted = snapshot(lab, "trusted")
    compute = snapshot(lab, "compute", containers=False)
    _stop_dockerd(lab, "compute")
    try:
        _, data, _ = failed_deploy(tmp_path, "two.json", "--keep-going", "--no-verify", env=env)
        c_err, t_err = one_error(data, "compute"), one_error(data, "trusted")
        assert c_err["layer"] == t_err["layer"] == "container"
        assert "compute: Docker Engine not usable" in c_err["message"], c_err
        assert "No space left on device" in t_err["message"], t_err
        assert "Docker Engine" not in t_err["message"] and "space" not in c_err["message"]
        assert data["stopped_at"] is None  # --keep-going: every stage ran
        by = {s["name"]: s for s in data["stages"]}
        assert by["dns"]["ok"] is True and data["hosts"]["dns"]["failed"] is False
        assert by["compute stacks"]["failed_hosts"] == ["compute"]
        assert by["trusted stacks"]["failed_hosts"] == ["trusted"]
        assert snapshot(lab, "trusted") == trusted  # (b)
        assert snapshot(lab, "compute", containers=False) == compute
    finally:
        _start_dockerd(lab, "compute")
    lab.host_exec("trusted", UNFILL)
    converges(env=env)  # (d)
    converges()
    record(
        fault_table,
        request,
        "two hosts failing differently in one run (--keep-going)",
        "exit 1; compute: 'Docker Engine not usable', trusted: 'No space left on device', "
        "each with its own reason on layer container; dns ok; nothing partial",
    )


@pytest.mark.fault
def test_a_container_removed_between_docker_ps_and_docker_inspect(
    converged: Any, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    lab = converged
    marker = "homehub-fault-bystander-env-9d4e"
    # Two containers outside compose: one vanishes mid-listing, the other holds an environment
    # value that must never reach any output (other containers' env = their secrets).
    host(
        lab,
        "compute",
        "docker rm -f hh-race hh-bystander >/dev/null 2>&1; "
        "docker run -d --name hh-race homehub-standin/qdrant:lab >/dev/null && "
        f"docker run -d --name hh-bystander -e HH_BYSTANDER={marker} "
        "homehub-standin/qdrant:lab >/dev/null",
    )
    real_rm = host(lab, "compute", "command -v docker").strip()
    _docker_wrapper(
        lab,
        "compute",
        '[ "$1" = inspect ] && [ -f /run/hh-race-armed ] && rm -f /run/hh-race-armed && '
        f"{real_rm} rm -f hh-race >/dev/null 2>&1",
    )
    try:
        host(lab, "compute", "touch /run/hh-race-armed")
        report = tmp_path / "race.json"
        res = run_cli("deploy", "--filter", "role=compute", "--report", str(report))
        # The race happened for real: the flag was consumed and hh-race is gone...
        assert lab.host_exec("compute", "test -e /run/hh-race-armed").returncode == 1
        assert lab.host_exec("compute", "docker inspect hh-race").returncode != 0
        # ...and the run did not fail, and no output carries the other container's details.
        assert res.returncode == 0, res.stdout + res.stderr
        data = load(report)
        assert data["ok"] is True
        assert marker not in res.stdout + res.stderr + report.read_text()
    finally:
        _remove_wrapper(lab, "compute")
        lab.host_exec("compute", "docker rm -f hh-race hh-bystander >/dev/null 2>&1")
    converges()
    record(
        fault_table,
        request,
        "a container removed between `docker ps` and `docker inspect`",
        "exit 0: the vanished container is skipped; no output carries another container's "
        "inspect data (environment)",
    )
