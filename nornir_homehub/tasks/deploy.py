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
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.errors import CheckFailed, TransportError
from nornir_homehub.facts.stacks import (
    STATE_FILE,
    Container,
    HostStackFacts,
    parse_containers,
    parse_stack_facts,
    stack_fact_commands,
)
from nornir_homehub.plan.stacks import ComposeAction, StackPlan, plan_stack

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack, StacksPath
    from nornir_homehub.secrets import SecretStore

DEFAULT_WAIT = 180.0


@dataclass(frozen=True)
class StackOutcome:
    """What happened to one stack on one host (the subtask's ``result``)."""

    plan: StackPlan
    dry_run: bool
    applied: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "applied": list(self.applied),
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
    stacks_dir: StacksPath,
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
    touched: list[RenderedStack] = []
    plans_by_stack: dict[str, tuple[RenderedStack, StackPlan]] = {}
    for stack in rendered:
        sub = task.run(
            task=deploy_one_stack,
            name=f"stack:{stack.name}",
            stack=stack,
            facts=facts,
            secrets=secrets,
            dry_run=dry_run,
            force=force,
        )
        changed |= sub.changed
        plans.append(sub[0].result.to_dict() if hasattr(sub[0].result, "to_dict") else {})
        if sub.changed and not dry_run:
            touched.append(stack)
            plans_by_stack[stack.name] = (stack, sub[0].result.plan)
    if touched:
        task.run(
            task=finish_stacks,
            name="compose + health + post-deploy",
            stacks=touched,
            plans=plans_by_stack,
            secrets=secrets,
            wait_timeout=timeout,
        )
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
) -> Result:
    """Plan and (unless ``dry_run``) apply one stack: dirs, files, compose up/recreate.

    Waiting for health and post-deploy steps follow for all changed stacks together
    (`finish_stacks`).

    Returns:
        Result with ``result`` = `StackOutcome`, ``diff`` = unified diffs of changed files
        (secret values masked), ``changed`` when the plan is not empty.

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

    # Compose itself runs in `finish_stacks`, for all changed stacks of the host at once.
    if plan.action is ComposeAction.UP:
        applied.append("compose up -d")
    if plan.recreate:
        applied.append(f"recreate {', '.join(plan.recreate)}")
    return Result(
        host=task.host,
        result=StackOutcome(plan, False, tuple(applied)),
        diff=diff,
        changed=True,
    )


def finish_stacks(
    task: Task,
    *,
    stacks: list[RenderedStack],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
    secrets: SecretStore,
    wait_timeout: float,
) -> Result:
    """Run compose for every changed stack at once, wait until all run healthy, post-deploy.

    Waiting for all stacks of the host together costs the slowest stack's start time instead
    of the sum. A stack that became healthy gets its post-deploy steps and its state record
    (the inputs of this completed deploy); a stack that did not fails the task.

    Returns:
        Result with ``result`` = {stack: {containers, steps}}, ``changed`` when a step ran.

    Raises:
        CheckFailed: a container did not become running/healthy; the message carries its
            state and last log lines (redacted).
    """
    conn = host_connection(task)
    compose_failure = _compose_all(conn, plans, secrets)
    ready, failure = wait_healthy(conn, stacks, wait_timeout, secrets)
    done: dict[str, Any] = {}
    ran = False
    for stack in stacks:
        if stack.name not in ready:
            continue
        steps = _post_deploy(conn, stack)
        ran |= bool(steps)
        # A later run that finds another hash here knows this deploy stopped half-way.
        state = json.dumps({"config_hash": stack.config_hash, "stack": stack.name}).encode()
        conn.put_file(f"{stack.project_dir}/{STATE_FILE}", state, mode=0o600)
        done[stack.name] = {"containers": ready[stack.name], "steps": list(steps)}
    if compose_failure is not None:
        raise compose_failure
    if failure is not None:
        raise failure
    return Result(host=task.host, result=done, changed=ran)


def compose_command(stack: RenderedStack, plan: StackPlan) -> str | None:
    """The shell command that applies ``plan``'s compose action (None when there is none)."""
    base = f"docker compose -p {shlex.quote(stack.project)}"
    cmds = []
    if plan.action is ComposeAction.UP:
        cmds.append(f"{base} up -d --remove-orphans")
    if plan.recreate:
        svcs = " ".join(shlex.quote(s) for s in plan.recreate)
        cmds.append(f"{base} up -d --no-deps --force-recreate {svcs}")
    if not cmds:
        return None
    return f"cd {shlex.quote(stack.project_dir)} && " + " && ".join(cmds)


def _compose_all(
    conn: HostConnection, plans: dict[str, tuple[RenderedStack, StackPlan]], secrets: SecretStore
) -> TransportError | None:
    """Run every stack's compose command concurrently, in one round trip.

    Compose spends most of its time waiting for the engine; running the stacks of a host side
    by side costs the slowest one instead of the sum.

    Returns:
        The error of the first stack whose compose command failed (with its output, redacted).
    """
    cmds = {name: compose_command(stack, plan) for name, (stack, plan) in plans.items()}
    todo = {name: cmd for name, cmd in cmds.items() if cmd}
    if not todo:
        return None
    results = conn.run_parallel(todo)
    for name, res in results.items():
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            return TransportError(
                f"{conn.name}: stack {name}: `{todo[name].split(' && ', 1)[-1]}` "
                f"exited {res.exit_code}: {tail}"
            )
    return None


def wait_healthy(
    conn: HostConnection, stacks: list[RenderedStack], timeout: float, secrets: SecretStore
) -> tuple[dict[str, list[dict[str, Any]]], CheckFailed | None]:
    """Poll until every service of ``stacks`` runs and is healthy (or has no healthcheck).

    One ``docker inspect`` per poll covers all stacks. A container that exited or reports
    unhealthy ends the wait for its stack at once; the others keep their full ``timeout``.

    Returns:
        (stack name -> container dicts for the stacks that became ready, the failure of the
        first stack that did not, or None).
    """
    deadline = time.monotonic() + timeout
    cmd = (
        "ids=$(docker ps -aq --filter label=com.docker.compose.project); "
        "[ -z \"$ids\" ] && echo '[]' || docker inspect $ids"
    )
    ready: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, CheckFailed] = {}
    while True:
        res = conn.run(cmd)
        found = parse_containers(res.stdout) if res.ok else ()
        for stack in stacks:
            if stack.name in ready or stack.name in failed:
                continue
            containers = {c.service: c for c in found if c.project == stack.project}
            waiting = [s for s in stack.services if s not in containers or not containers[s].ready]
            if not waiting:
                ready[stack.name] = [containers[s].to_dict() for s in stack.services]
                continue
            bad = [containers[s] for s in waiting if s in containers]
            dead = [c for c in bad if c.state in ("exited", "dead") or c.health == "unhealthy"]
            if dead or time.monotonic() > deadline:
                failed[stack.name] = _health_failure(
                    conn, stack, waiting, dead or bad, timeout, secrets
                )
        if len(ready) + len(failed) == len(stacks):
            first = next((failed[s.name] for s in stacks if s.name in failed), None)
            return ready, first
        time.sleep(0.5)


def _health_failure(
    conn: HostConnection,
    stack: RenderedStack,
    waiting: list[str],
    candidates: list[Container],
    timeout: float,
    secrets: SecretStore,
) -> CheckFailed:
    if not candidates:
        return CheckFailed(
            f"{conn.name}: stack {stack.name}: no container for {', '.join(waiting)} "
            f"after {timeout:.0f}s"
        )
    target = candidates[0]
    logs = conn.run(f"docker logs --tail 20 {shlex.quote(target.name)} 2>&1").stdout
    return CheckFailed(
        f"{conn.name}: stack {stack.name}: container {target.name} is {target.state}"
        f" (health {target.health}) after up; last log lines:\n"
        + secrets.redactor().redact(logs.rstrip())
    )


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
    """Unified diffs of files whose content changes; secret values masked by key and value.

    In a secret file every assignment's value is masked, old and new lines alike: a key taken
    out of the inventory (an external provider's API key) is no longer a known secret, but its
    old value on the host still is one.
    """
    redactor = secrets.redactor()
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
            old, new = redactor.mask_assignments(old), redactor.mask_assignments(new)
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
