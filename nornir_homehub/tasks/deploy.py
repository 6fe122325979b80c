"""Deploy the stacks a host's role owns: facts (one round trip), plan, apply, wait until healthy.

``deploy_stacks`` is the per-host Nornir task; each stack is a subtask (``stack:<name>``) so that
reports show one record per host and stack with its own changed/failed/diff.
"""

from __future__ import annotations

import difflib
import json
import shlex
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.errors import CheckFailed, TransportError
from nornir_homehub.facts.stacks import (
    STATE_FILE,
    HostStackFacts,
    parse_stack_facts,
    stack_fact_commands,
)
from nornir_homehub.plan.stacks import ComposeAction, StackPlan, plan_stack

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore

DEFAULT_WAIT = 180.0


@dataclass(frozen=True)
class StackOutcome:
    """What happened to one stack on one host (the subtask's ``result``)."""

    plan: StackPlan
    dry_run: bool
    applied: tuple[str, ...] = ()
    containers: tuple[dict[str, Any], ...] = ()
    steps: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "applied": list(self.applied),
            "containers": list(self.containers),
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class HostDeploy:
    """Summary for one host (the parent task's ``result``)."""

    host: str
    stacks: tuple[str, ...]
    bytes_uploaded: int
    fact_round_trips: int = 1
    plans: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "stacks": list(self.stacks),
            "bytes_uploaded": self.bytes_uploaded,
            "plans": list(self.plans),
        }


def deploy_stacks(
    task: Task,
    *,
    stacks_dir: Path,
    secrets: SecretStore,
    only: Collection[str] | None = None,
    rendered: Mapping[str, list[RenderedStack]] | None = None,
    dry_run: bool = False,
    force: bool = False,
    wait_timeout: float | None = None,
) -> Result:
    """Deploy every stack the host's role owns (narrowed by ``only``).

    Facts for all stacks come back in one round trip; then each stack is planned and applied
    in its own subtask. In dry-run, only the old content of changed files is read (for diffs).
    ``rendered`` (host name -> stacks) reuses a render done before any host was touched.

    Returns:
        Result with ``result`` = `HostDeploy`, ``changed`` when any stack changed.
    """
    from nornir_homehub.render import render_host

    if rendered is not None and task.host.name in rendered:
        stacks = rendered[task.host.name]
    else:
        stacks = render_host(task.nornir, task.host, stacks_dir, secrets.as_template_vars(), only)
    if not stacks:
        return Result(host=task.host, result=HostDeploy(task.host.name, (), 0), changed=False)
    conn = host_connection(task)
    return _deploy(task, conn, stacks, secrets, dry_run, force, wait_timeout)


def _deploy(
    task: Task,
    conn: HostConnection,
    rendered: list[RenderedStack],
    secrets: SecretStore,
    dry_run: bool,
    force: bool,
    wait_timeout: float | None,
) -> Result:
    if not rendered:
        return Result(host=task.host, result=HostDeploy(task.host.name, (), 0), changed=False)
    facts = gather_stack_facts(conn, rendered)
    if facts.docker_error:
        raise TransportError(
            f"{task.host.name}: Docker Engine not usable ({facts.docker_error}); "
            "check `docker version` on the host"
        )
    uploaded_before = conn.bytes_uploaded
    timeout = float(wait_timeout or task.host.get("deploy_wait_timeout", DEFAULT_WAIT))
    changed = False
    plans = []
    for stack in rendered:
        sub = task.run(
            task=deploy_one_stack,
            name=f"stack:{stack.name}",
            stack=stack,
            facts=facts,
            secrets=secrets,
            dry_run=dry_run,
            force=force,
            wait_timeout=timeout,
        )
        changed |= sub.changed
        plans.append(sub[0].result.to_dict() if hasattr(sub[0].result, "to_dict") else {})
    return Result(
        host=task.host,
        result=HostDeploy(
            host=task.host.name,
            stacks=tuple(s.name for s in rendered),
            bytes_uploaded=conn.bytes_uploaded - uploaded_before,
            plans=tuple(plans),
        ),
        changed=changed,
    )


def gather_stack_facts(conn: HostConnection, rendered: list[RenderedStack]) -> HostStackFacts:
    """One round trip: file hashes/modes, data dirs, deploy states, containers, step checks."""
    files = [p for s in rendered for p in s.files]
    dirs = [d.path for s in rendered for d in s.data_dirs]
    unless = {
        f"{s.name}:{i}": step.unless
        for s in rendered
        for i, step in enumerate(s.post_deploy)
        if step.unless
    }
    results = conn.run_batch(
        stack_fact_commands(files, dirs, [s.project_dir for s in rendered], unless)
    )
    return parse_stack_facts(results)


def deploy_one_stack(
    task: Task,
    *,
    stack: RenderedStack,
    facts: HostStackFacts,
    secrets: SecretStore,
    dry_run: bool,
    force: bool,
    wait_timeout: float,
) -> Result:
    """Plan and (unless ``dry_run``) apply one stack.

    Returns:
        Result with ``result`` = `StackOutcome`, ``diff`` = unified diffs of changed files
        (secret values masked), ``changed`` when the plan is not empty.

    Raises:
        CheckFailed: the stack's containers did not become running/healthy in time (the
            message carries the failing container's last log lines, redacted).
    """
    conn = host_connection(task)
    plan = plan_stack(stack, facts, force=force)
    diff = _diffs(conn, stack, plan, secrets)
    if dry_run or not plan.changed:
        return Result(
            host=task.host, result=StackOutcome(plan, dry_run), diff=diff, changed=plan.changed
        )

    applied: list[str] = []
    if plan.do_dirs:
        by_path = {d.path: d for d in stack.data_dirs}
        cmds = [
            f"install -d -m {by_path[p].mode:o} -o {shlex.quote(by_path[p].owner)} "
            f"-g {shlex.quote(by_path[p].group)} {shlex.quote(p)}"
            for p, _ in plan.do_dirs
        ]
        conn.run(" && ".join(cmds), check=True)
        applied += [f"dir {p} ({r})" for p, r in plan.do_dirs]
    for change in plan.do_write:
        f = stack.files[change.path]
        if change.content_changed:
            conn.put_file(f.path, f.content, mode=f.mode)
        else:
            conn.run(f"chmod {f.mode:o} {shlex.quote(f.path)}", check=True)
        applied.append(f"file {f.path} ({change.reason})")

    compose = (
        f"cd {shlex.quote(stack.project_dir)} && docker compose -p {shlex.quote(stack.project)}"
    )
    if plan.action is ComposeAction.UP:
        conn.run(f"{compose} up -d --remove-orphans", check=True)
        applied.append("compose up -d")
    if plan.recreate:
        svcs = " ".join(shlex.quote(s) for s in plan.recreate)
        conn.run(f"{compose} up -d --no-deps --force-recreate {svcs}", check=True)
        applied.append(f"recreate {', '.join(plan.recreate)}")
    containers = wait_healthy(conn, stack, wait_timeout, secrets)
    steps = _post_deploy(conn, stack)
    # Record the inputs of this completed deploy: a later run that finds a different hash on
    # the host knows the previous deploy stopped half-way.
    state = json.dumps({"config_hash": stack.config_hash, "stack": stack.name}).encode()
    conn.put_file(f"{stack.project_dir}/{STATE_FILE}", state, mode=0o600)
    return Result(
        host=task.host,
        result=StackOutcome(plan, False, tuple(applied), tuple(c for c in containers), steps),
        diff=diff,
        changed=True,
    )


def wait_healthy(
    conn: HostConnection, stack: RenderedStack, timeout: float, secrets: SecretStore
) -> list[dict[str, Any]]:
    """Poll until every service of the stack runs and is healthy (or has no healthcheck).

    Raises:
        CheckFailed: timeout; the message names the container, its state and last log lines.
    """
    from nornir_homehub.facts.stacks import parse_containers

    deadline = time.monotonic() + timeout
    flt = f"label=com.docker.compose.project={stack.project}"
    cmd = (
        f"ids=$(docker ps -aq --filter {shlex.quote(flt)}); "
        "[ -z \"$ids\" ] && echo '[]' || docker inspect $ids"
    )
    while True:
        res = conn.run(cmd)
        containers = {c.service: c for c in parse_containers(res.stdout)} if res.ok else {}
        waiting = [s for s in stack.services if s not in containers or not containers[s].ready]
        if not waiting:
            return [containers[s].to_dict() for s in stack.services]
        bad = [containers[s] for s in waiting if s in containers]
        dead = [c for c in bad if c.state in ("exited", "dead") or c.health == "unhealthy"]
        if dead or time.monotonic() > deadline:
            candidates = dead or bad
            if not candidates:
                raise CheckFailed(
                    f"{conn.name}: stack {stack.name}: no container for {', '.join(waiting)} "
                    f"after {timeout:.0f}s"
                )
            target = candidates[0]
            logs = conn.run(f"docker logs --tail 20 {shlex.quote(target.name)} 2>&1").stdout
            raise CheckFailed(
                f"{conn.name}: stack {stack.name}: container {target.name} is {target.state}"
                f" (health {target.health}) after up; last log lines:\n"
                + secrets.redactor().redact(logs.rstrip())
            )
        time.sleep(1.0)


def _post_deploy(conn: HostConnection, stack: RenderedStack) -> tuple[str, ...]:
    done = []
    for step in stack.post_deploy:
        if step.unless and conn.run(step.unless, timeout=60).ok:
            continue
        conn.run(step.command, timeout=step.timeout, check=True)
        done.append(step.name)
    return tuple(done)


def _diffs(
    conn: HostConnection, stack: RenderedStack, plan: StackPlan, secrets: SecretStore
) -> str:
    """Unified diffs of files whose content changes; secret values masked by key and value."""
    redactor = secrets.redactor()
    values = [secrets.get(n).reveal() for n in stack.secrets if n in secrets.names()]
    out = []
    for change in plan.do_write:
        f = stack.files[change.path]
        if not change.content_changed:
            out.append(f"mode {f.path}: -> {f.mode:o}\n")
            continue
        old_bytes = conn.read_file(f.path) if change.reason != "missing" else b""
        old = (old_bytes or b"").decode("utf-8", "replace")
        new = f.content.decode("utf-8", "replace")
        if f.secret:
            keys = _secret_keys(new, values)
            old, new = redactor.mask_assignments(old, keys), redactor.mask_assignments(new, keys)
        text = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"{conn.name}:{f.path}" if change.reason != "missing" else "/dev/null",
                tofile=f"{conn.name}:{f.path}",
            )
        )
        out.append(redactor.redact(text))
    return "".join(out)


def _secret_keys(text: str, values: list[str]) -> set[str]:
    """Keys of ``KEY=VALUE`` / ``key: value`` lines whose value carries a secret."""
    keys = set()
    for line in text.splitlines():
        for sep in ("=", ":"):
            key, found, value = line.partition(sep)
            if found and key.strip() and any(v and v in value for v in values):
                keys.add(key.strip())
                break
    return keys
