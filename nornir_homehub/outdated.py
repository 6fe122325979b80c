"""``outdated``: which stacks' tags name a new digest in their registry (notify only, like Diun).

Each selected host asks the registries itself (`tasks.outdated`, `facts.registry`): the
Registry HTTP API v2, anonymous token flow included (Docker Hub, GHCR, Quay); a registry that
needs credentials to read is reported as ``unknown``. `OutdatedReport` is what the CLI prints
(a table, or ``--json``) and a notebook shows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.engine import RunContext, RunParams, execute
from nornir_homehub.operate import host_errors
from nornir_homehub.operate_views import Listing
from nornir_homehub.plan.outdated import Freshness, ImageFreshness
from nornir_homehub.views import html_table, text_table

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings
    from nornir_homehub.report import RunReport

HEADER = ["host", "stack", "service", "image", "running", "registry", "state", "why"]


@dataclass(frozen=True)
class OutdatedReport(Listing):
    """Every service image of the selected hosts' stacks, and whether its tag moved.

    Attributes:
        images: one row per host, stack and service.
        errors: host -> why it could not be asked.
        report: the run report.
    """

    images: tuple[ImageFreshness, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    report: RunReport | None = None

    def _rows(self) -> tuple[ImageFreshness, ...]:
        return self.images

    @property
    def outdated(self) -> tuple[ImageFreshness, ...]:
        """The rows whose tag now names another digest than the one running."""
        return tuple(r for r in self.images if r.state is Freshness.OUTDATED)

    @property
    def ok(self) -> bool:
        """Nothing is outdated and every host answered (the CLI's exit 0)."""
        return not self.outdated and not self.errors

    def summary(self) -> str:
        """One line: how many are outdated, in which stacks."""
        stacks = sorted({f"{r.host}/{r.stack}" for r in self.outdated})
        head = f"outdated: {len(self.outdated)} of {len(self.images)} images"
        tail = f" ({', '.join(stacks)})" if stacks else ""
        errs = f"; {len(self.errors)} host(s) not asked" if self.errors else ""
        return head + tail + errs

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "run_id", "outdated": [host/stack], "images", "errors"}``."""
        return {
            **self._document("outdated"),
            "outdated": sorted({f"{r.host}/{r.stack}" for r in self.outdated}),
            "images": [r.to_dict() for r in self.images],
            "errors": dict(self.errors),
        }

    def cells(self) -> list[list[str]]:
        """The table's rows as text."""
        rows = [
            [
                r.host,
                r.stack,
                r.service,
                r.image,
                r.running.removeprefix("sha256:")[:12] or "-",
                r.latest.removeprefix("sha256:")[:12] or "-",
                str(r.state),
                r.why,
            ]
            for r in self.images
        ]
        rows += [[h, "-", "-", "-", "-", "-", "error", w] for h, w in sorted(self.errors.items())]
        return rows

    def __repr__(self) -> str:
        return text_table(HEADER, self.cells())

    def _repr_html_(self) -> str:
        return html_table(HEADER, [[html.escape(c) for c in r] for r in self.cells()])


def find_outdated(nr: Nornir, settings: Settings, **params: Unpack[RunParams]) -> OutdatedReport:
    """Ask, from each selected host, whether its stacks' tags name new digests; change nothing.

    Raises:
        ConfigError: a broken stack template or a missing secret (before any host is touched).
    """
    from nornir_homehub.preflight import check_stacks
    from nornir_homehub.tasks.outdated import find_outdated as outdated_task

    check_stacks(nr, settings.stacks_path, None)
    rows: list[ImageFreshness] = []
    errors: dict[str, str] = {}

    def body(nr_: Nornir, ctx: RunContext) -> None:
        _secrets, rendered = ctx.render_all(nr_)
        agg = ctx.stage("outdated", nr_, outdated_task, gate=False, rendered=rendered)
        for h in sorted(agg):
            if not agg[h].failed:
                rows.extend(agg[h][0].result)
        errors.update(host_errors(agg))

    params.setdefault("progress", False)
    report = execute("outdated", nr, settings, body, **params)
    return OutdatedReport(tuple(rows), errors, report)
