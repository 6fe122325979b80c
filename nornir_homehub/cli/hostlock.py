"""``lock status`` / ``lock release`` (the deploy locks) and ``audit`` (every host's audit log).

``lock status --json`` prints `LockReport.to_dict`, ``audit --json`` `AuditReport.to_dict`.
``lock status`` exits 0 whatever it finds (1 only when a host could not be read); ``lock
release`` exits 1 when a lock it was asked to break is not stale and ``--force`` was not given.
"""

from __future__ import annotations

import sys

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option
from nornir_homehub.cli.output import print_listing


@click.group("lock")
def lock() -> None:
    """The deploy lock each mutating run takes on every host it changes."""


@lock.command("status")
@filter_option
@json_option
@pass_app
@handle_errors
def lock_status_(app: AppContext, filters: tuple[str, ...], as_json: bool) -> None:
    """Show each host's deploy lock: free, or who holds it (stale ones marked)."""
    from nornir_homehub.hostlock import lock_status

    found = lock_status(app.targets(filters), app.settings, argv=sys.argv[1:], filters=filters)
    _print(found, as_json)


@lock.command("release")
@filter_option
@click.option("--host", "hosts", multiple=True, help="Only this host (repeatable).")
@click.option("--force", is_flag=True, help="Break a lock that is not stale too.")
@json_option
@pass_app
@handle_errors
def lock_release_(
    app: AppContext, filters: tuple[str, ...], hosts: tuple[str, ...], force: bool, as_json: bool
) -> None:
    """Break stale deploy locks (a lock whose process is gone, or older than lock_ttl).

    With --force, any lock: only when you know its run is no longer running.
    """
    from nornir_homehub.hostlock import lock_release

    terms = filters + tuple(f"name={h}" for h in hosts[:1])
    nr = app.targets(terms)
    if len(hosts) > 1:
        nr = nr.filter(filter_func=lambda h: h.name in hosts)
    found = lock_release(nr, app.settings, force=force, argv=sys.argv[1:], filters=terms)
    _print(found, as_json)


def _print(found: object, as_json: bool) -> None:
    from nornir_homehub.audit import AuditReport
    from nornir_homehub.hostlock import LockReport

    assert isinstance(found, LockReport | AuditReport)  # noqa: S101 - internal use only
    print_listing(found, as_json=as_json)


@click.command("audit")
@click.option(
    "--since", default=None, help="Only entries since: a duration (30m, 2h, 7d) or ISO time."
)
@click.option(
    "--filter",
    "terms",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only entries with KEY=VALUE (repeatable, AND): host, user, command (substring), "
    "run_id, result, stack.",
)
@json_option
@pass_app
@handle_errors
def audit(app: AppContext, since: str | None, terms: tuple[str, ...], as_json: bool) -> None:
    """Every host's audit log merged, newest first: who ran what, with which result."""
    from nornir_homehub.audit import audit_log, parse_since, parse_terms
    from nornir_homehub.report.clean import utc_now

    if since:
        parse_since(since, utc_now())
    parse_terms(terms)
    found = audit_log(app.targets(()), app.settings, since=since, terms=terms, argv=sys.argv[1:])
    _print(found, as_json)
