"""Zero-downtime swaps on the trusted host: start a twin, wait until Traefik routes it, remove it.

The plan (which services get a twin, and why) is `plan.twin`; this module does the I/O around
the deploy's compose run. A twin runs the NEW configuration in compose project
``<project>-twin`` from the same compose file plus an override that renames its container, so
Compose keeps owning both and the real container keeps its name. Waiting reads, in one round
trip per poll, the twins' containers and Traefik's API (``traefik_api_url``): a twin counts as
routed once its address on the Traefik network is a server of its Traefik service.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers
from nornir_homehub.facts.traefik import api_url, parse_traefik, traefik_api_commands
from nornir_homehub.plan.twin import DRAIN_FILE, ServiceUpdate, render_twin_override, server_url
from nornir_homehub.tasks.edge import DEFAULT_EDGE_WAIT

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.facts.docker import ContainerFact
    from nornir_homehub.facts.traefik import TraefikView
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.plan.twin import TwinPlan
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore

POLL_INTERVAL = 0.5
# Without Traefik's API the route cannot be seen: wait its provider throttle (2 s) and more.
BLIND_SETTLE = 5.0

Swaps = Mapping[str, tuple["RenderedStack", "TwinPlan"]]


def remove_twins(task: Task, *, swaps: Swaps, leftovers: bool = False) -> Result:
    """Remove the stacks' twins: those an earlier run left (``leftovers``), else this run's.

    Leftovers (a run killed mid-swap) go before anything starts; this run's twins go when the
    compose run failed, so no twin outlives the run.

    Returns:
        Result with ``result`` = {stack: removed container names}, ``changed`` when any.
    """
    conn = host_connection(task)
    removed = {}
    for name, (_, plan) in swaps.items():
        names = plan.leftovers if leftovers else tuple(u.twin for u in plan.twins)
        if names:
            _remove(conn, names)
            removed[name] = list(names)
    return Result(host=task.host, result=removed, changed=bool(removed))


def begin_swaps(
    task: Task,
    swaps: Swaps,
    touched: list[RenderedStack],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
    secrets: SecretStore,
    timeout: float,
) -> dict[str, str]:
    """Remove leftover twins, start this run's; drop the stacks whose twin failed from the run.

    ``touched`` and ``plans`` (the stacks the deploy recreates) lose those stacks in place.

    Returns:
        stack -> why its twin failed (the stack is not recreated: the old container serves).
    """
    if any(p.leftovers for _, p in swaps.values()):
        task.run(
            task=remove_twins,
            name="zero-downtime: remove leftover twins",
            swaps=swaps,
            leftovers=True,
        )
    starting = {n: s for n, s in swaps.items() if s[1].twins}
    if not starting:
        return {}
    res = task.run(
        task=start_twins,
        name="zero-downtime: twins healthy and routed",
        swaps=starting,
        secrets=secrets,
        wait_timeout=timeout,
        edge_timeout=float(task.host.get("edge_wait_timeout", DEFAULT_EDGE_WAIT)),
    )
    failed: dict[str, str] = res[0].result["failed"]
    touched[:] = [s for s in touched if s.name not in failed]
    for name in failed:
        plans.pop(name, None)
    return failed


def not_started(host: str, failed: Mapping[str, str]) -> StackFailed:
    """The deploy's error for stacks whose twin failed (each kept its old container)."""
    return StackFailed(
        f"{host}: "
        + " | ".join(
            f"stack {n}: zero-downtime swap not started, the old container keeps serving "
            f"(nothing recreated, no state record, no release recorded; no rollback needed): "
            f"{why}"
            for n, why in failed.items()
        )
    )


def start_twins(
    task: Task, *, swaps: Swaps, secrets: SecretStore, wait_timeout: float, edge_timeout: float
) -> Result:
    """Start each stack's twins and wait until they are healthy and routed by Traefik.

    A stack whose twin exits, restarts, turns unhealthy, or is not ready (``wait_timeout``)
    or routed (``edge_timeout`` after it was ready) in time has its twins removed and is named
    in ``result["failed"]`` (stack -> why): the caller does not recreate it, so its old
    container keeps serving.

    Returns:
        Result with ``result`` = {"twins": [row per twin with its timings], "failed": {...}},
        ``changed`` True (containers were started).
    """
    conn = host_connection(task)
    variables = {"traefik_api_url": task.host.get("traefik_api_url")}
    started = time.monotonic()
    cmds = {name: _up_command(stack, plan) for name, (stack, plan) in swaps.items()}
    results = conn.run_parallel(cmds)
    failed: dict[str, str] = {}
    for name, res in results.items():
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 600)
            failed[name] = f"twin did not start (compose exited {res.exit_code}): {tail}"
    waiting = {n: s for n, s in swaps.items() if n not in failed}
    limits = (wait_timeout, edge_timeout)
    rows, why = _wait_routed(conn, waiting, variables, started, limits, twin=True)
    failed.update(why)
    for name in failed:
        plan = swaps[name][1]
        failed[name] += _logs(conn, plan, secrets) if name in why else ""
        _remove(conn, tuple(u.twin for u in plan.twins))
    return Result(host=task.host, result={"twins": rows, "failed": failed}, changed=bool(swaps))


def finish_swaps(task: Task, *, swaps: Swaps, edge_timeout: float) -> Result:
    """Wait until the recreated containers are routed again, then remove the twins.

    The twins are removed in every case (also when the wait fails), so no twin outlives the
    run; Traefik's retry middleware sends a request that reached a stopping twin on to the
    recreated container.

    Returns:
        Result with ``result`` = [row per service: routed_s, removed_s], ``changed`` True.

    Raises:
        StackFailed: a recreated container was not routed within ``edge_timeout``.
    """
    conn = host_connection(task)
    variables = {"traefik_api_url": task.host.get("traefik_api_url")}
    started = time.monotonic()
    try:
        limits = (edge_timeout, edge_timeout)
        rows, failed = _wait_routed(conn, swaps, variables, started, limits, twin=False)
        drained = _drain(conn, swaps, variables, edge_timeout)
        for row in rows:
            row["twin_drained_s"] = round(drained - started, 2)
    finally:
        for _, plan in swaps.values():
            _remove(conn, tuple(u.twin for u in plan.twins))
    removed = round(time.monotonic() - started, 2)
    for row in rows:
        row["twin_removed_s"] = removed
    if failed:
        raise StackFailed(
            f"{conn.name}: " + " | ".join(f"stack {n}: {why}" for n, why in failed.items())
        )
    return Result(host=task.host, result=rows, changed=True)


def _up_command(stack: RenderedStack, plan: TwinPlan) -> str:
    # The override comes on stdin (`-f -`): a run killed here leaves no file behind.
    compose = shlex.quote(stack.compose_file.rsplit("/", 1)[-1])
    svcs = " ".join(shlex.quote(u.service) for u in plan.twins)
    text = stack.files[stack.compose_file].content.decode("utf-8", "replace")
    override = shlex.quote(render_twin_override(plan, text))
    return (
        f"cd {shlex.quote(stack.project_dir)} && printf '%s' {override} | "
        f"docker compose -p {shlex.quote(plan.project)} -f {compose} -f - "
        f"up -d --no-deps --force-recreate {svcs}"
    )


def _drain(
    conn: HostConnection, swaps: Swaps, variables: Mapping[str, Any], timeout: float
) -> float:
    """Take the twins out of Traefik's routing while they still serve; return when done.

    The twin's healthcheck fails once `DRAIN_FILE` exists (`render_twin_override`): Docker
    calls it unhealthy within about a second and Traefik drops it. Waits (at most ``timeout``)
    until Traefik's API no longer lists a twin's address; a twin that cannot be drained (no
    ``touch`` in its image) is stopped all the same, the retry middleware covering it.
    """
    twins = [u for _, p in swaps.values() for u in p.twins]
    conn.run(
        " ; ".join(f"docker exec {shlex.quote(u.twin)} touch {DRAIN_FILE}" for u in twins),
        timeout=60,
    )
    base = api_url(variables)
    deadline = time.monotonic() + timeout
    if not base:
        time.sleep(BLIND_SETTLE)
        return time.monotonic()
    while time.monotonic() < deadline:
        cmds = {"containers": containers_command(label=PROJECT_LABEL), **traefik_api_commands(base)}
        res = conn.run_batch(cmds, timeout=60)
        found = {c.name.lstrip("/"): c for c in parse_containers(res["containers"]).containers}
        view = parse_traefik(res)
        left = [
            u
            for u in twins
            if u.twin in found
            and not view.error
            and any(
                server_url(a, u.routed.port) in _servers(view, u)
                for a in found[u.twin].networks.values()
                if u.routed and a
            )
        ]
        if not left:
            break
        time.sleep(POLL_INTERVAL)
    return time.monotonic()


def _remove(conn: HostConnection, names: tuple[str, ...]) -> None:
    """Stop (gracefully, as Compose does) and remove the containers ``names``; never raises."""
    quoted = " ".join(shlex.quote(n) for n in names)
    conn.run(
        f"docker stop -t 10 {quoted} >/dev/null 2>&1; docker rm -f {quoted} >/dev/null 2>&1",
        timeout=60,
    )


def _logs(conn: HostConnection, plan: TwinPlan, secrets: SecretStore) -> str:
    names = [u.twin for u in plan.twins]
    res = conn.run(
        " ; ".join(f"docker logs --tail 5 {shlex.quote(n)} 2>&1" for n in names), timeout=30
    )
    text = secrets.redactor().tail(res.stdout.strip(), 400)
    return f"; last log lines: {text}" if text else ""


def _wait_routed(
    conn: HostConnection,
    swaps: Swaps,
    variables: Mapping[str, Any],
    started: float,
    limits: tuple[float, float],
    *,
    twin: bool,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Poll until every twin (``twin``) or recreated container is ready and routed.

    ``limits``: seconds from ``started`` until it must be ready, then from ready until routed.

    Returns:
        one row per service (container, address, ready_s, routed_s), and stack -> why for
        the stacks that failed.
    """
    ready_timeout, edge_timeout = limits
    base = api_url(variables)
    todo = {(n, u.service): u for n, (_, p) in swaps.items() for u in p.twins}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    failed: dict[str, str] = {}
    ready_at: dict[tuple[str, str], float] = {}
    while todo:
        cmds = {"containers": containers_command(label=PROJECT_LABEL)}
        if base:
            cmds.update(traefik_api_commands(base))
        res = conn.run_batch(cmds, timeout=60)
        found = {c.name.lstrip("/"): c for c in parse_containers(res["containers"]).containers}
        view = parse_traefik(res) if base else None
        now = time.monotonic()
        for key, update in list(todo.items()):
            name = update.twin if twin else update.container
            why, address = _state(found.get(name), update)
            if why:
                failed[key[0]] = f"{'twin ' if twin else ''}{name} {why}"
            elif address and key not in ready_at:
                ready_at[key] = now
            if key in ready_at and not why and _routed(view, update, address, now - ready_at[key]):
                rows[key] = {
                    "stack": key[0],
                    "service": key[1],
                    "container": name,
                    "address": address,
                    "ready_s": round(ready_at[key] - started, 2),
                    "routed_s": round(now - started, 2),
                    "routed_by": "traefik api" if view else f"{BLIND_SETTLE:.0f}s settle",
                }
            deadline = ready_at[key] + edge_timeout if key in ready_at else started + ready_timeout
            if key not in rows and not why and now >= deadline:
                what = "not routed by Traefik" if key in ready_at else "not ready"
                failed[key[0]] = (
                    f"{'twin ' if twin else ''}{name} {what} after {deadline - started:.0f}s"
                )
                failed[key[0]] += _seen(view, update)
            if key in rows or key[0] in failed:
                del todo[key]
        todo = {k: u for k, u in todo.items() if k[0] not in failed}
        if todo:
            time.sleep(POLL_INTERVAL)
    return list(rows.values()), failed


def _state(c: ContainerFact | None, update: ServiceUpdate) -> tuple[str, str]:
    """(why it failed, "" when it did not; its address once it is ready)."""
    if c is None:
        return "is gone", ""
    if c.state != "running":
        return f"is {c.state} (exit {c.exit_code})", ""
    if c.restart_count:
        return f"restarted {c.restart_count} time(s)", ""
    if c.health == "unhealthy":
        return "turned unhealthy (its healthcheck fails)", ""
    if c.health not in (None, "healthy"):
        return "", ""
    network = update.routed.network if update.routed else ""
    return "", c.networks.get(network, "") if network else next(iter(c.networks.values()), "")


def _routed(
    view: TraefikView | None, update: ServiceUpdate, address: str, ready_for: float
) -> bool:
    if view is None:
        return ready_for >= BLIND_SETTLE
    if view.error or update.routed is None:
        return False
    return server_url(address, update.routed.port) in _servers(view, update)


def _servers(view: TraefikView, update: ServiceUpdate) -> list[str]:
    want = f"{update.routed.traefik_service}@docker" if update.routed else ""
    for svc in view.services:
        if svc.get("name") == want:
            servers = (svc.get("loadBalancer") or {}).get("servers") or []
            return [str(s.get("url")) for s in servers if isinstance(s, Mapping)]
    return []


def _seen(view: TraefikView | None, update: ServiceUpdate) -> str:
    if view is None:
        return ""
    if view.error:
        return f"; Traefik's API: {view.error}"
    return f"; Traefik's servers for it: {', '.join(_servers(view, update)) or 'none'}"
