"""``prune``: remove old images of the stacks' repositories, with a dry run first.

``prune`` also removes each stack's releases beyond the inventory's ``releases_keep`` (default
5; the newest, current one always stays; see `tasks.prune.prune_releases`). Images: on each
selected host, the images of the repositories the
stacks' rendered compose files name that no container (running or stopped) uses, beyond the
newest ``keep`` unused ones per repository (``--keep``, else the inventory's ``images_keep``,
else 1). The image a compose file names now, an image in use, another image's parent and an
image also tagged outside those repositories always stay. `PruneReport` is what the CLI
prints (a table, or ``--json``) and a notebook shows.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.engine import RunContext, RunParams, execute
from nornir_homehub.errors import ConfigError
from nornir_homehub.operate import host_errors
from nornir_homehub.operate_views import Listing
from nornir_homehub.records import as_dict
from nornir_homehub.views import html_table, text_table

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings
    from nornir_homehub.plan.prune import ImageDecision
    from nornir_homehub.report import RunReport
    from nornir_homehub.tasks.prune import HostPrune, ReleasePrune

PRUNE_HEADER = ["host", "image", "id", "size", "created", "action", "why"]


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):  # decimal units, as Docker prints sizes
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


@dataclass(frozen=True)
class PruneRow:
    """One image in the report: the plan's decision and, after a real run, what happened.

    Attributes:
        action: ``keep``, ``would remove`` (dry run), or the removal's outcome: ``removed``,
            ``in use`` (skipped), ``gone``, ``failed``.
        why: the plan's reason, and Docker's message when it did not remove the image.
    """

    decision: ImageDecision
    action: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        """The decision's fields plus ``action`` and ``why``."""
        return {**as_dict(self.decision), "action": self.action, "why": self.why}


def _rows(found: HostPrune) -> list[PruneRow]:
    done = {r.image_id: r for r in found.removals}
    rows = []
    for d in found.plan.images:
        if not d.remove:
            rows.append(PruneRow(d, "keep", d.reason))
        elif found.dry_run:
            rows.append(PruneRow(d, "would remove", d.reason))
        else:
            r = done.get(d.image_id)
            outcome, detail = (r.outcome, r.detail) if r else ("failed", "not attempted")
            rows.append(PruneRow(d, outcome, f"{d.reason}; {detail}" if detail else d.reason))
    return rows


@dataclass(frozen=True)
class PruneReport(Listing):
    """Every image of the stacks' repositories on the selected hosts, and what prune did.

    Attributes:
        hosts: each host's plan and removals, hosts in name order.
        releases: each host's releases beyond ``releases_keep`` (removed, or would be).
        dry_run: nothing was removed.
        errors: host -> why it could not be read (SSH down, Docker Engine down).
        report: the run's report (None outside a run).
    """

    hosts: tuple[HostPrune, ...]
    dry_run: bool
    errors: Mapping[str, str] = field(default_factory=dict)
    report: RunReport | None = None
    releases: tuple[ReleasePrune, ...] = ()

    def _rows(self) -> tuple[PruneRow, ...]:
        return tuple(r for h in self.hosts for r in _rows(h))

    @property
    def ok(self) -> bool:
        """True when every host was read and no removal failed."""
        return not self.errors and not any(h.failed for h in self.hosts)

    def summary(self) -> str:
        """One line: how many images (and releases) went or would go, and how many stay."""
        going = sum(len(r.removals) for r in self.releases)
        verb = "would be removed" if self.dry_run else "removed"
        extra = f"; {going} release(s) beyond releases_keep {verb}" if going else ""
        return self._image_summary() + extra

    def _image_summary(self) -> str:
        rows = self._rows()
        kept = sum(r.action == "keep" for r in rows)
        if self.dry_run:
            going = [r for r in rows if r.action == "would remove"]
            size = _size(sum(r.decision.size for r in going))
            return f"dry run: {len(going)} image(s) would be removed ({size}), {kept} kept"
        gone = [r for r in rows if r.action == "removed"]
        failed = sum(r.action == "failed" for r in rows)
        skipped = sum(r.action == "in use" for r in rows)
        size = _size(sum(r.decision.size for r in gone))
        return (
            f"removed {len(gone)} image(s) ({size}), {kept} kept, {skipped} skipped (in use), "
            f"{failed} failed"
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "run_id", "dry_run", "images": [...], "errors"}``."""
        images = [r.to_dict() for r in self._rows()]
        head = {**self._document("prune"), "dry_run": self.dry_run}
        releases = [r.to_dict() for r in self.releases]
        return {**head, "images": images, "releases": releases, "errors": dict(self.errors)}

    def cells(self) -> list[list[str]]:
        """The table's rows as text (one per image; one per host that could not be read)."""
        rows = [
            [
                r.decision.host,
                r.decision.name,
                r.decision.image_id.removeprefix("sha256:")[:12],
                _size(r.decision.size),
                r.decision.created[:19] or "-",
                r.action,
                r.why,
            ]
            for r in self._rows()
        ]
        rows += [[h, "-", "-", "-", "-", "error", why] for h, why in sorted(self.errors.items())]
        return rows

    def __repr__(self) -> str:
        return text_table(PRUNE_HEADER, self.cells())

    def _repr_html_(self) -> str:
        return html_table(PRUNE_HEADER, [[html.escape(c) for c in r] for r in self.cells()])


def prune_images(
    nr: Nornir, settings: Settings, *, keep: int | None = None, **params: Unpack[RunParams]
) -> PruneReport:
    """Remove (or with ``dry_run`` list) the unused stack images on ``nr``'s hosts.

    Args:
        nr: the selected hosts.
        settings: the config's ``homehub:`` settings.
        keep: unused images kept per repository (default: each host's ``images_keep``, 1).
        params: see `engine.RunParams` (``dry_run`` lists and removes nothing).

    Raises:
        ConfigError: ``keep`` below 0, a broken stack template or a missing secret (before
            any host is touched).
    """
    from nornir_homehub.preflight import check_stacks
    from nornir_homehub.tasks.prune import HostPrune, ReleasePrune, prune_releases
    from nornir_homehub.tasks.prune import prune_images as prune_task

    if keep is not None and (isinstance(keep, bool) or keep < 0):
        raise ConfigError(f"prune: --keep must be a whole number >= 0, got {keep!r}")
    check_stacks(nr, settings.stacks_path, None)
    found: list[HostPrune] = []
    releases: list[ReleasePrune] = []
    errors: dict[str, str] = {}

    def body(nr_: Nornir, ctx: RunContext) -> None:
        _secrets, rendered = ctx.render_all(nr_)
        agg = ctx.stage(
            "prune", nr_, prune_task, gate=False, rendered=rendered, keep=keep, dry_run=ctx.dry_run
        )
        read = {h: agg[h][0].result for h in sorted(agg)}
        found.extend(r for r in read.values() if isinstance(r, HostPrune))
        # A host whose removal failed has its plan (a row per image), not an error line.
        errors.update(
            {h: w for h, w in host_errors(agg).items() if not isinstance(read[h], HostPrune)}
        )
        agg = ctx.stage(
            "prune releases",
            nr_,
            prune_releases,
            gate=False,
            rendered=rendered,
            dry_run=ctx.dry_run,
        )
        releases.extend(r for h in sorted(agg) if isinstance(r := agg[h][0].result, ReleasePrune))
        for host, why in host_errors(agg).items():
            errors.setdefault(host, why)

    params.setdefault("progress", False)
    params.setdefault("lock", True)  # a dry run takes none (`execute`)
    report = execute("prune", nr, settings, body, **params)
    dry = bool(params.get("dry_run"))
    return PruneReport(tuple(found), dry, errors, report, tuple(releases))
