"""``releases [STACK]`` and ``rollback STACK [--to RELEASE]``.

``releases`` lists every host's releases, newest first, the current one marked.
The records themselves are `facts.releases`; what a rollback does on a host is
`tasks.releases.rollback_task`. A rollback is a mutating run: it takes the deploy lock, leaves
an audit line, records a new release (marked as a rollback to the target) and then runs the
stack's checks (the ``verify`` runbook for that stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.errors import ConfigError
from nornir_homehub.facts.releases import Release

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings
    from nornir_homehub.engine import RunParams
    from nornir_homehub.report import RunReport


@dataclass(frozen=True)
class ReleasesReport:
    """``releases``: each host's releases, newest first; the newest of a stack is current."""

    releases: tuple[Release, ...]
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """Every host was read."""
        return not self.errors

    def current(self) -> set[tuple[str, str, str]]:
        """(host, stack, id) of each stack's newest release on each host."""
        newest: dict[tuple[str, str], str] = {}
        for r in self.releases:
            key = (r.host, r.stack)
            newest[key] = max(newest.get(key, ""), r.id)
        return {(h, s, i) for (h, s), i in newest.items()}

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "releases": [...], "errors": {host: why}}``."""
        cur = self.current()
        return {
            "format": 1,
            "command": "releases",
            "releases": [
                {**r.summary(), "current": (r.host, r.stack, r.id) in cur} for r in self.releases
            ],
            "errors": dict(self.errors),
        }

    def lines(self) -> list[str]:
        """One line per release: marker, host, stack, id, who, images, what it was."""
        cur = self.current()
        out = []
        for r in self.releases:
            mark = "*" if (r.host, r.stack, r.id) in cur else " "
            images = ",".join(p.pin[:40] for p in r.images.values()) or "-"
            what = f"rollback to {r.rollback_of}" if r.rollback_of else "deploy"
            out.append(f"{mark} {r.host:<10} {r.stack:<10} {r.id}  {r.user}  {what}  {images}")
        return out + [f"{h}: {why}" for h, why in self.errors]


def list_releases(
    nr: Nornir, settings: Settings, stack: str | None = None, **params: Unpack[RunParams]
) -> ReleasesReport:
    """Read the releases of ``stack`` (all stacks when None) on every selected host."""
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import host_connection
    from nornir_homehub.engine import RunContext, execute
    from nornir_homehub.secrets import redact_all
    from nornir_homehub.tasks.hostlock import homehub_root
    from nornir_homehub.tasks.releases import read_releases

    def read(task: Task) -> Result:
        conn = host_connection(task)
        return Result(host=task.host, result=read_releases(conn, homehub_root(task), stack))

    found: list[Release] = []
    errors: list[tuple[str, str]] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        agg = ctx.stage("releases", nr_, read, gate=False)
        for host in sorted(agg):
            res = agg[host][0]
            if isinstance(res.result, tuple) and res.exception is None:
                found.extend(res.result)
            else:
                errors.append(
                    (host, redact_all(f"{type(res.exception).__name__}: {res.exception}"))
                )

    params.setdefault("progress", False)
    execute("releases", nr, settings, body, **params)
    found.sort(key=lambda r: (r.id, r.host, r.stack), reverse=True)
    return ReleasesReport(tuple(found), tuple(errors))


def rollback(
    nr: Nornir,
    settings: Settings,
    stack: str,
    to: str | None = None,
    *,
    verify: bool = True,
    **params: Unpack[RunParams],
) -> RunReport:
    """Roll ``stack`` back on every selected host that runs it, then run its checks.

    A dry run (``dry_run`` in ``params``) takes no lock, changes nothing and runs no checks:
    each host's stage shows the file diffs and the restart the rollback would make.

    Raises:
        ConfigError: an unknown stack, or no selected host runs it (before any host is
            touched); a held deploy lock (`LockHeld`).
    """
    from nornir_homehub.engine import RunContext, execute
    from nornir_homehub.preflight import parse_stacks
    from nornir_homehub.tasks.releases import ReleaseContext, rollback_task

    only = parse_stacks(stack, settings.stacks_path) or [stack]

    def body(nr_: Nornir, ctx: RunContext) -> None:
        secrets, rendered = ctx.render_all(nr_, set(only))
        hosts = [h for h, stacks in rendered.items() if any(s.name == stack for s in stacks)]
        if not hosts:
            raise ConfigError(f"rollback: no selected host runs stack {stack!r}")
        ctx.lock(nr_)
        ctx.stage(
            f"rollback {stack}",
            nr_.filter(filter_func=lambda h: h.name in hosts),
            rollback_task,
            stack=stack,
            to=to,
            secrets=secrets,
            rendered=rendered,
            release=ReleaseContext.of_run(ctx, auto_rollback=False),
            dry_run=ctx.dry_run,
        )
        if (
            verify
            and not ctx.dry_run
            and any((d / "verify.py").is_file() for d in settings.runbooks_path)
        ):
            from nornir_homehub.api import load_runbook

            load_runbook(settings, "verify")(nr_, ctx, stacks=[stack])

    params.setdefault("lock", True)
    return execute(f"rollback {stack}", nr, settings, body, **params)
