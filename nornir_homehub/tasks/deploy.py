"""Deploy the stacks a host's role owns: facts (one round trip), plan, apply, wait until healthy.

``deploy_stacks`` is the per-host Nornir task; each stack is a subtask (``stack:<name>``) so that
reports show one record per host and stack with its own changed/failed/diff. Then, for the
changed stacks, ``compose + health + post-deploy`` (compose for all at once, one health wait,
the steps, the state records) and, when a routed service was (re)created, ``edge convergence``
(the wait until Traefik serves its routes through the auth middleware).

A stack's state record is written only once its compose run, health wait (healthy, and still
so after the stable window) and post-deploy steps succeeded; it holds the hash of every file
that deploy applied, so the next run knows what the containers really run with.
"""

from __future__ import annotations

import difflib
import posixpath
import shlex
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.checks.model import Layer
from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.errors import CheckFailed, HomehubError, TransportError
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers
from nornir_homehub.facts.stacks import (
    STATE_FILE,
    Container,
    Health,
    HostStackFacts,
    parse_stack_facts,
    render_state,
    stack_containers,
    stack_fact_commands,
)
from nornir_homehub.plan.stacks import ComposeAction, StackPlan, plan_stack
from nornir_homehub.tasks import edge

if TYPE_CHECKING:
    from nornir_homehub.facts.docker import ContainerFact
    from nornir_homehub.facts.http import ProbeOutcome
    from nornir_homehub.render import HttpProbe, RenderedStack, ServiceHealth, StacksPath
    from nornir_homehub.secrets import SecretStore

DEFAULT_WAIT = 180.0  # inventory deploy_wait_timeout: seconds until every container is ready
# Inventory deploy_stable_window: seconds a container must stay up after it first counted as
# ready (healthy, or answering its probes); a restart or exit in that window fails the deploy.
DEFAULT_STABLE = 10.0
POLL = 0.5
ENGINE_ERRORS = 6  # consecutive polls without an answer from Docker Engine end the wait
EDGE_VARIABLES = ("domain", "traefik_certresolver", "traefik_probe_url", "traefik_api_url")


class StackFailed(CheckFailed):
    """A stack did not come up (layer container).

    Docker Engine not usable, compose failed, a container not ready or not stable, or a
    post-deploy step failed.
    """

    layer = Layer.CONTAINER


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
        raise StackFailed(
            f"{task.host.name}: Docker Engine not usable ({facts.docker_error}); "
            "check `docker version` and `systemctl status docker` on the host"
        )
    uploaded_before = conn.bytes_uploaded
    timeout = float(wait_timeout or task.host.get("deploy_wait_timeout", DEFAULT_WAIT))
    stable = float(task.host.get("deploy_stable_window", DEFAULT_STABLE))
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
    # Containers this run does not touch but that are still starting (a host or engine just
    # restarted): converging means waiting for them too, without calling them changed.
    starting = [
        s
        for s in rendered
        if s not in touched
        and any(c.health is Health.STARTING for c in facts.project_containers(s.project))
    ]
    if starting and not dry_run:
        task.run(
            task=wait_starting,
            name="wait for starting containers",
            stacks=starting,
            secrets=secrets,
            wait_timeout=timeout,
            before=facts.containers,
        )
    if touched:
        task.run(
            task=finish_stacks,
            name="compose + health + post-deploy",
            stacks=touched,
            plans=plans_by_stack,
            secrets=secrets,
            wait_timeout=timeout,
            before=facts.containers,
            stable_window=stable,
        )
        routes = edge.unique(
            r
            for stack, plan in plans_by_stack.values()
            if plan.action is not ComposeAction.NONE
            if stack.compose_file in stack.files
            for r in edge.routes_from_compose(
                stack.files[stack.compose_file].content.decode("utf-8", "replace"),
                stack=stack.name,
            )
        )
        if routes:
            task.run(
                task=converge_edge,
                name="edge convergence",
                routes=routes,
                timeout=float(task.host.get("edge_wait_timeout", edge.DEFAULT_EDGE_WAIT)),
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
            try:
                conn.put_file(f.path, f.content, mode=f.mode)
            except TransportError as exc:
                raise _write_failure(conn, stack, f.path, exc) from None
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


def _write_failure(
    conn: HostConnection, stack: RenderedStack, path: str, exc: TransportError
) -> HomehubError:
    """Classify a failed upload.

    The host still answers but could not write (disk full, read-only): the stack's failure,
    with the free space where the file goes. The host does not answer: the transport error.
    """
    where = shlex.quote(posixpath.dirname(path) or "/")
    try:
        res = conn.run(
            f'p={where}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -n 1',
            timeout=15,
        )
    except TransportError:
        return exc
    fields = res.stdout.split()
    space = f"; {fields[3]} KiB free on {fields[5]}" if res.ok and len(fields) >= 6 else ""
    detail = str(exc).removeprefix(f"{conn.name}: ")
    return StackFailed(f"{conn.name}: stack {stack.name}: cannot write {path}: {detail}{space}")


def finish_stacks(
    task: Task,
    *,
    stacks: list[RenderedStack],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
    secrets: SecretStore,
    wait_timeout: float,
    before: tuple[Container, ...] = (),
    stable_window: float = DEFAULT_STABLE,
) -> Result:
    """Run compose for every changed stack at once, wait until all run healthy, post-deploy.

    Waiting for all stacks of the host together costs the slowest stack's start time instead
    of the sum. A stack gets its post-deploy steps only once its compose run succeeded and its
    containers are ready and stayed so for ``stable_window`` seconds; its state record (the
    inputs of this completed deploy) only once the steps succeeded too. A stack whose compose
    failed gets no state record even when its old container still runs healthy, so the next
    run tries again.

    Args:
        task: the Nornir task.
        stacks: the changed stacks.
        plans: stack name -> (stack, plan) of the changed stacks.
        secrets: the run's secrets (probes with an API key; redaction of logs).
        wait_timeout: seconds until every container must be ready.
        before: the containers seen before compose ran (restarts are counted from there).
        stable_window: seconds a container must stay ready (no restart, no exit).

    Returns:
        Result with ``result`` = {stack: {containers, steps}}, ``changed`` when a step ran.

    Raises:
        StackFailed: compose failed, a container did not become ready (or restarted, exited or
            turned unhealthy in the stable window), or a step failed; the message names each
            stack and carries the container's state and last log lines (redacted).
    """
    conn = host_connection(task)
    failures: dict[str, StackFailed] = _compose_all(conn, plans, secrets)
    waiting = [s for s in stacks if s.name not in failures]
    ready, unhealthy = wait_ready(
        conn, waiting, wait_timeout, secrets, before=before, stable=stable_window
    )
    failures.update(unhealthy)
    done: dict[str, Any] = {}
    ran = False
    for stack in waiting:
        if stack.name not in ready:
            continue
        steps, step_failure = _post_deploy(conn, stack, secrets)
        ran |= bool(steps)
        if step_failure is not None:
            failures[stack.name] = step_failure
            continue
        # Written last: a later run that finds other hashes here knows what was not applied.
        state = render_state(
            stack.name, stack.config_hash, {p: f.sha256 for p, f in stack.files.items()}
        )
        conn.put_file(f"{stack.project_dir}/{STATE_FILE}", state, mode=0o600)
        done[stack.name] = {"containers": ready[stack.name], "steps": list(steps)}
    if failures:
        ordered = [failures[s.name] for s in stacks if s.name in failures]
        if len(ordered) == 1:
            raise ordered[0]
        raise StackFailed(
            f"{conn.name}: {len(ordered)} stacks failed: "
            + " | ".join(str(f).removeprefix(f"{conn.name}: ") for f in ordered)
        )
    return Result(host=task.host, result=done, changed=ran)


def wait_starting(
    task: Task,
    *,
    stacks: list[RenderedStack],
    secrets: SecretStore,
    wait_timeout: float,
    before: tuple[Container, ...] = (),
) -> Result:
    """Wait until the containers of unchanged stacks that were still starting are ready.

    Returns:
        Result with ``result`` = {stack: containers}, ``changed`` False (nothing was changed).

    Raises:
        StackFailed: a container did not become ready (or crashed) within ``wait_timeout``.
    """
    conn = host_connection(task)
    ready, failed = wait_ready(conn, stacks, wait_timeout, secrets, before=before)
    first = next((failed[s.name] for s in stacks if s.name in failed), None)
    if first is not None:
        raise first
    return Result(host=task.host, result=ready, changed=False)


def converge_edge(task: Task, *, routes: list[edge.Route], timeout: float) -> Result:
    """Wait until Traefik serves every route of the (re)created stacks through the auth middleware.

    Traefik's docker provider routes a container only once it is healthy and applies the change
    about 2 s later, so a check right after the health wait can see 404 for a route that is
    seconds away. Bounded by ``timeout`` (inventory ``edge_wait_timeout``).

    Returns:
        Result with ``result`` = one row per route (cause, seconds waited, evidence).

    Raises:
        EdgeNotConverged: a route still not served as expected at the deadline; the message
            gives the exact cause from Traefik's API (``traefik_api_url``) and its remedy.
    """
    conn = host_connection(task)
    variables = {k: task.host.get(k) for k in EDGE_VARIABLES}
    results = edge.settle_routes(
        conn,
        routes,
        variables,
        timeout=timeout,
        auth_host=f"auth.{variables['domain']}",
    )
    if any(not d.served for d, _ in results.values()):
        raise edge.not_converged(conn.name, results)
    return Result(host=task.host, result=edge.summarize(results), changed=False)


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
) -> dict[str, StackFailed]:
    """Run every stack's compose command concurrently, in one round trip.

    Compose spends most of its time waiting for the engine; running the stacks of a host side
    by side costs the slowest one instead of the sum.

    Returns:
        stack name -> the error of its failed compose command (output tail, redacted).
    """
    cmds = {name: compose_command(stack, plan) for name, (stack, plan) in plans.items()}
    todo = {name: cmd for name, cmd in cmds.items() if cmd}
    if not todo:
        return {}
    results = conn.run_parallel(todo)
    failures = {}
    for name, res in results.items():
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            failures[name] = StackFailed(
                f"{conn.name}: stack {name}: `{todo[name].split(' && ', 1)[-1]}` "
                f"exited {res.exit_code}: {tail}"
            )
    return failures


@dataclass
class _Watch:
    """One service being waited for: the container seen last, since when it counts as ready."""

    container: Container | None = None
    ready_since: float | None = None
    detail: str = "no container yet"


def wait_healthy(
    conn: HostConnection, stacks: list[RenderedStack], timeout: float, secrets: SecretStore
) -> tuple[dict[str, list[dict[str, Any]]], StackFailed | None]:
    """`wait_ready` without a stable window; returns the first stack's failure (or None)."""
    ready, failed = wait_ready(conn, stacks, timeout, secrets)
    return ready, next((failed[s.name] for s in stacks if s.name in failed), None)


def wait_ready(
    conn: HostConnection,
    stacks: list[RenderedStack],
    timeout: float,
    secrets: SecretStore,
    *,
    before: tuple[Container, ...] = (),
    stable: float = 0.0,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, StackFailed]]:
    """Poll until every service of ``stacks`` is ready and stayed so for ``stable`` seconds.

    Ready means running and healthy; for a container without a Docker healthcheck, running and
    answering the template's HTTP probes (``health.http`` in template.yaml). One listing of the
    containers per poll covers all stacks. A container that exited, is restarting, turned
    unhealthy or was restarted by the engine (its restart count grew since ``before``, or since
    it was created) fails its stack at once; the others keep their full ``timeout``.

    Returns:
        (stack name -> container dicts for the stacks that became ready, stack name -> failure
        for those that did not).
    """
    deadline = time.monotonic() + timeout
    baseline = {c.id: c.restart_count for c in before}
    health = {(s.name, h.service): h for s in stacks for h in s.health}
    watch = {(s.name, svc): _Watch() for s in stacks for svc in s.services}
    ready: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, StackFailed] = {}
    engine_error = ""
    errors = 0
    while True:
        docker = parse_containers(conn.run(containers_command(label=PROJECT_LABEL)))
        engine_error = docker.error or ""
        errors = errors + 1 if engine_error else 0
        facts = {c.id: c for c in docker.containers}
        found = stack_containers(docker)
        now = time.monotonic()
        for stack in stacks:
            if stack.name in ready or stack.name in failed:
                continue
            by_service = {c.service: c for c in found if c.project == stack.project}
            for svc in stack.services:
                w = watch[(stack.name, svc)]
                c = by_service.get(svc)
                if c is not None and (w.container is None or w.container.id != c.id):
                    w.ready_since = None  # a new container: readiness starts over
                w.container = c
                crash = _crash(c, baseline) if c is not None else None
                if c is not None and crash is not None:
                    failed[stack.name] = _health_failure(conn, stack, c, crash, secrets)
                    break
                ok, w.detail = _ready(conn, c, health.get((stack.name, svc)), facts, secrets)
                if not ok:
                    w.ready_since = None
                elif w.ready_since is None:
                    w.ready_since = now
            if stack.name in failed:
                continue
            states = [watch[(stack.name, svc)] for svc in stack.services]
            if all(w.ready_since is not None and now - w.ready_since >= stable for w in states):
                ready[stack.name] = [w.container.to_dict() for w in states if w.container]
            elif now > deadline or errors >= ENGINE_ERRORS:
                failed[stack.name] = _timeout_failure(
                    conn, stack, watch, timeout, stable, engine_error, secrets
                )
        if len(ready) + len(failed) == len(stacks):
            return ready, failed
        time.sleep(POLL)


def _crash(c: Container, baseline: dict[str, int]) -> str | None:
    """Why ``c`` counts as crashed (restarted by the engine, exited, unhealthy), else None."""
    restarts = c.restart_count - baseline.get(c.id, 0)
    if restarts > 0:
        return (
            f"restarted {restarts} time(s) since the deploy started (state {c.state}, "
            f"last exit code {c.exit_code})"
        )
    if c.state in ("exited", "dead", "restarting"):
        return f"is {c.state} (exit code {c.exit_code})"
    if c.health is Health.UNHEALTHY:
        return "is unhealthy"
    return None


def _ready(  # noqa: PLR0911 - one return per state reads best
    conn: HostConnection,
    c: Container | None,
    spec: ServiceHealth | None,
    facts: dict[str, ContainerFact],
    secrets: SecretStore,
) -> tuple[bool, str]:
    """Whether ``c`` counts as ready now, and what was seen."""
    if c is None:
        return False, "no container yet"
    if not c.running:
        return False, f"container {c.name} is {c.state}"
    if c.health is Health.HEALTHY:
        return True, f"container {c.name} is running, healthy"
    if c.health is Health.STARTING:
        return False, f"container {c.name} is running, health starting"
    # No Docker healthcheck: healthy means answering the template's HTTP probes.
    if spec is None or not spec.http:
        return True, f"container {c.name} is running (no healthcheck, no probe)"
    for probe in spec.http:
        outcome = _probe(conn, spec, probe, facts.get(c.id), secrets)
        if (
            outcome.error
            or outcome.status != probe.status
            or (probe.body_contains is not None and probe.body_contains not in outcome.body)
        ):
            seen = outcome.error or f"{outcome.status}, expected {probe.status}"
            return False, f"container {c.name} is running; probe {probe.name} {outcome.url}: {seen}"
    names = ", ".join(p.name for p in spec.http)
    return True, f"container {c.name} is running and answers its probes ({names})"


def _probe(
    conn: HostConnection,
    spec: ServiceHealth,
    probe: HttpProbe,
    fact: ContainerFact | None,
    secrets: SecretStore,
    timeout: float = 5,
) -> ProbeOutcome:
    """Ask one template probe, from the host (published port or the container's address)."""
    from nornir_homehub.facts.http import ProbeOutcome, http_command, http_get, parse_probe

    if probe.published:
        url = f"http://127.0.0.1:{probe.port}{probe.path}"
    else:
        addr = next((a for a in (fact.networks.values() if fact else ()) if a), "")
        if not addr:
            return ProbeOutcome(
                f"http://<{spec.container}>:{probe.port}{probe.path}", error="no address"
            )
        url = f"http://{addr}:{probe.port}{probe.path}"
    if probe.auth_secret is None:
        return parse_probe(conn.run(http_command(url, timeout=timeout)), url, where=conn.name)
    value = probe.auth_prefix + secrets.get(probe.auth_secret).reveal()
    try:
        res = http_get(
            conn, url, headers={probe.auth_header or "Authorization": value}, timeout=timeout
        )
    except TransportError as exc:
        return ProbeOutcome(url, error=str(exc).removeprefix(f"{conn.name}: GET {url}: "))
    body = secrets.redactor().head(res.text, 2000)
    return ProbeOutcome(url, res.status, body, res.headers.get("location", ""))


def _logs(conn: HostConnection, container: str, secrets: SecretStore) -> str:
    logs = conn.run(f"docker logs --tail 20 {shlex.quote(container)} 2>&1").stdout
    return secrets.redactor().redact(logs.rstrip())


def _health_failure(
    conn: HostConnection, stack: RenderedStack, c: Container, why: str, secrets: SecretStore
) -> StackFailed:
    return StackFailed(
        f"{conn.name}: stack {stack.name}: container {c.name} {why} after up; last log lines:\n"
        + _logs(conn, c.name, secrets)
    )


def _timeout_failure(
    conn: HostConnection,
    stack: RenderedStack,
    watch: dict[tuple[str, str], _Watch],
    timeout: float,
    stable: float,
    engine_error: str,
    secrets: SecretStore,
) -> StackFailed:
    states = [(svc, watch[(stack.name, svc)]) for svc in stack.services]
    if engine_error:
        return StackFailed(
            f"{conn.name}: stack {stack.name}: Docker Engine stopped answering while waiting "
            f"({engine_error})"
        )
    missing = [svc for svc, w in states if w.container is None]
    if missing:
        return StackFailed(
            f"{conn.name}: stack {stack.name}: no container for {', '.join(missing)} "
            f"after {timeout:.0f}s"
        )
    w = next((w for _, w in states if w.ready_since is None), states[0][1])
    assert w.container is not None  # noqa: S101 - missing ones were handled above
    what = w.detail if w.ready_since is None else f"{w.detail}, not yet for {stable:.0f}s"
    return StackFailed(
        f"{conn.name}: stack {stack.name}: not ready after {timeout:.0f}s: {what} "
        f"(health {w.container.health}); last log lines:\n" + _logs(conn, w.container.name, secrets)
    )


def _post_deploy(
    conn: HostConnection, stack: RenderedStack, secrets: SecretStore
) -> tuple[tuple[str, ...], StackFailed | None]:
    """Run the stack's post-deploy steps (each skipped when its ``unless`` exits 0).

    Returns:
        The steps that ran, and the failure of the step that failed (None when all passed).
    """
    done: list[str] = []
    for step in stack.post_deploy:
        if step.unless and conn.run(step.unless, timeout=60).ok:
            continue
        res = conn.run(step.command, timeout=step.timeout)
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            return tuple(done), StackFailed(
                f"{conn.name}: stack {stack.name}: post-deploy step {step.name!r} exited "
                f"{res.exit_code}: {tail}"
            )
        done.append(step.name)
    return tuple(done), None


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
