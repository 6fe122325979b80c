"""Wait until a host's stacks run ready: healthy, or answering their HTTP probes, and stable.

`wait_ready` polls one container listing per round (the shared Docker fact) for all stacks at
once. Ready means running and healthy; for a container without a Docker healthcheck, running
and answering the template's HTTP probes (``health.http`` in template.yaml). A container that
exits, restarts or turns unhealthy fails its stack at once, with its last log lines (redacted).

Docker runs a container's first healthcheck one ``interval`` after it started (Engine 25's
``start_interval`` aside), so "healthy" comes late for a service that is up at once. While
Docker still says "starting", the wait runs the compose file's own healthcheck command in the
container itself (``docker exec``, at most every `OWN_CHECK_EVERY` s); the stable window counts
from the first pass, Docker's or this one. The wait still ends only once Docker says healthy
too, so what it leaves (Traefik's routes, ``docker ps``, verify) sees a healthy container.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import CommandTimeout, ConnectionLost, StackFailed, TransportError
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers
from nornir_homehub.facts.stacks import Container, Health, stack_containers
from nornir_homehub.report.phases import timed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.facts.docker import ContainerFact, DockerContainers
    from nornir_homehub.facts.http import ProbeOutcome
    from nornir_homehub.render import HttpProbe, RenderedStack, ServiceHealth
    from nornir_homehub.secrets import SecretStore

POLL = 0.2  # a poll is one container listing: a few ms of the host once Nagle is off
ENGINE_ERRORS = 6  # consecutive polls without an answer from Docker Engine end the wait
OWN_CHECK_EVERY = 0.5  # seconds between runs of a starting container's healthcheck command
OWN_CHECK_TIMEOUT = 10  # seconds one run may take (compose's usual healthcheck timeout)
_LISTING = " listing"  # the poll's own key in a batch with ``at_end`` (no name of theirs)
VERDICT_WAIT = 0.3  # at most this long a poll waits on the host for Docker's health verdict
WINDOW_SLACK = 0.005  # poll this long after a window's end, so the poll's clock is past it


@dataclass
class _Watch:
    """One service being waited for: the container seen last, since when it counts as ready.

    ``passed_at``: when the container's healthcheck command first passed, run by this wait
    while Docker still said "starting" (None: not run, or not passed yet).
    """

    container: Container | None = None
    ready_since: float | None = None
    detail: str = "no container yet"
    passed_at: float | None = None
    checked_at: float = float("-inf")
    agreed: bool = False  # Docker's own view says ready (healthy, or no healthcheck)


def wait_healthy(
    conn: HostConnection, stacks: list[RenderedStack], timeout: float, secrets: SecretStore
) -> tuple[dict[str, list[dict[str, Any]]], StackFailed | None]:
    """`wait_ready` without a stable window; returns the first stack's failure (or None)."""
    ready, failed = wait_ready(conn, stacks, timeout, secrets)
    return ready, next((failed[s.name] for s in stacks if s.name in failed), None)


@timed("health")
def wait_ready(
    conn: HostConnection,
    stacks: list[RenderedStack],
    timeout: float,
    secrets: SecretStore,
    *,
    before: tuple[Container, ...] = (),
    stable: float = 0.0,
    while_stable: Callable[[], None] | None = None,
    at_end: Mapping[str, str] | None = None,
    end_reads: dict[str, CommandResult] | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, StackFailed]]:
    """Poll until every service of ``stacks`` is ready and stayed so for ``stable`` seconds.

    Ready means running and healthy; for a container without a Docker healthcheck, running and
    answering the template's HTTP probes (``health.http`` in template.yaml). One listing of the
    containers per poll covers all stacks. A container that exited, is restarting, turned
    unhealthy or was restarted by the engine (its restart count grew since ``before``, or since
    it was created) fails its stack at once; the others keep their full ``timeout``.
    ``while_stable`` is called once, in the first pause in which every stack still waited for
    is ready and only its window is left: the caller's reads for what follows the wait
    (`finish_stacks`) then cost no time of their own. ``at_end`` (name -> command) runs beside
    the container listing of each poll due in the last `POLL` seconds of every window or
    after, where the wait should end; when it ends with every stack ready, ``end_reads`` gets
    the results of its last poll.

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
    windows_end: float | None = None  # when every stack waited for has been ready long enough
    verdicts: list[Container] = []  # what only Docker's first healthy still holds up
    while True:
        # Within a poll of the end: the listing itself may take the wait past it.
        due = windows_end is not None and time.monotonic() >= windows_end - POLL
        docker, read, waited = _listing(conn, at_end if due else None, verdicts if due else [])
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
                    # A new container: readiness starts over.
                    w.ready_since = w.passed_at = None
                    w.checked_at = float("-inf")
                w.container = c
                crash = _crash(c, baseline) if c is not None else None
                if c is not None and crash is not None:
                    failed[stack.name] = _health_failure(conn, stack, c, crash, secrets)
                    break
                ok, w.detail = _ready(conn, c, health.get((stack.name, svc)), facts, secrets)
                _observe(conn, w, ok, stack.healthchecks.get(svc), now)
            if stack.name in failed:
                continue
            states = [watch[(stack.name, svc)] for svc in stack.services]
            if all(
                w.agreed and w.ready_since is not None and now - w.ready_since >= stable
                for w in states
            ):
                ready[stack.name] = [w.container.to_dict() for w in states if w.container]
            elif now > deadline or errors >= ENGINE_ERRORS:
                failed[stack.name] = _timeout_failure(
                    conn, stack, watch, timeout, stable, engine_error, secrets
                )
        if len(ready) + len(failed) == len(stacks):
            if read and not failed and end_reads is not None:
                end_reads.update(read)
            return ready, failed
        pending = [w for (name, _), w in watch.items() if name not in ready and name not in failed]
        ends, windows_end, verdicts = _windows(pending, stable)
        if while_stable is not None and windows_end is not None:
            while_stable()
            while_stable = None
        time.sleep(_pause(time.monotonic(), ends, waited if verdicts else None))


def _windows(
    pending: list[_Watch], stable: float
) -> tuple[list[float], float | None, list[Container]]:
    """The pending watches' window ends, and when all of them end (or None).

    None unless every watch counts as ready already. Also the containers whose readiness
    waits for Docker's verdict alone (their healthcheck passed, run by the wait, and Docker
    still says starting).
    """
    ends = [w.ready_since + stable for w in pending if w.ready_since is not None]
    last = max(ends) if ends and len(ends) == len(pending) else None
    verdicts = [w.container for w in pending if w.container and w.passed_at and not w.agreed]
    return ends, last, verdicts if last is not None else []


def _listing(
    conn: HostConnection, extra: Mapping[str, str] | None, verdicts: list[Container]
) -> tuple[DockerContainers, dict[str, CommandResult], float]:
    """One poll's container listing, ``extra`` run beside it (one round trip), its seconds.

    With ``verdicts``, the listing first waits on the host, at most `VERDICT_WAIT` seconds,
    until Docker reports a health status of one of those containers (`verdict_wait_command`);
    the seconds the poll took are returned then (else 0).
    """
    listing = containers_command(label=PROJECT_LABEL)
    start = time.monotonic()
    if verdicts:
        listing = f"{verdict_wait_command(verdicts)}; {listing}"
    docker, read = _run_listing(conn, listing, extra)
    return docker, read, time.monotonic() - start if verdicts else 0.0


def _run_listing(
    conn: HostConnection, listing: str, extra: Mapping[str, str] | None
) -> tuple[DockerContainers, dict[str, CommandResult]]:
    if extra:
        try:
            got = conn.run_parallel({_LISTING: listing, **extra})
        except (CommandTimeout, ConnectionLost):
            raise
        except TransportError:
            got = {}  # a batch the host cannot run: poll as usual
        if _LISTING in got:
            return parse_containers(got.pop(_LISTING)), got
    return parse_containers(conn.run(listing)), {}


def verdict_wait_command(containers: list[Container]) -> str:
    """Wait until Docker reports a health status of one of ``containers``; print nothing.

    Docker's ``health_status`` events since the earliest start are asked for (``docker
    events``, whose ``container`` filters add up): one that came already ends the wait at
    once, else the first to come, else `VERDICT_WAIT` seconds. It only ends a pause sooner;
    the listing after it says what the containers are. Without fractional ``sleep`` (old
    BusyBox) it does not wait at all.
    """
    since = min(c.started_at for c in containers)
    filters = " ".join(f"--filter container={shlex.quote(c.id)}" for c in containers)
    ticks = round(VERDICT_WAIT / 0.01)
    return (
        "v=$(mktemp) && { docker events --since "
        + shlex.quote(since)
        + f' --filter event=health_status {filters} --format x >"$v" 2>/dev/null & p=$!; '
        f'i=0; while [ "$i" -lt {ticks} ] && [ ! -s "$v" ]; do sleep 0.01 2>/dev/null || break; '
        'i=$((i + 1)); done; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; rm -f "$v"; }'
    )


def _pause(now: float, window_ends: list[float], waited: float | None = None) -> float:
    """Seconds until the next poll: `POLL`, or less when a stable window ends sooner.

    The poll right after a window's end sees the stack ready, instead of one up to `POLL`
    later (each wait of a deploy would pay that in series). ``waited``: the next poll waits on
    the host for Docker's verdict (`verdict_wait_command`), and the last one spent ``waited``
    seconds: once that poll is due (within `POLL` of the last window's end), the pause is only
    what it leaves of `POLL`, so a host that cannot wait is not asked more than once a `POLL`.
    """
    due = [end - now + WINDOW_SLACK for end in window_ends if end + WINDOW_SLACK > now]
    pause = min([POLL, *due])
    if waited is not None and window_ends and now >= max(window_ends) - POLL:
        return min(pause, max(0.0, POLL - waited))
    return pause


def _observe(
    conn: HostConnection, w: _Watch, ok: bool, test: tuple[str, ...] | None, now: float
) -> None:
    """Note what this poll saw of ``w``: Docker's view (``ok``) and, if due, the own check."""
    w.agreed = ok
    c = w.container
    if not ok and c is not None:
        _own_check(conn, w, c, test, now)
        if w.passed_at is not None:
            w.detail = (
                f"container {c.name} is running; its healthcheck command passed, run by the "
                "deploy; Docker's first check has not said healthy yet"
            )
    if not ok and w.passed_at is None:
        w.ready_since = None
    elif w.ready_since is None:
        w.ready_since = w.passed_at if w.passed_at is not None else now


def _own_check(
    conn: HostConnection, w: _Watch, c: Container, test: tuple[str, ...] | None, now: float
) -> None:
    """Run a starting container's healthcheck command once more, if it is due; note a pass.

    Only while Docker says "starting" and only the compose file's own test (``test``), so
    the answer is the one Docker's next check will give.
    """
    if (
        test is None
        or not c.running
        or c.health is not Health.STARTING
        or w.passed_at is not None
        or now - w.checked_at < OWN_CHECK_EVERY
    ):
        return
    w.checked_at = now
    kind, *args = test
    argv = args if kind == "CMD" else ["/bin/sh", "-c", args[0]]
    cmd = f"timeout {OWN_CHECK_TIMEOUT} docker exec {shlex.quote(c.id)} {shlex.join(argv)}"
    try:
        res = conn.run(f"{cmd} >/dev/null 2>&1", timeout=OWN_CHECK_TIMEOUT + 5)
    except TransportError:
        return  # the next listing says what happened to the host
    if res.exit_code == 0:
        w.passed_at = now


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
    w = next((w for _, w in states if w.ready_since is None or not w.agreed), states[0][1])
    assert w.container is not None  # noqa: S101 - missing ones were handled above
    waiting = w.ready_since is None or not w.agreed
    what = w.detail if waiting else f"{w.detail}, not yet for {stable:.0f}s"
    return StackFailed(
        f"{conn.name}: stack {stack.name}: not ready after {timeout:.0f}s: {what} "
        f"(health {w.container.health}); last log lines:\n" + _logs(conn, w.container.name, secrets)
    )
