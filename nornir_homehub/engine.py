"""The engine under every command: stages, gates and a report that is always written.

`execute` selects nothing itself: it is given the selected hosts and a body (a runbook's
``run``, an ad-hoc command), opens a `RunRecorder`, runs the body with a `RunContext` whose
stages go through the timing and progress processors, writes the JSON report (and JUnit and
history) even when the run fails or is interrupted, and closes every connection.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict, Unpack

from nornir_homehub.errors import StageStopped

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.checks.model import Check
    from nornir_homehub.config import Settings
    from nornir_homehub.hostlock import HostLocks
    from nornir_homehub.progress import ProgressProcessor
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.report import RunRecorder, RunReport, TimingProcessor
    from nornir_homehub.secrets import SecretStore

__all__ = ["PROFILE_ENV", "RunContext", "RunParams", "StageStopped", "execute"]

PROFILE_ENV = "HOMEHUB_PROFILE"


@dataclass
class RunContext:
    """Handed to a runbook's ``run(nr, ctx, **options)``: stages, gates, secrets, settings.

    Attributes:
        settings: the config's ``homehub:`` settings.
        recorder: collects results and checks into the run's report.
        processor: shows progress (display only).
        timing: times every task instance (the report's durations come from it).
        dry_run: change nothing; show what would change.
        keep_going: no stage is a gate: a failed stage does not stop later ones
            (``--keep-going``).
        facts: facts a stage gathered for a later stage's render (the deploy puts
            ``ollama_installed``, compute host -> installed models, here after the compute
            stage; the trusted stage renders LiteLLM's config from it).
    """

    settings: Settings
    recorder: RunRecorder
    processor: ProgressProcessor
    timing: TimingProcessor
    dry_run: bool = False
    keep_going: bool = False
    _secrets: SecretStore | None = field(default=None, repr=False)
    redaction_note: str | None = None
    # A mutating run's deploy locks: taken before its first stage, released by `execute`.
    locks: HostLocks | None = field(default=None, repr=False)
    # Every stage's results in order (the audit log reads what each host's run did).
    results: list[tuple[str, AggregatedResult]] = field(default_factory=list, repr=False)
    facts: dict[str, Any] = field(default_factory=dict)

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
        self,
        nr: Nornir,
        only: Collection[str] | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> tuple[SecretStore, dict[str, list[RenderedStack]]]:
        """Load the secrets the selected hosts' stacks need and render every host offline.

        Runs before any host is touched: a missing secret (`SecretError`) or an undefined
        template variable (`ConfigError`) stops the run with exit 2 and nothing changed.
        ``facts`` (`RunContext.facts`) are facts gathered earlier in the run (None: render
        from the inventory alone).

        Returns:
            The secret store and host name -> rendered stacks (narrowed by ``only``).
        """
        from nornir_homehub.inventory import site_index
        from nornir_homehub.preflight import needed_secrets
        from nornir_homehub.render import render_host

        stacks_dir = self.settings.stacks_path
        hosts = list(nr.inventory.hosts.values())
        index = site_index(nr)
        needed = needed_secrets(nr, stacks_dir, only, index=index)
        secrets = self.secrets()
        secrets.require(sorted(needed))
        values = secrets.as_template_vars()
        rendered = {}
        for h in hosts:
            with self.phase(h.name, "render"):
                rendered[h.name] = render_host(
                    nr, h, stacks_dir, values, only, facts=facts, index=index
                )
        return secrets, rendered

    @contextlib.contextmanager
    def phase(self, host: str, name: str) -> Iterator[None]:
        """Time the block as phase ``name`` of ``host`` in this run's report (``--profile``).

        The same as `nornir_homehub.report.phases.phase`, which tasks call with their host.
        """
        with self.recorder.phases.measure(host, name):
            yield

    @property
    def processors(self) -> list[Any]:
        """The Nornir processors of every stage: timing first, then the display."""
        return [self.timing, self.processor]

    def stage(
        self,
        name: str,
        nr: Nornir,
        task: Callable[..., Any],
        *,
        gate: bool = True,
        **kwargs: Any,
    ) -> AggregatedResult:
        """Run ``task`` on ``nr``'s hosts in parallel as stage ``name`` and record it.

        A stage is a gate: when a host (or a check) failed in it, the run stops here
        (`StageStopped`) and the report says which stage stopped it and why. A stage declared
        ``gate=False`` (a check stage that records its failures, a plan the runbook judges
        itself) never stops the run; with ``keep_going`` (``--keep-going``) no stage does.
        ``kwargs`` go to the task. In a locking run each host is locked when the stage first
        connects to it; a host another run holds fails the run with `LockHeld` (exit 2).
        """
        with self.recorder.stage(name):
            agg = nr.with_processors(self.processors).run(
                task=task, name=name, on_failed=True, **kwargs
            )
            self.recorder.add_result(name, agg, self.timing)
        self.results.append((name, agg))
        if self.locks is not None:
            self.locks.check()  # a host another run holds: exit 2, naming the holder
        if agg.failed and gate and not self.keep_going:
            self.stop(name, _failure_reason(agg))
        return agg

    def lock(self, nr: Nornir) -> None:
        """Take the deploy lock of ``nr``'s hosts now (a locking run only; see `HostLocks`).

        A runbook that must hold all its hosts before its first change calls it first
        (``deploy``); otherwise a host is locked when a stage first connects to it.

        Raises:
            LockHeld: another run holds a host's lock (exit 2).
        """
        if self.locks is not None:
            self.locks.take(nr)

    def stop(self, stage: str, reason: str) -> NoReturn:
        """Stop the run at gate ``stage``: record why in the report and raise `StageStopped`.

        For a runbook that judges a non-gating stage itself (``migrate``'s plans).
        """
        self.recorder.stop(stage, reason)
        raise StageStopped(f"stage {stage} failed: {reason}")

    def check_stage(
        self,
        name: str,
        nr: Nornir,
        task: Callable[..., Any],
        *,
        host_check: str,
        **kwargs: Any,
    ) -> list[Check]:
        """Run a check task on ``nr``'s hosts as stage ``name`` (not a gate); return the checks.

        What ``check gpu`` and the ``gpu`` runbook (``HomeHub.check_gpu``) share, so that the
        terminal and a notebook report the same failure the same way. A host whose task raised
        gets one failed check ``host_check`` on the SSH layer, recorded in the report too.

        Args:
            name: the stage's name.
            nr: the hosts to check.
            task: a Nornir task returning ``Result(result=list[Check])``.
            host_check: the name of the check a host that could not be checked gets
                (``gpu.host``).
            **kwargs: passed to the task.

        Returns:
            Every host's checks, hosts in name order.

        Raises:
            ConfigError: a task found bad inventory data.

        """
        from nornir_homehub.checks.model import Check, Layer, Status
        from nornir_homehub.errors import ConfigError
        from nornir_homehub.secrets import redact_all

        agg = self.stage(name, nr, task, gate=False, **kwargs)
        checks: list[Check] = []
        broken: list[Check] = []
        for host in sorted(agg):
            res = agg[host][0]
            if isinstance(res.exception, ConfigError):
                raise res.exception
            if isinstance(res.result, list) and not res.exception:
                checks.extend(c for c in res.result if isinstance(c, Check))
                continue
            exc = res.exception
            broken.append(
                Check(
                    name=host_check,
                    host=host,
                    layer=Layer.SSH,
                    status=Status.FAIL,
                    evidence=redact_all(f"{type(exc).__name__}: {exc}" if exc else str(res.result)),
                    remedy="Check that the host is up and reachable over SSH: "
                    f"`python -m nornir_homehub exec --filter name={host} -- true`",
                )
            )
        self.recorder.add_checks(name, broken, name)
        return sorted(checks + broken, key=lambda c: c.host)


def _failure_reason(agg: AggregatedResult) -> str:
    """Why a stage failed, host by host: the exception's first line, or its failed checks."""
    from nornir_homehub.secrets import redact_all

    reasons = []
    for host in sorted(agg.failed_hosts):
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
    return "; ".join(reasons)


def _checks_of(multi: Iterable[Any]) -> list[Check]:
    from nornir_homehub.checks.model import Check

    out: list[Check] = []
    for r in multi:
        value = getattr(r, "result", None)
        checks = getattr(value, "checks", value)
        if isinstance(checks, list):
            out.extend(c for c in checks if isinstance(c, Check))
    return out


class RunParams(TypedDict, total=False):
    """How a run is made and what it leaves: the keyword arguments of `execute`.

    The commands built on the engine (`nornir_homehub.commands`) take and pass them on as
    they are. Every key is optional.

    Attributes:
        argv: the command line, as typed (the report keeps it, redacted).
        filters: the ``--filter`` terms (the report keeps them).
        dry_run: change nothing; show what would change (default False).
        keep_going: no stage is a gate (``--keep-going``; default False).
        report_path: write the JSON report here.
        junit_path: write JUnit XML here.
        progress: show progress on stderr (default True).
        progress_stream: where progress and notes go (default stderr).
        lock: a mutating run: take each host's deploy lock before the first stage, append to
            its audit log and release the lock at the end (never in a dry run).
        lock_wait: seconds to wait for a held lock (``--lock-wait``; default 0: exit 2).
        profile: print where the time went (phase x host, `profile_table`) on the progress
            stream at the end (default: env ``HOMEHUB_PROFILE`` set and not ``0``; the CLI's
            ``--profile`` sets it).

    """

    argv: Iterable[str]
    filters: Iterable[str]
    dry_run: bool
    keep_going: bool
    report_path: Path | None
    junit_path: Path | None
    progress: bool
    progress_stream: Any
    lock: bool
    lock_wait: float
    profile: bool


def execute(
    command: str,
    nr: Nornir,
    settings: Settings,
    body: Callable[[Nornir, RunContext], Any],
    **params: Unpack[RunParams],
) -> RunReport:
    """Run ``body(nr, ctx)`` with recording, progress and cleanup; return the finished report.

    ``params`` (`RunParams`): the command line and filters to record, dry run, keep going,
    where the report, JUnit file and progress go.

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
    from nornir_homehub.report import RunRecorder, TimingProcessor, phases, recording
    from nornir_homehub.secrets import load_secrets_for_output, redact_all

    dry_run = params.get("dry_run", False)
    stream = params.get("progress_stream")
    secrets, note = load_secrets_for_output(settings)
    if note:
        print(f"note: {redact_all(note)}", file=stream or sys.stderr)
    recorder = RunRecorder(
        command,
        list(params.get("argv", ())),
        dry_run=dry_run,
        filters=list(params.get("filters", ())),
        redact=redact_all,
    )
    timing = TimingProcessor()
    processor = ProgressProcessor(
        stream, enabled=params.get("progress", True), redact=redact_all, timings=timing
    )
    recorder.watch(timing)
    ctx = RunContext(
        settings,
        recorder,
        processor,
        timing,
        dry_run=dry_run,
        keep_going=params.get("keep_going", False),
        _secrets=secrets,
        redaction_note=note,
    )
    if params.get("lock") and not dry_run:
        from nornir_homehub.hostlock import HostLocks

        ctx.locks = HostLocks(nr, recorder, command, wait=params.get("lock_wait", 0.0))
    try:
        with (
            ctx.locks or contextlib.nullcontext(),
            recording(
                recorder,
                report_path=params.get("report_path"),
                junit_path=params.get("junit_path"),
                history_dir=settings.history_dir,
            ),
            contextlib.suppress(StageStopped),
            phases.active(recorder.phases),
        ):
            error: BaseException | None = None
            try:
                body(nr, ctx)
            except BaseException as exc:
                error = exc
                raise
            finally:
                if note:
                    _note_redaction(recorder, nr, command, note)
                if ctx.locks is not None:
                    if isinstance(error, KeyboardInterrupt):
                        # Ctrl-C: end what the hosts are doing (an upload is dropped, not
                        # finished) before the audit line and the release, on new connections.
                        close_all(nr)
                    ctx.locks.finish(ctx.results, error)
    finally:
        close_all(nr)
        if params.get("profile", os.environ.get(PROFILE_ENV, "") not in ("", "0")):
            _print_profile(recorder, stream or sys.stderr)
    assert recorder.report is not None  # noqa: S101 - recording() always finishes the report
    return recorder.report


def _print_profile(recorder: RunRecorder, stream: Any) -> None:
    """The ``--profile`` table of the finished run (nothing when the report was not made)."""
    from nornir_homehub.report import profile_table

    report = recorder.report
    if report is not None:
        print(f"profile of {report.command} (seconds per phase and host):", file=stream)
        print(profile_table(report.phases, report.duration_s), end="", file=stream, flush=True)


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
