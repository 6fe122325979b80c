"""What the CLI, runbooks and notebooks share: run a procedure with stages, gates and a report.

``HomeHub`` is the notebook-friendly face::

    from nornir_homehub import HomeHub
    hh = HomeHub("inventory/lab/config.yaml")
    hh.inventory()                                      # -> InventoryTable (no connection)
    hh.filter(role="compute").exec("docker ps")         # -> ExecResults (per host, HTML table)
    hh.filter(role="compute").deploy(dry_run=True)      # -> RunReport (repr, HTML table, to_dict)

``execute`` is the engine under every command: it selects hosts, opens a `RunRecorder`, runs a
runbook's stages through a progress/timing processor, writes the JSON report (and JUnit and
history) even when the run fails or is interrupted, and closes every connection.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError, HomehubError
from nornir_homehub.problems import did_you_mean
from nornir_homehub.runbook_options import Option, check_values, declared_options, parse_cli

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.checks.model import Check
    from nornir_homehub.config import Settings
    from nornir_homehub.progress import ProgressProcessor
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.report import RunRecorder, RunReport
    from nornir_homehub.secrets import SecretStore


class StageStopped(HomehubError):
    """A gate stopped the run (the report's ``stopped_at`` says which stage and why)."""


@dataclass
class RunContext:
    """Handed to a runbook's ``run(nr, ctx, **options)``: stages, gates, secrets, settings.

    Attributes:
        settings: the config's ``homehub:`` settings.
        recorder: collects results and checks into the run's report.
        processor: times tasks and shows progress.
        dry_run: change nothing; show what would change.
        keep_going: a failed stage does not stop later ones.
    """

    settings: Settings
    recorder: RunRecorder
    processor: ProgressProcessor
    dry_run: bool = False
    keep_going: bool = False
    _secrets: SecretStore | None = field(default=None, repr=False)
    redaction_note: str | None = None

    def secrets(self) -> SecretStore:
        """Load the secrets once (vault + environment) and redact them everywhere from now on.

        Raises:
            SecretError: wrong vault password, unreadable vault (exit 2, before any host).
        """
        if self._secrets is None:
            from nornir_homehub.secrets import load_secrets, register_redactor

            self._secrets = load_secrets(self.settings)
            register_redactor(self._secrets.redactor())
        return self._secrets

    def render_all(
        self, nr: Nornir, only: Collection[str] | None = None
    ) -> tuple[SecretStore, dict[str, list[RenderedStack]]]:
        """Load the secrets the selected hosts' stacks need and render every host offline.

        Runs before any host is touched: a missing secret (`SecretError`) or an undefined
        template variable (`ConfigError`) stops the run with exit 2 and nothing changed.

        Returns:
            The secret store and host name -> rendered stacks (narrowed by ``only``).
        """
        from nornir_homehub.inventory import site_vars
        from nornir_homehub.render import render_host, secret_names, stacks_for_host

        stacks_dir = self.settings.stacks_path
        hosts = list(nr.inventory.hosts.values())
        needed: set[str] = set()
        for host in hosts:
            needed |= secret_names(stacks_for_host(site_vars(nr, host), stacks_dir, only))
        secrets = self.secrets()
        secrets.require(sorted(needed))
        values = secrets.as_template_vars()
        return secrets, {h.name: render_host(nr, h, stacks_dir, values, only) for h in hosts}

    def stage(
        self, name: str, nr: Nornir, task: Callable[..., Any], **kwargs: Any
    ) -> AggregatedResult:
        """Run ``task`` on ``nr``'s hosts in parallel as stage ``name`` and record it.

        A stage with a failed host (or a failed check) is a gate: unless ``keep_going``, the
        run stops here (`StageStopped`) and the report says which stage stopped it and why.
        """
        from nornir_homehub.secrets import redact_all

        with self.recorder.stage(name):
            agg = nr.with_processors([self.processor]).run(
                task=task, name=name, on_failed=True, **kwargs
            )
            self.recorder.add_result(name, agg, self.processor)
        if agg.failed:
            failed = sorted(agg.failed_hosts)
            reasons = []
            for host in failed:
                exc = next((r.exception for r in agg[host] if r.exception is not None), None)
                failed_checks = [c for c in _checks_of(agg[host]) if c.failed]
                if exc is not None:
                    # Redacted before the cut: a secret wrapped over lines is whole only here.
                    text = redact_all(str(exc))
                    first = text.splitlines()[0] if text else ""
                    reasons.append(f"{host}: {type(exc).__name__}: {first}")
                elif failed_checks:
                    reasons.append(f"{host}: {len(failed_checks)} check(s) failed")
                else:
                    reasons.append(f"{host}: failed")
            reason = "; ".join(reasons)
            if not self.keep_going:
                self.recorder.stop(name, reason)
                raise StageStopped(f"stage {name} failed: {reason}")
        return agg


def _checks_of(multi: Iterable[Any]) -> list[Check]:
    from nornir_homehub.checks.model import Check

    out: list[Check] = []
    for r in multi:
        value = getattr(r, "result", None)
        checks = getattr(value, "checks", value)
        if isinstance(checks, list):
            out.extend(c for c in checks if isinstance(c, Check))
    return out


_RUNBOOK_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Runbook:
    """A loaded runbook: its file, ``run`` function, declared options and summary line."""

    name: str
    path: Path
    run: Callable[..., Any]
    options: tuple[Option, ...]
    summary: str

    def parse_cli(self, terms: Iterable[str]) -> dict[str, Any]:
        """``-o KEY=VALUE`` terms as typed keyword options (see `runbook_options.parse_cli`)."""
        return parse_cli(self.name, self.options, terms)

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword options from Python, checked (see `runbook_options.check_values`)."""
        return check_values(self.name, self.options, values)


def available_runbooks(settings: Settings) -> list[str]:
    """Names of the site's and the built-in runbooks (``_helpers.py`` excluded), sorted."""
    return sorted(
        {
            p.stem
            for folder in settings.runbooks_path
            if folder.is_dir()
            for p in folder.glob("*.py")
            if not p.stem.startswith("_") and _RUNBOOK_NAME_RE.match(p.stem)
        }
    )


def _import_error(path: Path, exc: BaseException) -> ConfigError:
    """A runbook that cannot be imported, as one message naming its file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return ConfigError(f"runbook {path}:{exc.lineno}: syntax error: {exc.msg}")
    line = None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename) == path:
            line = frame.lineno
            break
    where = f"{path}:{line}" if line else str(path)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return ConfigError(f"runbook {where}: cannot be loaded: {type(exc).__name__}: {text}")


def load_runbook_spec(settings: Settings, name: str) -> Runbook:
    """Import runbook ``name``: its ``run`` function and declared ``OPTIONS``.

    The site's ``runbooks_dir`` is searched first, then the built-in runbooks.

    Raises:
        ConfigError: the name is not a plain name (letters, digits, ``_``), there is no such
            runbook (the message lists the available ones, with a "did you mean"), the file
            cannot be imported (syntax error or an exception: file and line), it has no
            ``run`` or its ``OPTIONS`` are malformed.
    """
    if not isinstance(name, str) or not _RUNBOOK_NAME_RE.match(name):
        raise ConfigError(
            f"runbook name {name!r} is not a plain name (letters, digits and _ only, e.g. "
            "deploy); runbooks are the .py files of homehub.runbooks_dir"
        )
    found = [d / f"{name}.py" for d in settings.runbooks_path if (d / f"{name}.py").is_file()]
    if not found:
        avail = available_runbooks(settings)
        where = ", ".join(
            str(d) if d.is_dir() else f"{d} (the folder does not exist)"
            for d in settings.runbooks_path
        )
        raise ConfigError(
            f"no runbook {name!r} in {where}{did_you_mean(name, avail)}; "
            f"available: {', '.join(avail) or 'none'}"
        )
    path = found[0]
    spec = importlib.util.spec_from_file_location(f"homehub_runbook_{name}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ConfigError(f"cannot load runbook {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the runbook's own code failed: a config problem, not ours
        sys.modules.pop(spec.name, None)
        raise _import_error(path, exc) from None
    fn = getattr(module, "run", None)
    if not callable(fn):
        raise ConfigError(f"runbook {path} has no run(nr, ctx, **options) function")
    doc = (module.__doc__ or "").strip().splitlines()
    return Runbook(name, path, fn, declared_options(module, fn, str(path)), doc[0] if doc else "")


def load_runbook(settings: Settings, name: str) -> Callable[..., Any]:
    """Import ``<runbooks_dir>/<name>.py`` and return its ``run`` function.

    Raises:
        ConfigError: see `load_runbook_spec`.
    """
    return load_runbook_spec(settings, name).run


def execute(
    command: str,
    nr: Nornir,
    settings: Settings,
    body: Callable[[Nornir, RunContext], Any],
    *,
    argv: Iterable[str] = (),
    filters: Iterable[str] = (),
    dry_run: bool = False,
    keep_going: bool = False,
    report_path: Path | None = None,
    junit_path: Path | None = None,
    progress: bool = True,
    progress_stream: Any = None,
) -> RunReport:
    """Run ``body(nr, ctx)`` with recording, progress and cleanup; return the finished report.

    The secrets are loaded first, whatever the command, so that everything it shows or writes
    (its own command line included) is redacted. A vault that cannot be opened is an error
    only for a body that needs it (``ctx.secrets()``); otherwise stderr and the report (a
    ``secrets.redaction`` warning per host) say that only the known values were redacted.

    The report is written to ``report_path``/``junit_path`` and the history folder even when
    ``body`` raises; a `StageStopped` is not an error here (the report says where it stopped);
    a `ConfigError` (missing secret, bad template variable) propagates after the report.
    """
    from nornir_homehub.connection import close_all
    from nornir_homehub.progress import ProgressProcessor
    from nornir_homehub.report import RunRecorder, recording
    from nornir_homehub.secrets import load_secrets_for_output, redact_all

    secrets, note = load_secrets_for_output(settings)
    if note:
        print(f"note: {redact_all(note)}", file=progress_stream or sys.stderr)
    recorder = RunRecorder(
        command, list(argv), dry_run=dry_run, filters=list(filters), redact=redact_all
    )
    processor = ProgressProcessor(progress_stream, enabled=progress, redact=redact_all)
    recorder.watch(processor)
    ctx = RunContext(
        settings,
        recorder,
        processor,
        dry_run=dry_run,
        keep_going=keep_going,
        _secrets=secrets,
        redaction_note=note,
    )
    try:
        with (
            recording(
                recorder,
                report_path=report_path,
                junit_path=junit_path,
                history_dir=settings.history_dir,
            ),
            contextlib.suppress(StageStopped),
        ):
            try:
                body(nr, ctx)
            finally:
                if note:
                    _note_redaction(recorder, nr, command, note)
    finally:
        close_all(nr)
    assert recorder.report is not None  # noqa: S101 - recording() always finishes the report
    return recorder.report


def _note_redaction(recorder: RunRecorder, nr: Nornir, stage: str, note: str) -> None:
    """Record in the report that only the known secret values were redacted (one per host)."""
    from nornir_homehub.checks.model import Check, Layer, Status

    remedy = (
        "give the vault and its password (homehub.vault_file with vault_password_file, "
        "HOMEHUB_VAULT_PASSWORD or HOMEHUB_VAULT_PASSWORD_FILE) so that every secret value "
        "is redacted"
    )
    checks = [
        Check("secrets.redaction", host, Layer.AUTH, Status.WARN, note, remedy)
        for host in nr.inventory.hosts
    ]
    recorder.add_checks(stage, checks, "secrets")


def _dataframe(rows: list[dict[str, Any]], what: str) -> Any:
    try:
        pd = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            f"{what}.to_dataframe() needs pandas: pip install 'nornir_homehub[pandas]' "
            "(to_dict() gives the same rows without it)"
        ) from None
    return pd.DataFrame(rows)


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(frozen=True)
class InventoryTable:
    """The selected hosts (name, role, address, groups, fqdn), as ``inventory`` lists them.

    Iterable over row dicts; a text table as repr, an HTML table in Jupyter, ``to_dict()``,
    ``to_dataframe()`` with pandas.
    """

    rows: tuple[dict[str, Any], ...]
    filter: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @property
    def names(self) -> list[str]:
        """Host names, in inventory order."""
        return [r["name"] for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"hosts": [...], "filter": [...]}`` (the same as ``inventory --json``)."""
        return {"hosts": [dict(r) for r in self.rows], "filter": list(self.filter)}

    def to_dataframe(self) -> Any:
        """Return the rows as a pandas DataFrame (needs the ``pandas`` extra)."""
        return _dataframe([dict(r) for r in self.rows], "InventoryTable")

    def _cells(self) -> list[list[str]]:
        return [
            [r["name"], r["role"] or "-", r["hostname"] or "-", ",".join(r["groups"])]
            for r in self.rows
        ]

    def __repr__(self) -> str:
        return _text_table(["NAME", "ROLE", "ADDRESS", "GROUPS"], self._cells())

    def _repr_html_(self) -> str:
        cells = [[html.escape(c) for c in row] for row in self._cells()]
        return _html_table(["name", "role", "address", "groups"], cells)


@dataclass(frozen=True)
class ExecRow:
    """One host's outcome of an ad-hoc command.

    Attributes:
        host: the host's name.
        ok: the command ran and exited 0.
        exit_code: its exit code (None when it could not run, e.g. SSH failed).
        stdout: its standard output.
        stderr: its standard error.
        error: why it could not run (``TransportError: ...``), else None.

    """

    host: str
    ok: bool
    exit_code: int | None
    stdout: str
    stderr: str
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (a row of ``exec --json``)."""
        return {
            "host": self.host,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "error": self.error,
        }


@dataclass(frozen=True)
class ExecResults:
    """Every selected host's outcome of one ad-hoc command, plus the run's report.

    ``results["compute"].stdout``; a readable repr, an HTML table in Jupyter, ``to_dict()``
    (the document ``exec --json`` prints), ``to_dataframe()`` with pandas.
    """

    command: str
    rows: tuple[ExecRow, ...]
    report: RunReport
    redaction_note: str | None = None

    @property
    def ok(self) -> bool:
        """True when the command exited 0 on every host."""
        return all(r.ok for r in self.rows)

    def __getitem__(self, host: str) -> ExecRow:
        for r in self.rows:
            if r.host == host:
                return r
        raise KeyError(host)

    def __iter__(self) -> Iterator[ExecRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"command", "run_id", "hosts": [row, ...], "redaction_note"}``.

        ``redaction_note`` is None when the vault was loaded (every secret redacted), else why
        only the values known without it were.
        """
        return {
            "command": self.command,
            "run_id": self.report.run_id,
            "hosts": [r.to_dict() for r in self.rows],
            "redaction_note": self.redaction_note,
        }

    def to_dataframe(self) -> Any:
        """Return one row per host as a pandas DataFrame (needs the ``pandas`` extra)."""
        return _dataframe([r.to_dict() for r in self.rows], "ExecResults")

    @staticmethod
    def _status(r: ExecRow) -> str:
        return f"exit {r.exit_code}" if r.error is None else "FAILED"

    def __repr__(self) -> str:
        parts = [f"<ExecResults {self.command!r} {'ok' if self.ok else 'FAILED'}>"]
        for r in self.rows:
            parts.append(f"=== {r.host} ({self._status(r)})")
            parts.extend(text.rstrip("\n") for text in (r.error or "", r.stdout, r.stderr) if text)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = [
            [
                esc(r.host),
                esc(self._status(r)),
                f"<pre>{esc(r.stdout)}</pre>",
                f"<pre>{esc(r.error or r.stderr)}</pre>",
            ]
            for r in self.rows
        ]
        title = f"<p><code>{esc(self.command)}</code> {'ok' if self.ok else 'FAILED'}</p>"
        return title + _html_table(["host", "status", "stdout", "stderr / error"], cells)


def exec_command(
    command: str,
    nr: Nornir,
    settings: Settings,
    *,
    timeout: float | None = None,
    argv: Iterable[str] = (),
    filters: Iterable[str] = (),
    report_path: Path | None = None,
    junit_path: Path | None = None,
    progress: bool = False,
) -> ExecResults:
    """Run a shell command on ``nr``'s hosts in parallel as stage ``exec``, with a report.

    A host where the command cannot run (SSH down) or exits non-zero fails alone; the others
    finish. The output is returned whole, with every secret value the vault (and the
    environment) holds replaced by ``<secret NAME>``: ``cat`` of a rendered ``.env`` file
    shows its keys, not its values. When the vault cannot be opened, ``redaction_note`` says
    so (only the values known without it are replaced).
    """
    from nornir_homehub.connection import CommandResult
    from nornir_homehub.secrets import redact_all
    from nornir_homehub.tasks.exec import run_command

    rows: list[ExecRow] = []
    notes: list[str | None] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        notes.append(ctx.redaction_note)
        agg = ctx.stage("exec", nr_, run_command, command=command, timeout=timeout)
        r = redact_all
        for name in sorted(agg):
            res = agg[name][0]
            if isinstance(res.result, CommandResult):
                out = res.result
                rows.append(
                    ExecRow(name, out.ok, out.exit_code, r(out.stdout), r(out.stderr), None)
                )
            else:
                exc = res.exception
                error = f"{type(exc).__name__}: {exc}" if exc else str(res.result)
                rows.append(ExecRow(name, False, None, "", "", r(error)))

    report = execute(
        "exec",
        nr,
        settings,
        body,
        argv=argv,
        filters=filters,
        keep_going=True,
        report_path=report_path,
        junit_path=junit_path,
        progress=progress,
    )
    return ExecResults(redact_all(command), tuple(rows), report, notes[0] if notes else None)


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
        from nornir_homehub.inventory import apply_filters, apply_limit, parse_filters

        nr = apply_limit(load_nornir(self.config, self._raw), self.pattern)
        return apply_filters(nr, parse_filters(self.filters))

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
        from nornir_homehub.inventory import host_summary

        rows = tuple(host_summary(h) for h in self.nornir().inventory.hosts.values())
        return InventoryTable(rows, self.filters)

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
        from nornir_homehub.validate import check_connection_files

        if not command.strip():
            raise ConfigError("exec: empty command")
        if report is not None:
            check_output_file(str(report), "report")
        nr = self.nornir()
        check_connection_files(nr)
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
                type, a report path that cannot be written, before any host is touched.
        """
        from nornir_homehub.outputs import check_output_file

        book = load_runbook_spec(self.settings, runbook)
        options = book.check(options)
        if report is not None:
            check_output_file(str(report), "report")
        nr = self.nornir()
        return execute(
            runbook,
            nr,
            self.settings,
            lambda nr_, ctx: book.run(nr_, ctx, **options),
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
