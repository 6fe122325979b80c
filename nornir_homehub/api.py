"""What the CLI, runbooks and notebooks share: run a procedure with stages, gates and a report.

``HomeHub`` is the notebook-friendly face::

    from nornir_homehub import HomeHub
    hh = HomeHub("inventory/lab/config.yaml")
    hh.filter(role="compute").deploy(dry_run=True)      # -> RunReport (repr, HTML table, to_dict)

``execute`` is the engine under every command: it selects hosts, opens a `RunRecorder`, runs a
runbook's stages through a progress/timing processor, writes the JSON report (and JUnit and
history) even when the run fails or is interrupted, and closes every connection.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError, HomehubError

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.checks.model import Check
    from nornir_homehub.config import Settings
    from nornir_homehub.progress import ProgressProcessor
    from nornir_homehub.report import RunRecorder, RunReport
    from nornir_homehub.secrets import SecretStore

BUILTIN_RUNBOOKS = ("dns", "deploy", "verify", "rollout", "gpu")


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

    def stage(
        self, name: str, nr: Nornir, task: Callable[..., Any], **kwargs: Any
    ) -> AggregatedResult:
        """Run ``task`` on ``nr``'s hosts in parallel as stage ``name`` and record it.

        A stage with a failed host (or a failed check) is a gate: unless ``keep_going``, the
        run stops here (`StageStopped`) and the report says which stage stopped it and why.
        """
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
                    first = str(exc).splitlines()[0] if str(exc) else ""
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


def load_runbook(settings: Settings, name: str) -> Callable[..., Any]:
    """Import ``<runbooks_dir>/<name>.py`` and return its ``run`` function.

    Raises:
        ConfigError: no such runbook (the message lists the available ones) or no ``run``.
    """
    path = settings.runbooks_dir / f"{name}.py"
    if not path.is_file():
        avail = sorted(
            p.stem for p in settings.runbooks_dir.glob("*.py") if not p.stem.startswith("_")
        )
        raise ConfigError(
            f"no runbook {name!r} in {settings.runbooks_dir}; available: {', '.join(avail)}"
        )
    spec = importlib.util.spec_from_file_location(f"homehub_runbook_{name}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ConfigError(f"cannot load runbook {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, "run", None)
    if not callable(fn):
        raise ConfigError(f"runbook {path} has no run(nr, ctx, **options) function")
    return fn  # type: ignore[no-any-return]


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

    The report is written to ``report_path``/``junit_path`` and the history folder even when
    ``body`` raises; a `StageStopped` is not an error here (the report says where it stopped);
    a `ConfigError` (missing secret, bad template variable) propagates after the report.
    """
    from nornir_homehub.connection import close_all
    from nornir_homehub.progress import ProgressProcessor
    from nornir_homehub.report import RunRecorder, recording
    from nornir_homehub.secrets import redact_all

    recorder = RunRecorder(
        command, list(argv), dry_run=dry_run, filters=list(filters), redact=redact_all
    )
    processor = ProgressProcessor(progress_stream, enabled=progress, redact=redact_all)
    recorder.watch(processor)
    ctx = RunContext(settings, recorder, processor, dry_run=dry_run, keep_going=keep_going)
    try:
        with recording(
            recorder,
            report_path=report_path,
            junit_path=junit_path,
            history_dir=settings.history_dir,
        ), contextlib.suppress(StageStopped):
            body(nr, ctx)
    finally:
        close_all(nr)
    assert recorder.report is not None  # noqa: S101 - recording() always finishes the report
    return recorder.report


class HomeHub:
    """The Python API for notebooks and scripts (same engine as the CLI).

    Args:
        config: path of the config file (``config.yaml`` or ``inventory/lab/config.yaml``).
        filters: ``KEY=VALUE`` terms (AND), as with ``--filter``.
    """

    def __init__(self, config: str | Path = "config.yaml", filters: Iterable[str] = ()) -> None:
        from nornir_homehub.config import load_settings, read_config

        self.config = Path(config)
        self._raw = read_config(self.config)
        self.settings = load_settings(self.config, self._raw)
        self.filters = tuple(filters)

    def __repr__(self) -> str:
        flt = " AND ".join(self.filters) or "all hosts"
        return f"HomeHub({str(self.config)!r}, {flt}: {', '.join(self.hosts())})"

    def filter(self, **terms: Any) -> HomeHub:
        """A new `HomeHub` narrowed further: ``hh.filter(role="compute")``."""
        new = HomeHub.__new__(HomeHub)
        new.config, new._raw, new.settings = self.config, self._raw, self.settings
        new.filters = self.filters + tuple(f"{k}={v}" for k, v in terms.items())
        return new

    def nornir(self) -> Nornir:
        """A Nornir object for the selected hosts (no connection opened)."""
        from nornir_homehub.config import load_nornir
        from nornir_homehub.inventory import apply_filters, parse_filters

        return apply_filters(load_nornir(self.config, self._raw), parse_filters(self.filters))

    def hosts(self) -> list[str]:
        """Names of the selected hosts."""
        return list(self.nornir().inventory.hosts)

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
        """Run a runbook (built-in or user) and return its report."""
        fn = load_runbook(self.settings, runbook)
        return execute(
            runbook,
            self.nornir(),
            self.settings,
            lambda nr, ctx: fn(nr, ctx, **options),
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
            stacks=list(stacks) if stacks else None,
            force=force,
            full=not self.filters,
            **kw,
        )

    def dns(self, *, dry_run: bool = False, **kw: Any) -> RunReport:
        """Update and verify the zone on the dns host."""
        return self.run("dns", dry_run=dry_run, **kw)

    def verify(self, **kw: Any) -> RunReport:
        """Run every verification check."""
        return self.run("verify", **kw)

    def check_gpu(self, **kw: Any) -> RunReport:
        """Run the GPU checks."""
        return self.run("gpu", **kw)
