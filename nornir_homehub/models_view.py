"""``models``: hosts x models (installed, digest, size, loaded, GPU or CPU, VRAM), and ``--prune``.

`list_models` reads every selected compute host that runs the ``ollama`` stack (Ollama's
/api/tags and /api/ps on the host, no warm-up) into a `ModelsTable`; `prune_models` removes (or,
in a dry run, lists) the installed models its inventory's ``ollama_models`` does not name.
Both are what the CLI prints (a table, or ``--json``) and a notebook shows.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.engine import RunContext, RunParams, execute
from nornir_homehub.operate import host_errors
from nornir_homehub.operate_views import Listing
from nornir_homehub.views import html_table, text_table

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings
    from nornir_homehub.facts.models import ModelRow
    from nornir_homehub.report import RunReport

MODELS_HEADER = ["host", "model", "desired", "installed", "digest", "size", "loaded", "on", "vram"]


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n else "-"


@dataclass(frozen=True)
class ModelsTable(Listing):
    """The selected compute hosts' models.

    Attributes:
        rows: one `ModelRow` per host and model, hosts in name order.
        errors: host -> why it could not be read (SSH down, Ollama not answering).
        pruned: host -> the models removed (or, with ``dry_run``, to remove) by ``--prune``.
        dry_run: ``--prune`` removed nothing.
        report: the run's report (None outside a run).
    """

    rows: tuple[ModelRow, ...]
    errors: Mapping[str, str] = field(default_factory=dict)
    pruned: Mapping[str, list[str]] | None = None
    dry_run: bool = False
    report: RunReport | None = None

    def _rows(self) -> tuple[ModelRow, ...]:
        return self.rows

    @property
    def ok(self) -> bool:
        """True when every host was read (and every removal went through)."""
        return not self.errors

    def summary(self) -> str:
        """One line: models per host, and what ``--prune`` did."""
        hosts = sorted({r.host for r in self.rows})
        missing = sum(r.desired and not r.installed for r in self.rows)
        line = f"{len(self.rows)} model(s) on {len(hosts)} host(s), {missing} desired but missing"
        if self.pruned is not None:
            n = sum(len(v) for v in self.pruned.values())
            line += f"; {'would remove' if self.dry_run else 'removed'} {n} model(s)"
        return line

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "run_id", "models": [...], "errors", "pruned"?, "dry_run"}``."""
        doc = {**self._document("models"), "models": [r.to_dict() for r in self.rows]}
        doc["errors"] = dict(self.errors)
        if self.pruned is not None:
            doc["pruned"] = {h: list(v) for h, v in self.pruned.items()}
            doc["dry_run"] = self.dry_run
        return doc

    def cells(self) -> list[list[str]]:
        """The table's rows as text (one per host and model; one per unreadable host)."""
        out = [
            [
                r.host,
                r.model,
                "yes" if r.desired else "no",
                "yes" if r.installed else "no",
                r.digest.removeprefix("sha256:")[:12] or "-",
                _gb(r.size),
                "yes" if r.loaded else "no",
                r.placement or "-",
                _gb(r.size_vram),
            ]
            for r in self.rows
        ]
        out += [[h, "-", "-", "-", "-", "-", "-", "error", why] for h, why in self.errors.items()]
        return out

    def __repr__(self) -> str:
        return text_table(MODELS_HEADER, self.cells())

    def _repr_html_(self) -> str:
        return html_table(MODELS_HEADER, [[html.escape(c) for c in r] for r in self.cells()])


def _ollama_hosts(nr: Nornir) -> Nornir:
    return nr.filter(filter_func=lambda h: "ollama" in (h.get("stacks") or []))


def list_models(
    nr: Nornir, settings: Settings, *, prune: bool = False, **params: Unpack[RunParams]
) -> ModelsTable:
    """Read the models of ``nr``'s Ollama hosts; with ``prune``, remove the undesired first.

    Args:
        nr: the selected hosts (those without the ``ollama`` stack are left out).
        settings: the config's ``homehub:`` settings.
        prune: remove the installed models the host's ``ollama_models`` does not list
            (``dry_run`` in ``params``: list them, remove nothing).
        params: see `engine.RunParams`.

    """
    from nornir_homehub.facts.models import ModelRow
    from nornir_homehub.tasks.models import list_models as list_task
    from nornir_homehub.tasks.models import prune_models as prune_task

    rows: list[ModelRow] = []
    errors: dict[str, str] = {}
    pruned: dict[str, list[str]] = {}

    def body(nr_: Nornir, ctx: RunContext) -> None:
        hosts = _ollama_hosts(nr_)
        if prune:
            agg = ctx.stage("models prune", hosts, prune_task, gate=False, dry_run=ctx.dry_run)
            errors.update(host_errors(agg))
            pruned.update({h: list(agg[h][0].result) for h in sorted(agg) if h not in errors})
        agg = ctx.stage("models", hosts, list_task, gate=False)
        for h in sorted(agg):
            value = agg[h][0].result
            if isinstance(value, list):
                rows.extend(r for r in value if isinstance(r, ModelRow))
        errors.update({h: w for h, w in host_errors(agg).items() if h not in errors})

    params.setdefault("progress", False)
    report = execute("models", nr, settings, body, **params)
    return ModelsTable(
        tuple(rows),
        errors,
        pruned if prune else None,
        bool(params.get("dry_run")),
        report,
    )
