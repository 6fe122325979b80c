"""Real Nornir runs on a tiny inventory whose tasks never connect anywhere (report tests)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.task import Result, Task

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import HostKeyError
from nornir_homehub.progress import ProgressProcessor
from nornir_homehub.report import RunRecorder, TimingProcessor, recording

SECRET = "s3cr3t-Vault-Value-42"
HOSTS = ("trusted-1", "compute-1", "dns-1")


def make_nornir(tmp_path: Path, runner: str = "threaded") -> Nornir:
    """A Nornir over three hosts on 127.0.0.1 (nothing connects: the tasks are local)."""
    inv = tmp_path / "inventory"
    inv.mkdir(exist_ok=True)
    hosts = "\n".join(
        f"{name}:\n  hostname: 127.0.0.1\n  data:\n    role: {name.split('-')[0]}\n"
        for name in HOSTS
    )
    (inv / "hosts.yaml").write_text(hosts)
    (inv / "groups.yaml").write_text("{}\n")
    (inv / "defaults.yaml").write_text("{}\n")
    options: dict[str, Any] = {"num_workers": 3} if runner == "threaded" else {}
    return InitNornir(
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(inv / "hosts.yaml"),
                "group_file": str(inv / "groups.yaml"),
                "defaults_file": str(inv / "defaults.yaml"),
            },
        },
        runner={"plugin": runner, "options": options},
        logging={"enabled": False},
    )


def read_version(task: Task) -> Result:
    """Succeeds without change, with a structured result."""
    return Result(host=task.host, result={"version": "1.2.3", "role": task.host["role"]})


def write_env(task: Task) -> Result:
    """Changes something; its diff contains the secret (must be masked)."""
    diff = f"--- .env\n+++ .env\n-API_KEY=old\n+API_KEY={SECRET}\n"
    return Result(host=task.host, result={"path": "/opt/litellm/.env"}, changed=True, diff=diff)


def connect_fails(task: Task) -> Result:
    """Raises a transport error whose message carries the secret."""
    raise HostKeyError(f"host key of {task.host.name} differs (token {SECRET})")


def deploy_host(task: Task) -> Result:
    """A grouped task: compute-1's upload raises, the others change their .env."""
    task.run(read_version)
    if task.host.name == "compute-1":
        task.run(connect_fails)
    else:
        task.run(write_env)
    return Result(host=task.host, result="deployed")


def verify_host(task: Task) -> Result:
    """Returns checks: dns-1 fails its DNS check, trusted-1 warns; every host passes SSH.

    compute-1 never runs it in `run_rollout`: Nornir skips hosts that failed earlier.
    """
    name = task.host.name
    status = {"dns-1": Status.FAIL, "trusted-1": Status.WARN}.get(name, Status.PASS)
    return Result(
        host=task.host,
        result=[
            Check("ssh.reachable", name, Layer.SSH, Status.PASS, "connected in 0.1s"),
            Check(
                name="dns.chat",
                host=name,
                layer=Layer.DNS,
                status=status,
                evidence=f"chat.homehub.dk -> 10.2.0.9 (asked with key {SECRET})",
                remedy="reload the zone: rndc reload homehub.dk" if status != Status.PASS else "",
            ),
            Check("gpu.driver", name, Layer.GPU, Status.SKIP, "not a GPU host"),
        ],
    )


def redact(text: str) -> str:
    """The redactor the secrets module would give: masks SECRET."""
    return text.replace(SECRET, "********")


def run_rollout(tmp_path: Path, **paths: Any) -> RunRecorder:
    """A two-stage rollout (deploy, then verify as a gate) recorded with `recording`.

    ``paths`` go to `recording` (report_path, junit_path, history_dir).
    """
    nr = make_nornir(tmp_path)
    timing = TimingProcessor()
    proc = ProgressProcessor(io.StringIO(), enabled=True, redact=redact, timings=timing)
    processors = [timing, proc]
    recorder = RunRecorder(
        "deploy",
        ["deploy", "--filter", "role=compute", "--token", SECRET],
        dry_run=False,
        filters=["role=compute"],
        redact=redact,
    )
    recorder.watch(timing)
    with recording(recorder, **paths):
        with recorder.stage("deploy"):
            recorder.add_result("deploy", nr.with_processors(processors).run(deploy_host), timing)
        with recorder.stage("verify"):
            recorder.add_result("verify", nr.with_processors(processors).run(verify_host), timing)
        recorder.stop("verify", "dns-1 does not serve chat.homehub.dk")
    return recorder
