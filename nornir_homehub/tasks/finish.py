"""The changed stacks' second half on a host: compose, the health wait, the steps, the records.

`finish_stacks` runs compose for every changed stack at once, waits until they all run
healthy (and stay so for the stable window), runs their post-deploy steps and writes their
state records, then records their releases (`tasks.releases`) and rolls back a stack whose
health wait failed. `wait_starting` waits for unchanged stacks that were still starting;
`converge_edge` waits until Traefik serves the (re)created routes. `tasks.deploy` runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import FileUpload, host_connection
from nornir_homehub.defaults import STACK_STATE_FILE as STATE_FILE
from nornir_homehub.errors import StackFailed, TransportError
from nornir_homehub.facts.stacks import Container, render_state
from nornir_homehub.tasks import edge
from nornir_homehub.tasks.apply import compose_all, run_post_deploy
from nornir_homehub.tasks.health import wait_ready

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore
    from nornir_homehub.tasks.releases import ReleaseContext

DEFAULT_WAIT = 180.0  # inventory deploy_wait_timeout: seconds until every container is ready
# Inventory deploy_stable_window: seconds a container must stay up after it first counted as
# ready (its healthcheck passed, Docker's or the wait's own run of it, or it answers its
# probes); a restart or exit in that window fails the deploy.
DEFAULT_STABLE = 10.0
EDGE_VARIABLES = ("domain", "traefik_certresolver", "traefik_probe_url", "traefik_api_url")


@dataclass
class WaitReads:
    """What `finish_stacks`'s health wait read for what follows it, and that still holds.

    Attributes:
        images: `running_images_command`'s result, read in the stable window (for
            `record_digests`); None when not read or no longer true.
        at_end: the ``at_end`` commands' results, read with the wait's last poll.
        at_end_time: when (``time.monotonic()``) the wait ended, right after that poll.
    """

    images: CommandResult | None = None
    at_end: dict[str, CommandResult] = field(default_factory=dict)
    at_end_time: float = 0.0


def finish_stacks(
    task: Task,
    *,
    stacks: list[RenderedStack],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
    secrets: SecretStore,
    wait_timeout: float,
    before: tuple[Container, ...] = (),
    stable_window: float = DEFAULT_STABLE,
    release: ReleaseContext | None = None,
    seen: WaitReads | None = None,
    at_end: Mapping[str, str] | None = None,
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
        release: record a release of each completed stack; roll a stack whose health wait
            failed back to its newest release (unless ``release.auto_rollback`` is False).
        seen: filled with what the wait read that still holds when this returns (read again
            after the steps when one ran or a stack was rolled back; `WaitReads`).
        at_end: name -> command, read with the health wait's last poll (`wait_ready`).

    Returns:
        Result with ``result`` = {stack: {containers, steps}}, ``changed`` when a step ran.

    Raises:
        StackFailed: compose failed, a container did not become ready (or restarted, exited or
            turned unhealthy in the stable window), or a step failed; the message names each
            stack and carries the container's state and last log lines (redacted).
    """
    conn = host_connection(task)
    failures: dict[str, StackFailed] = compose_all(conn, plans, secrets)
    waiting = [s for s in stacks if s.name not in failures]
    ahead: dict[str, CommandResult] = {}
    end: dict[str, CommandResult] = {}
    ready, unhealthy = wait_ready(
        conn,
        waiting,
        wait_timeout,
        secrets,
        before=before,
        stable=stable_window,
        while_stable=lambda: ahead.update(_read_ahead(conn, waiting, release is not None)),
        at_end=at_end,
        end_reads=end,
    )
    end_at = time.monotonic()  # right after the last poll, which read `at_end`
    rolled_back: list[tuple[str, str]] = []
    if release is not None and release.auto_rollback:
        from nornir_homehub.tasks.releases import auto_rollback

        for stack in waiting:
            if stack.name in unhealthy:
                unhealthy[stack.name], back = auto_rollback(
                    conn,
                    stack,
                    unhealthy[stack.name],
                    secrets,
                    release,
                    wait_timeout,
                    stable_window,
                )
                rolled_back += [(stack.name, back)] if back else []
    failures.update(unhealthy)
    done: dict[str, Any] = {}
    states: list[FileUpload] = []
    ran = False
    for stack in waiting:
        if stack.name not in ready:
            continue
        first = ahead.get(f"unless {stack.name}")
        steps, step_failure = run_post_deploy(
            conn, stack, secrets, first_unless=None if first is None else first.ok
        )
        ran |= bool(steps)
        if step_failure is not None:
            failures[stack.name] = step_failure
            continue
        # Written last: a later run that finds other hashes here knows what was not applied.
        state = render_state(
            stack.name, stack.config_hash, {p: f.sha256 for p, f in stack.files.items()}
        )
        states.append(FileUpload(f"{stack.project_dir}/{STATE_FILE}", state, 0o600))
        done[stack.name] = {"containers": ready[stack.name], "steps": list(steps)}
    # What the wait read holds while nothing ran since (no step, no rollback); otherwise all
    # that follows reads it again, at once. With no stack done, this raises below, unused.
    if (ran or rolled_back) and done:
        ahead = _read_ahead(conn, waiting, release is not None, extra=at_end, unless=False)
        end, end_at = {n: ahead[n] for n in at_end or {} if n in ahead}, time.monotonic()
    images = ahead.get("images") or ahead.get("runtime")
    if seen is not None:
        seen.at_end, seen.at_end_time = end, end_at
        seen.images = images if images is not None and images.ok else None
    # The state records, with the release records when there are any: one round trip.
    if release is not None:
        _record(conn, [s for s in stacks if s.name in done], release, done, ahead, states)
    else:
        conn.put_files(states)
    if failures:
        ordered = [failures[s.name] for s in stacks if s.name in failures]
        error = ordered[0]
        if len(ordered) > 1:
            error = StackFailed(
                f"{conn.name}: {len(ordered)} stacks failed: "
                + " | ".join(str(f).removeprefix(f"{conn.name}: ") for f in ordered)
            )
        error.rolled_back = tuple(rolled_back)
        raise error
    return Result(host=task.host, result=done, changed=ran)


def _record(
    conn: HostConnection,
    stacks: list[RenderedStack],
    release: ReleaseContext,
    done: dict[str, Any],
    ahead: Mapping[str, CommandResult],
    states: list[FileUpload],
) -> None:
    """Write ``states``, then record a release of each completed stack.

    One round trip when ``ahead`` (what the wait read, still true) holds the listing.

    Each release's id and images go to ``done``.
    """
    from nornir_homehub.tasks.releases import record_releases

    runtime = ahead.get("runtime")
    if runtime is None or not runtime.ok:
        # The records need a listing first: the state records do not wait for it.
        conn.put_files(states)
        recorded = record_releases(conn, stacks, release)
    else:
        recorded = record_releases(conn, stacks, release, runtime=runtime.stdout, also=states)
    for name, rec in recorded.items():
        done[name]["release"] = rec.id
        done[name]["images"] = {s: p.pin for s, p in rec.images.items()}


def _read_ahead(
    conn: HostConnection,
    stacks: list[RenderedStack],
    releases: bool,
    *,
    extra: Mapping[str, str] | None = None,
    unless: bool = True,
) -> dict[str, CommandResult]:
    """What follows the health wait reads, read in its stable window (one round trip).

    Each stack's first post-deploy ``unless`` (``unless STACK``; its containers are ready, and
    a crash in the window fails the stack anyway; not with ``unless`` False), the ``images``
    the containers run (for `record_digests`; with release records, the host's wide
    ``runtime`` fact, which serves both, instead), and ``extra`` (name -> command). A read
    that fails here is read again where it is needed.
    """
    from nornir_homehub.facts.images import running_images_command
    from nornir_homehub.facts.runtime import runtime_commands

    batch = {
        f"unless {s.name}": s.post_deploy[0].unless
        for s in stacks
        if unless and s.post_deploy and s.post_deploy[0].unless
    }
    batch.update(extra or {})
    if releases:  # one listing serves the release records and the digests
        batch["runtime"] = runtime_commands((), wide=True)["runtime"]
    elif stacks:
        batch["images"] = running_images_command()
    if not batch:
        return {}
    try:
        return conn.run_parallel(batch, timeout=60)
    except TransportError:
        return {}


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
