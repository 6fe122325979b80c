"""The audit log: what each mutating run did on each host, and ``audit`` (all hosts, newest first).

`audit_entries` builds a run's line per host from its stages' results (the stacks it
deployed with their file hashes before and after, the image digests of the releases it
recorded, the result); `HostLocks.finish` appends them. `audit_log` reads every host's log and
merges them; ``--since`` and ``--filter KEY=VALUE`` narrow the entries (`parse_since`,
`entry_matches`, both pure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.errors import ConfigError
from nornir_homehub.facts.audit import AuditEntry
from nornir_homehub.report.clean import iso, utc_now

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.config import Settings
    from nornir_homehub.engine import RunParams
    from nornir_homehub.report import RunRecorder

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime) -> datetime:
    """``--since``: a duration before ``now`` (``30m``, ``2h``, ``7d``) or an ISO date/time (UTC).

    Raises:
        ConfigError: neither (exit 2, before any host is touched).
    """
    m = _DURATION.match(value.strip())
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"audit: --since {value!r}: not a duration (30m, 2h, 7d) or an ISO date/time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def parse_terms(terms: Iterable[str]) -> dict[str, str]:
    """``--filter KEY=VALUE`` terms of ``audit`` (keys: host, user, command, run_id, result, stack).

    Raises:
        ConfigError: a term without ``=``, an empty side, or an unknown key.
    """
    keys = ("host", "user", "command", "run_id", "result", "stack")
    out = {}
    for term in terms:
        key, sep, value = term.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"audit: --filter {term!r}: expected KEY=VALUE")
        if key not in keys:
            raise ConfigError(
                f"audit: --filter {term!r}: unknown key {key!r}; keys: {', '.join(keys)}"
            )
        out[key] = value
    return out


def entry_matches(entry: AuditEntry, terms: Mapping[str, str], since: datetime | None) -> bool:
    """Whether ``entry`` passes every term (``command`` matches a substring) and ``since``."""
    if since is not None:
        when = entry.when()
        if when is None or when < since:
            return False
    for key, value in terms.items():
        if key == "stack":
            if value not in entry.stacks:
                return False
        elif key == "command":
            if value not in entry.command:
                return False
        elif str(getattr(entry, key)) != value:
            return False
    return True


def audit_entries(
    recorder: RunRecorder,
    user: str,
    results: Sequence[tuple[str, AggregatedResult]],
    error: BaseException | None,
    *,
    hosts: Iterable[str],
) -> dict[str, AuditEntry]:
    """The run's audit line for each of ``hosts``, from its stages' results.

    A host's result is ``interrupted`` (Ctrl-C), ``failed`` (a failed task, or the run stopped
    by another exception), ``rolled back`` (a stack was rolled back automatically) or ``ok``.
    """
    from nornir_homehub.tasks.deploy import StackOutcome

    now = iso(utc_now())
    out = {}
    for host in hosts:
        stacks: dict[str, Any] = {}
        failed = False
        rolled_back = False
        for _stage, agg in results:
            if host not in agg:
                continue
            multi = agg[host]
            failed |= multi.failed
            for res in multi:
                value = res.result
                if isinstance(value, StackOutcome) and not value.dry_run:
                    stacks.setdefault(value.plan.stack, {}).update(value.audit())
                for name, extra in _release_facts(value, res.exception).items():
                    stacks.setdefault(name, {}).update(extra)
                    rolled_back |= bool(extra.get("rolled_back_to"))
        if isinstance(error, KeyboardInterrupt):
            result = "interrupted"
        elif failed or (error is not None and type(error).__name__ != "StageStopped"):
            result = "failed"
        else:
            result = "rolled back" if rolled_back else "ok"
        out[host] = AuditEntry(
            host=host,
            time=now,
            user=user,
            command=" ".join(recorder.argv) or recorder.command,
            run_id=recorder.run_id,
            result=result,
            stacks=stacks,
        )
    return out


def _release_facts(value: Any, exc: BaseException | None) -> dict[str, dict[str, Any]]:
    """Stack -> the release (and its image pins) or rollback a result or failure reports."""
    from nornir_homehub.errors import StackFailed

    out: dict[str, dict[str, Any]] = {}
    if isinstance(value, dict) and "to" in value and "release" in value:  # rollback_task
        out[str(value["stack"])] = {
            "rolled_back_to": value["to"],
            "release": value["release"],
            "images": value.get("images") or {},
        }
    elif isinstance(value, dict):  # tasks.finish: {stack: {containers, steps, release}}
        for name, done in value.items():
            if isinstance(done, dict) and "release" in done:
                out[str(name)] = {"release": done["release"], "images": done.get("images") or {}}
    if isinstance(exc, StackFailed):
        for name, release in exc.rolled_back:
            out.setdefault(name, {})["rolled_back_to"] = release
    return out


@dataclass(frozen=True)
class AuditReport:
    """``audit``: every selected host's entries, newest first, and the hosts that did not answer."""

    entries: tuple[AuditEntry, ...]
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """Every host's log was read."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "entries": [...], "errors": {host: why}}``."""
        return {
            "format": 1,
            "command": "audit",
            "entries": [e.to_dict() for e in self.entries],
            "errors": dict(self.errors),
        }

    def lines(self) -> list[str]:
        """One line per entry: time, host, result, run, user, stacks, command."""
        out = [
            f"{e.time[:19].replace('T', ' ')}  {e.host:<12} {e.result:<11} {e.run_id:<12} "
            f"{e.user:<20} {','.join(sorted(e.stacks)) or '-':<24} {e.command}"
            for e in self.entries
        ]
        return out + [f"{h}: {why}" for h, why in self.errors]


def audit_log(
    nr: Nornir,
    settings: Settings,
    *,
    since: str | None = None,
    terms: Iterable[str] = (),
    **params: Unpack[RunParams],
) -> AuditReport:
    """Read every selected host's audit log; merge, narrow and sort the entries, newest first.

    Raises:
        ConfigError: a bad ``since`` or filter term (before any host is touched).
    """
    from nornir_homehub.engine import RunContext, execute
    from nornir_homehub.secrets import redact_all
    from nornir_homehub.tasks.audit import read_audit

    moment = parse_since(since, utc_now()) if since else None
    wanted = parse_terms(terms)
    entries: list[AuditEntry] = []
    errors: list[tuple[str, str]] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        agg = ctx.stage("audit", nr_, read_audit, gate=False)
        for host in sorted(agg):
            res = agg[host][0]
            if res.exception is not None or not isinstance(res.result, tuple):
                errors.append(
                    (host, redact_all(f"{type(res.exception).__name__}: {res.exception}"))
                )
                continue
            entries.extend(e for e in res.result if entry_matches(e, wanted, moment))

    params.setdefault("progress", False)
    execute("audit", nr, settings, body, **params)
    entries.sort(key=lambda e: (e.time, e.host), reverse=True)
    return AuditReport(tuple(entries), tuple(errors))
