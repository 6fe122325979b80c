"""``HomeHub``: the Python API for notebooks and scripts, on the same engine as the CLI.

::

    from nornir_homehub import HomeHub
    hh = HomeHub("inventory/lab/config.yaml")
    hh.inventory()                                      # -> InventoryTable (no connection)
    hh.filter(role="compute").exec("docker ps")         # -> ExecResults (per host, HTML table)
    hh.filter(role="compute").deploy(dry_run=True)      # -> RunReport (repr, HTML table, to_dict)
    hh.status(), hh.drift()                             # -> StatusTable, DriftReport (HTML tables)
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.commands import exec_command, run_runbook, select_hosts
from nornir_homehub.errors import ConfigError
from nornir_homehub.runbook_loader import load_runbook_spec
from nornir_homehub.views import ExecResults, InventoryTable

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.audit import AuditReport
    from nornir_homehub.hostlock import LockReport
    from nornir_homehub.operate_views import DriftReport, StatusTable
    from nornir_homehub.outdated import OutdatedReport
    from nornir_homehub.prune import PruneReport
    from nornir_homehub.releases import ReleasesReport
    from nornir_homehub.report import RunReport


class HomeHub:
    """The Python API for notebooks and scripts (same engine as the CLI).

    Args:
        config: path of the config file (``config.yaml`` or ``inventory/lab/config.yaml``).
        filters: ``KEY=VALUE`` terms (AND), as with ``--filter``.
        limit: an Ansible-style host pattern, as with ``--limit`` (``"srv-prod-1,trusted"``).
    """

    def __init__(
        self,
        config: str | Path = "config.yaml",
        filters: Iterable[str] = (),
        limit: str | None = None,
    ) -> None:
        from nornir_homehub.config import load_settings, read_config

        self.config = Path(config)
        self._raw = read_config(self.config)
        self.settings = load_settings(self.config, self._raw)
        self.filters = tuple(filters)
        self.pattern = limit

    def __repr__(self) -> str:
        flt = " AND ".join(self.filters) or "all hosts"
        return f"HomeHub({str(self.config)!r}, {flt}: {', '.join(self.hosts())})"

    def filter(self, **terms: Any) -> HomeHub:
        """A new `HomeHub` narrowed further: ``hh.filter(role="compute")``."""
        new = HomeHub.__new__(HomeHub)
        new.config, new._raw, new.settings = self.config, self._raw, self.settings
        new.filters = self.filters + tuple(f"{k}={v}" for k, v in terms.items())
        new.pattern = self.pattern
        return new

    def limit(self, pattern: str) -> HomeHub:
        """A new `HomeHub` narrowed like Ansible's ``--limit``: ``hh.limit("trusted,!dns")``."""
        new = self.filter()
        new.pattern = pattern if self.pattern is None else f"{self.pattern},&{pattern}"
        return new

    def nornir(self) -> Nornir:
        """A Nornir object for the selected hosts (no connection opened)."""
        from nornir_homehub.config import load_nornir

        return select_hosts(load_nornir(self.config, self._raw), self.filters, self.pattern)

    def _checked_nornir(self) -> Nornir:
        """`nornir`, after checking that every host's known_hosts and key file are there.

        Raises:
            ConfigError: a missing known_hosts or key file (no host touched).
        """
        from nornir_homehub.validate import check_connection_files

        nr = self.nornir()
        check_connection_files(nr)
        return nr

    def hosts(self) -> list[str]:
        """Names of the selected hosts."""
        return list(self.nornir().inventory.hosts)

    def _repr_html_(self) -> str:
        flt = " AND ".join(self.filters) or "all hosts"
        return (
            f"<p>HomeHub <code>{html.escape(str(self.config))}</code>, "
            f"{html.escape(flt)}</p>{self.inventory()._repr_html_()}"
        )

    def inventory(self) -> InventoryTable:
        """The selected hosts with role, address and groups (opens no connection)."""
        return InventoryTable.of(self.nornir(), self.filters)

    def exec(
        self,
        command: str,
        *,
        timeout: float | None = None,
        report: str | Path | None = None,
        progress: bool = False,
    ) -> ExecResults:
        """Run a shell command on the selected hosts in parallel (like ``exec``).

        Raises:
            ConfigError: an empty command, a report path that cannot be written, a missing
                known_hosts or key file, before any host is touched.
        """
        from nornir_homehub.outputs import check_output_file

        if not command.strip():
            raise ConfigError("exec: empty command")
        if report is not None:
            check_output_file(str(report), "report")
        nr = self._checked_nornir()
        return exec_command(
            command,
            nr,
            self.settings,
            timeout=timeout,
            argv=["exec", "--", command],
            filters=self.filters,
            report_path=Path(report) if report else None,
            progress=progress,
        )

    def run(
        self,
        runbook: str,
        *,
        dry_run: bool = False,
        keep_going: bool = False,
        report: str | Path | None = None,
        progress: bool = False,
        **options: Any,
    ) -> RunReport:
        """Run a runbook (built-in or user) and return its report.

        Raises:
            ConfigError: an unknown runbook, an option it does not declare or of the wrong
                type, a report path that cannot be written, an unknown stack or a broken
                template or zone (as the CLI checks them), before any host is touched.
        """
        from nornir_homehub.outputs import check_output_file

        book = load_runbook_spec(self.settings, runbook)
        options = book.check(options)
        if report is not None:
            check_output_file(str(report), "report")
        return run_runbook(
            book,
            self.nornir(),
            self.settings,
            options,
            argv=[runbook, *(f"--{k}={v}" for k, v in options.items())],
            filters=self.filters,
            dry_run=dry_run,
            keep_going=keep_going,
            report_path=Path(report) if report else None,
            progress=progress,
        )

    def deploy(
        self,
        *,
        dry_run: bool = False,
        stacks: Iterable[str] | None = None,
        force: bool = False,
        **kw: Any,
    ) -> RunReport:
        """Deploy (full rollout without filters, like the CLI); see ``deploy --help``."""
        return self.run(
            "deploy",
            dry_run=dry_run,
            stacks=list(stacks) if stacks is not None else None,
            force=force,
            **kw,
        )

    def dns(self, *, dry_run: bool = False, **kw: Any) -> RunReport:
        """Update and verify the zone on the dns host."""
        return self.run("dns", dry_run=dry_run, **kw)

    def verify(self, **kw: Any) -> RunReport:
        """Run every verification check."""
        return self.run("verify", **kw)

    def check_gpu(self, **kw: Any) -> RunReport:
        """Run the GPU checks (runbook ``gpu``; hosts with ``gpu: null`` are skipped)."""
        return self.run("gpu", **kw)

    def status(self) -> StatusTable:
        """Hosts x stacks: containers, health, image, uptime, release, drift (like ``status``).

        Raises:
            ConfigError: a missing known_hosts or key file, a broken template (no host touched).
        """
        from nornir_homehub.operate import stack_status

        nr = self._checked_nornir()
        return stack_status(nr, self.settings, argv=["status"], filters=self.filters)

    def drift(self) -> DriftReport:
        """What runs compared with what is desired; changes nothing (like ``drift``).

        Raises:
            ConfigError: a missing known_hosts or key file, a broken template or zone.
        """
        from nornir_homehub.operate import find_drift

        nr = self._checked_nornir()
        return find_drift(nr, self.settings, argv=["drift"], filters=self.filters)

    def outdated(self) -> OutdatedReport:
        """The stacks whose tag now names a new digest in its registry (like ``outdated``).

        Raises:
            ConfigError: a missing known_hosts or key file, a broken template (no host touched).
        """
        from nornir_homehub.outdated import find_outdated

        nr = self._checked_nornir()
        return find_outdated(nr, self.settings, argv=["outdated"], filters=self.filters)

    def prune(self, *, dry_run: bool = True, keep: int | None = None) -> PruneReport:
        """Unused images of the stacks' repositories beyond ``keep`` (like ``prune``).

        A dry run (the default here) lists them; ``dry_run=False`` removes them.

        Raises:
            ConfigError: a missing known_hosts or key file, a broken template, ``keep`` < 0.
        """
        from nornir_homehub.prune import prune_images

        nr = self._checked_nornir()
        return prune_images(
            nr, self.settings, keep=keep, dry_run=dry_run, argv=["prune"], filters=self.filters
        )

    def releases(self, stack: str | None = None) -> ReleasesReport:
        """Every host's releases of ``stack`` (all without it), newest first (like ``releases``).

        Raises:
            ConfigError: a missing known_hosts or key file.
        """
        from nornir_homehub.releases import list_releases

        nr = self._checked_nornir()
        return list_releases(nr, self.settings, stack, argv=["releases"], filters=self.filters)

    def rollback(
        self, stack: str, *, to: str | None = None, verify: bool = True, dry_run: bool = False
    ) -> RunReport:
        """Return ``stack`` to a release (default: the previous one), like ``rollback``.

        ``dry_run``: like ``rollback --dry-run``, the diffs and the restart, nothing changed.

        Raises:
            ConfigError: an unknown stack, no selected host runs it; `LockHeld` (naming the
                holder) when another run holds a host's deploy lock.
        """
        from nornir_homehub.releases import rollback

        nr = self._checked_nornir()
        argv = ["rollback", stack, *(["--to", to] if to else [])]
        argv += ["--dry-run"] if dry_run else []
        return rollback(
            nr,
            self.settings,
            stack,
            to,
            verify=verify,
            argv=argv,
            filters=self.filters,
            dry_run=dry_run,
        )

    def audit(self, *, since: str | None = None, **terms: str) -> AuditReport:
        """Every host's audit log merged, newest first (like ``audit``; ``result="ok"``...).

        Raises:
            ConfigError: a bad ``since`` or key.
        """
        from nornir_homehub.audit import audit_log

        nr = self._checked_nornir()
        wanted = [f"{k}={v}" for k, v in terms.items()]
        return audit_log(nr, self.settings, since=since, terms=wanted, argv=["audit"])

    def locks(self) -> LockReport:
        """Each host's deploy lock (like ``lock status``); changes nothing."""
        from nornir_homehub.hostlock import lock_status

        nr = self._checked_nornir()
        return lock_status(nr, self.settings, argv=["lock", "status"], filters=self.filters)
