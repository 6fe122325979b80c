"""Issue 16: zero-downtime updates behind Traefik, against the lab's real Traefik.

A bounded request loop (a thread on the controller) asks through Traefik on the trusted host's
address with the lab's auth header while a deploy recreates a routed service: every request
must be answered 200. Then the faults: a twin that dies before it is healthy (killed for real
right after Compose started it) leaves the old container serving and fails the stack; a twin
left by a killed run is removed by the next deploy. Each fault is followed by a run that
converges (exit 0, then a no-op).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, run_cli

from nornir_homehub.lab.edge import LAB_AUTH_HEADER, LAB_AUTH_TOKEN

TRUSTED = yaml.safe_load((LAB_CONFIG.parent / "hosts.yaml").read_text())["trusted"]["hostname"]
WEBUI_KEY = "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY"
LITELLM_KEY = "HOMEHUB_SECRET_VAULT_LITELLM_MASTER_KEY"
WRAPPER = "/usr/local/sbin/docker"  # first on the PATH of the host's SSH sessions
LOOP_LIMIT_S = 300  # the loop's bounds: seconds and requests
LOOP_MAX_REQUESTS = 20000


class RequestLoop(threading.Thread):
    """Ask ``fqdn`` + ``path`` through Traefik again and again; keep every failure."""

    def __init__(self, fqdn: str, path: str) -> None:
        super().__init__(daemon=True)
        self.fqdn, self.path = fqdn, path
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT_S
        for _ in range(LOOP_MAX_REQUESTS):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            conn = http.client.HTTPConnection(TRUSTED, 80, timeout=20)
            asked = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
            try:
                conn.request(
                    "GET", self.path, headers={"Host": self.fqdn, LAB_AUTH_HEADER: LAB_AUTH_TOKEN}
                )
                res = conn.getresponse()
                body = res.read()
                if res.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"asked {asked}: {res.status} {body[:120]!r}")
            except OSError as exc:
                self.failures.append(f"asked {asked}: {type(exc).__name__}: {exc}")
            finally:
                conn.close()
            time.sleep(0.02)

    def __enter__(self) -> RequestLoop:
        self.start()
        limit = time.monotonic() + 60
        while self.ok < 10 and time.monotonic() < limit and not self.failures:
            time.sleep(0.1)
        assert self.ok >= 10 and not self.failures, (
            f"the route does not answer: {self.failures[:5]}"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=60)


def host(lab: Any, command: str) -> str:
    res = lab.host_exec("trusted", command, timeout=120)
    assert res.returncode == 0, f"{command}: {res.stdout}{res.stderr}"
    return str(res.stdout)


def container_id(lab: Any, name: str) -> str:
    return host(lab, f"docker inspect -f '{{{{.Id}}}}' {name}").strip()


def twins_left(lab: Any) -> list[str]:
    """Every container (running or not) whose name says it is a twin."""
    return host(lab, "docker ps -a --format '{{.Names}}' | grep -- '-twin$' || true").split()


def deploy(
    stack: str, tmp: Path, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    report = tmp / f"{stack}-{time.monotonic_ns()}.json"
    res = run_cli("deploy", "--stacks", stack, "--no-verify", "--report", str(report), env=env)
    return res.returncode, json.loads(report.read_text()), res.stdout + res.stderr


def swap_log(data: dict[str, Any]) -> list[Any]:
    """The run's start and the zero-downtime steps' results: when each twin was routed."""
    steps = [t for t in data["hosts"]["trusted"]["tasks"] if "zero-downtime" in t["name"]]
    return [data.get("started"), *[(t["name"], t["duration_s"], t["result"]) for t in steps]]


def trusted_tasks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in data["hosts"]["trusted"]["tasks"]}


def assert_noop(stack: str, tmp: Path, env: dict[str, str] | None = None) -> None:
    rc, data, out = deploy(stack, tmp, env)
    assert rc == 0, out[-3000:]
    changed = [(h, t["name"]) for h, v in data["hosts"].items() for t in v["tasks"] if t["changed"]]
    assert changed == [], changed


@pytest.fixture(scope="module")
def deployed(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The trusted stacks deployed with the lab's own secrets, no twin around."""
    tmp = tmp_path_factory.mktemp("zd")
    for stack in ("litellm", "openwebui"):
        rc, _, out = deploy(stack, tmp)
        assert rc == 0, out[-3000:]
    assert twins_left(lab) == []
    return lab


@pytest.fixture
def restore(deployed: Any, tmp_path: Path) -> Iterator[Any]:
    """Afterwards: no docker wrapper, the lab's own secrets deployed again, no twin."""
    yield deployed
    deployed.host_exec("trusted", f"rm -f {WRAPPER}")
    for stack in ("litellm", "openwebui"):
        rc, _, out = deploy(stack, tmp_path)
        assert rc == 0, out[-3000:]
    assert twins_left(deployed) == []


@pytest.mark.parametrize(
    ("stack", "container", "fqdn", "path", "secret"),
    [
        ("openwebui", "open-webui", "chat.homehub.test", "/health", WEBUI_KEY),
        ("litellm", "litellm", "openai.homehub.test", "/health/liveliness", LITELLM_KEY),
    ],
)
def test_a_changed_secret_is_deployed_with_no_failed_request(
    restore: Any, tmp_path: Path, stack: str, container: str, fqdn: str, path: str, secret: str
) -> None:
    lab = restore
    before = container_id(lab, container)
    env = {secret: f"zero-downtime-test-{stack}-7c2e"}
    # The dry run says which path each service takes, and why.
    dry = tmp_path / "dry.json"
    res = run_cli(
        "deploy", "--stacks", stack, "--no-verify", "--dry-run", "--report", str(dry), env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    planned = trusted_tasks(json.loads(dry.read_text()))[f"stack:{stack}"]["result"]
    assert [(u["service"], u["path"], u["twin"]) for u in planned["zero_downtime"]["updates"]] == [
        (container, "twin", f"{container}-twin")
    ], planned
    assert container_id(lab, container) == before and twins_left(lab) == []
    with RequestLoop(fqdn, path) as loop:
        asked_before = loop.ok
        rc, data, out = deploy(stack, tmp_path, env)
    assert rc == 0, out[-3000:]
    assert loop.failures == [], json.dumps([loop.failures[:20], swap_log(data)])
    assert loop.ok - asked_before >= 20, "the loop asked too little during the deploy"
    assert container_id(lab, container) != before, "the container was not recreated"
    assert twins_left(lab) == []
    tasks = trusted_tasks(data)
    twins = tasks["zero-downtime: twins healthy and routed"]["result"]
    assert [(r["container"], r["routed_by"]) for r in twins["twins"]] == [
        (f"{container}-twin", "traefik api")
    ]
    assert twins["failed"] == {}
    swapped = tasks["zero-downtime: routed again, twins removed"]["result"]
    assert [r["container"] for r in swapped] == [container]
    # The twin was out of Traefik's routing before it was stopped.
    assert all(r["routed_s"] <= r["twin_drained_s"] <= r["twin_removed_s"] for r in swapped)
    assert all(r["routed_s"] >= r["ready_s"] for r in [*twins["twins"], *swapped])


def test_both_routed_services_swap_in_one_run(restore: Any, tmp_path: Path) -> None:
    """Two twins at once fit on the lab's frontend network (a /29 of 5 addresses did not)."""
    lab = restore
    before = {c: container_id(lab, c) for c in ("litellm", "open-webui")}
    env = {WEBUI_KEY: "zero-downtime-both-webui-41d0", LITELLM_KEY: "zero-downtime-both-ll-41d0"}
    report = tmp_path / "both.json"
    res = run_cli(
        "deploy", "--stacks", "litellm,openwebui", "--no-verify", "--report", str(report), env=env
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    tasks = trusted_tasks(json.loads(report.read_text()))
    twins = tasks["zero-downtime: twins healthy and routed"]["result"]
    assert sorted(r["container"] for r in twins["twins"]) == ["litellm-twin", "open-webui-twin"]
    assert twins["failed"] == {}
    assert all(container_id(lab, c) != before[c] for c in before), "not both recreated"
    assert twins_left(lab) == []


def test_a_twin_that_dies_leaves_the_old_container_serving(restore: Any, tmp_path: Path) -> None:
    lab = restore
    real = host(lab, "command -v docker").strip()
    assert real != WRAPPER, real
    # Fault: the twin is killed right after Compose started it, before it can be healthy.
    script = (
        "#!/bin/sh\n# fault injection by tests/lab/test_zero_downtime.py\n"
        'case "$*" in *"-p openwebui-twin"*) '
        f'{real} "$@"; rc=$?; {real} kill open-webui-twin >/dev/null 2>&1; exit $rc ;; esac\n'
        f'exec {real} "$@"\n'
    )
    host(lab, f"cat > {WRAPPER} <<'EOF'\n{script}EOF\nchmod 755 {WRAPPER}")
    before = container_id(lab, "open-webui")
    state = host(lab, "cat /opt/stacks/openwebui/.homehub-state.json")
    env = {WEBUI_KEY: "zero-downtime-test-dead-twin-91d0"}
    with RequestLoop("chat.homehub.test", "/health") as loop:
        rc, data, out = deploy("openwebui", tmp_path, env)
    assert rc == 1, out[-3000:]
    assert loop.failures == [], loop.failures[:20]
    errors = [
        t["error"]
        for t in data["hosts"]["trusted"]["tasks"]
        if t["error"] and t["error"]["type"] != "NornirSubTaskError"
    ]
    assert [e["type"] for e in errors] == ["StackFailed"], errors
    assert "stack openwebui: zero-downtime swap not started" in errors[0]["message"], errors
    assert "twin open-webui-twin" in errors[0]["message"], errors
    assert container_id(lab, "open-webui") == before, "the old container was replaced"
    assert twins_left(lab) == []
    assert host(lab, "cat /opt/stacks/openwebui/.homehub-state.json") == state
    # The fault removed: the next run finishes the swap, the one after it changes nothing.
    host(lab, f"rm -f {WRAPPER}")
    rc, _, out = deploy("openwebui", tmp_path, env)
    assert rc == 0, out[-3000:]
    assert container_id(lab, "open-webui") != before
    assert_noop("openwebui", tmp_path, env)


def test_a_twin_left_by_a_killed_run_is_removed_by_the_next_deploy(
    deployed: Any, tmp_path: Path
) -> None:
    lab = deployed
    # What a run killed mid-swap leaves: a container of the twin's compose project.
    host(
        lab,
        "docker run -d --name open-webui-twin --label com.docker.compose.project=openwebui-twin "
        "--label com.docker.compose.service=open-webui homehub-standin/openwebui:lab",
    )
    rc, data, out = deploy("openwebui", tmp_path)
    assert rc == 0, out[-3000:]
    removed = trusted_tasks(data)["zero-downtime: remove leftover twins"]
    assert removed["changed"] and removed["result"] == {"openwebui": ["open-webui-twin"]}
    assert twins_left(lab) == []
    assert_noop("openwebui", tmp_path)
