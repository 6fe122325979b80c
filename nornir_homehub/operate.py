"""``status``, ``drift`` and ``logs``: what the CLI and `HomeHub` share to see what runs.

Each goes through the engine (`engine.execute`: the vault is loaded first, so everything shown
is redacted; a report is left in the history), reads the hosts and changes nothing. Input is
checked before any host is touched (unknown stack, broken template, broken zone: exit 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.engine import RunContext, RunParams, execute
from nornir_homehub.errors import ConfigError
from nornir_homehub.operate_views import DriftReport, StatusTable

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.config import Settings
    from nornir_homehub.report import RunReport
    from nornir_homehub.stackspec import StacksPath

FOLLOW_INTERVAL = 1.0  # seconds between two reads of the logs with --follow


def _projects(stacks_dir: StacksPath) -> dict[str, str]:
    """Compose project -> stack name, for every stack there is."""
    from nornir_homehub.stackspec import available_stacks, load_stack

    return {load_stack(stacks_dir, n).project: n for n in available_stacks(stacks_dir)}


def host_errors(agg: AggregatedResult) -> dict[str, str]:
    """Host -> why its task failed (the exception's first line, redacted)."""
    from nornir_homehub.secrets import redact_all

    out = {}
    for host in sorted(agg.failed_hosts):
        exc = agg[host][0].exception
        text = redact_all(f"{type(exc).__name__}: {exc}" if exc else str(agg[host][0].result))
        out[host] = text.splitlines()[0] if text else "failed"
    return out


def _inspect(ctx: RunContext, nr: Nornir, stage: str, errors: dict[str, str]) -> list[Any]:
    """Run `inspect_stacks` as ``stage``; the hosts' `HostInspection` (failures to ``errors``)."""
    from nornir_homehub.tasks.operate import inspect_stacks

    _secrets, rendered = ctx.render_all(nr)
    projects = _projects(ctx.settings.stacks_path)
    agg = ctx.stage(stage, nr, inspect_stacks, gate=False, rendered=rendered, projects=projects)
    errors.update(host_errors(agg))
    return [agg[host][0].result for host in sorted(agg) if host not in errors]


def stack_status(nr: Nornir, settings: Settings, **params: Unpack[RunParams]) -> StatusTable:
    """Status of every stack on ``nr``'s hosts (one batched round trip per host).

    Raises:
        ConfigError: a broken stack template or a missing secret (before any host).
    """
    from nornir_homehub.preflight import check_stacks

    check_stacks(nr, settings.stacks_path, None)
    found: list[Any] = []
    errors: dict[str, str] = {}

    def body(nr_: Nornir, ctx: RunContext) -> None:
        found.extend(s for host in _inspect(ctx, nr_, "status", errors) for s in host.stacks)

    params.setdefault("progress", False)
    report = execute("status", nr, settings, body, **params)
    return StatusTable(tuple(found), errors, report)


def find_drift(nr: Nornir, settings: Settings, **params: Unpack[RunParams]) -> DriftReport:
    """Compare what runs on ``nr``'s hosts with what is desired; change nothing.

    Stacks (files, data dirs, containers, state records, post-deploy steps) on every host
    that deploys stacks; the zone's managed records on the dns hosts (a dry run of ``dns``).

    Raises:
        ConfigError: a broken stack template, zone declaration or missing secret (before any
            host is touched).
    """
    from nornir_homehub.inventory import hosts_by_role
    from nornir_homehub.preflight import check_stacks, check_zone
    from nornir_homehub.tasks.operate import inspect_zone

    check_stacks(nr, settings.stacks_path, None)
    check_zone(nr)
    items: list[Any] = []
    checked: list[str] = []
    errors: dict[str, str] = {}

    def body(nr_: Nornir, ctx: RunContext) -> None:
        for found in _inspect(ctx, nr_, "drift", errors):
            checked.extend(f"{found.host}/{s.stack}" for s in found.stacks)
            items.extend([*(d for s in found.stacks for d in s.drift), *found.extra])
        dns = [h.name for h in hosts_by_role(nr_.inventory.hosts, "dns")]
        if dns:
            zones = ctx.stage(
                "zone drift",
                nr_.filter(filter_func=lambda h: h.name in dns),
                inspect_zone,
                gate=False,
            )
            errors.update(host_errors(zones))
            for host in sorted(zones):
                if host not in errors:
                    checked.append(f"{host}/zone")
                    items.extend(zones[host][0].result)

    params.setdefault("progress", False)
    report = execute("drift", nr, settings, body, **params)
    return DriftReport(tuple(items), tuple(checked), errors, report)


def valid_since(value: str) -> bool:
    """True when ``value`` is what ``docker logs --since`` takes (duration, Unix time, date)."""
    from nornir_homehub.facts.logs import SINCE

    return bool(SINCE.match(value))


def stack_hosts(nr: Nornir, settings: Settings, stack: str) -> Nornir:
    """The hosts of ``nr`` whose inventory ``stacks`` list ``stack``.

    Raises:
        ConfigError: ``stack`` is not a stack (the message lists the valid ones), or no
            selected host runs it.
    """
    from nornir_homehub.stackspec import available_stacks

    valid = available_stacks(settings.stacks_path)
    if stack not in valid:
        from nornir_homehub.problems import did_you_mean

        raise ConfigError(
            f"logs: unknown stack {stack!r}{did_you_mean(stack, valid)}; "
            f"valid stacks: {', '.join(valid) or 'none'}"
        )
    runs = nr.filter(filter_func=lambda h: stack in (h.get("stacks") or []))
    if not runs.inventory.hosts:
        raise ConfigError(
            f"logs: no selected host runs stack {stack!r} (hosts: "
            f"{', '.join(nr.inventory.hosts) or 'none'})"
        )
    return runs


def stack_logs(
    stack: str,
    nr: Nornir,
    settings: Settings,
    sink: Callable[[str], None],
    *,
    tail: int | None = None,
    since: str | None = None,
    follow: bool = False,
    polls: int | None = None,
    interval: float = FOLLOW_INTERVAL,
    **params: Unpack[RunParams],
) -> RunReport:
    """Send the log lines of ``stack``'s containers on ``nr``'s hosts to ``sink``, redacted.

    Each line is ``host container | text``, hosts in name order. With ``follow``, the logs
    are read again every ``interval`` seconds (``--since`` the last line seen) until Ctrl-C,
    or ``polls`` times (for tests).

    Raises:
        ConfigError: see `stack_hosts`, or a ``since`` Docker would refuse (before any host
            is touched).
    """
    import datetime as dt

    from nornir_homehub.facts.logs import fresh_lines
    from nornir_homehub.secrets import redact_all
    from nornir_homehub.stackspec import load_stack
    from nornir_homehub.tasks.operate import fetch_logs

    if since is not None and not valid_since(since):
        raise ConfigError(f"logs: --since {since!r}: not a duration (10m), Unix time or date")
    hosts = stack_hosts(nr, settings, stack)
    project = load_stack(settings.stacks_path, stack).project
    seen: dict[str, dict[str, str]] = {}

    def emit(agg: AggregatedResult) -> None:
        for host in sorted(agg):
            res = agg[host][0]
            if res.failed:
                continue
            lines, seen[host] = fresh_lines(res.result, seen.get(host, {}))
            for line in lines:
                sink(redact_all(f"{host} {line.container} | {line.text}"))

    def body(nr_: Nornir, ctx: RunContext) -> None:
        # Where the first poll starts when the first read showed nothing (not the whole log).
        start = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        agg = ctx.stage(
            "logs", nr_, fetch_logs, gate=False, project=project, tail=tail, since=since
        )
        for host, why in host_errors(agg).items():
            sink(f"{host} error: {why}")
        emit(agg)
        count = 0
        try:
            while follow and (polls is None or count < polls):
                count += 1
                time.sleep(interval)
                last = min((t for s in seen.values() for t in s.values()), default=None)
                emit(nr_.run(task=fetch_logs, project=project, since=last or start, on_failed=True))
        except KeyboardInterrupt:
            return  # Ctrl-C is how --follow ends

    params.setdefault("progress", False)
    return execute("logs", hosts, settings, body, **params)
