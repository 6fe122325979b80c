"""What ``status`` and ``drift`` return: tables for the terminal, JSON and notebooks.

`StatusTable`: one row per container of each stack on each host (a stack without containers
gets one row); `DriftReport`: every drifted file, container, step and record. Both have a text
table as repr, an HTML table in Jupyter (``_repr_html_``) and ``to_dict()``, the document the
CLI prints with ``--json`` (versioned: ``"format": 1``).
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.views import html_table, text_table

if TYPE_CHECKING:
    from nornir_homehub.plan.drift import DriftItem
    from nornir_homehub.plan.status import StackStatus
    from nornir_homehub.report import RunReport

FORMAT = 1
_WHERE = ["host", "stack", "container", "state", "health", "image", "digest"]
STATUS_HEADER = [*_WHERE, "uptime", "restarts", "release", "drift"]
DRIFT_HEADER = ["host", "stack", "kind", "name", "what", "remedy"]


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours}h" if days else f"{hours}h{rest // 60}m"


def _short_digest(status_digest: str, image_id: str) -> str:
    value = status_digest.rpartition("@")[2] or image_id
    return value.removeprefix("sha256:")[:12] or "-"


class Listing:
    """What the listing views share: iteration over their rows and the head of their document.

    A subclass gives ``_rows()`` (the rows, in order) and builds its ``to_dict()`` on
    ``_document(command)``.
    """

    report: RunReport | None

    def _rows(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def _document(self, command: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "command": command,
            "run_id": self.report.run_id if self.report else None,
        }


@dataclass(frozen=True)
class StatusTable(Listing):
    """Every selected host's stacks: containers, health, image, uptime, release, drift.

    Attributes:
        stacks: one `StackStatus` per host and stack, hosts in name order.
        errors: host -> why it could not be read (SSH down, Docker Engine down).
        report: the run's report (None outside a run).
    """

    stacks: tuple[StackStatus, ...]
    errors: Mapping[str, str] = field(default_factory=dict)
    report: RunReport | None = None

    @property
    def ok(self) -> bool:
        """True when every host could be read."""
        return not self.errors

    def _rows(self) -> tuple[StackStatus, ...]:
        return self.stacks

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "run_id", "stacks": [...], "errors": {host: why}}``."""
        stacks = [s.to_dict() for s in self.stacks]
        return {**self._document("status"), "stacks": stacks, "errors": dict(self.errors)}

    def cells(self) -> list[list[str]]:
        """The table's rows as text (one per container; a stack without any gets one)."""
        rows = []
        for s in self.stacks:
            release = s.release.config_hash[:12] if s.release else "none"
            if s.release and not s.release.current:
                release += " (old)"
            mark = f"DRIFT ({len(s.drift)})" if s.drifted else "ok"
            for c in s.containers or (None,):
                if c is None:
                    cols = ["-", "missing", "-", "-", "-", "-", "-"]
                else:
                    cols = [
                        c.name,
                        c.state,
                        c.health,
                        c.image,
                        _short_digest(c.repo_digest, c.image_id),
                        _uptime(c.uptime_s),
                        str(c.restarts),
                    ]
                rows.append([s.host, s.stack, *cols, release, mark])
        rows += [
            [host, "-", "-", "error", "-", why, "-", "-", "-", "-", "?"]
            for host, why in sorted(self.errors.items())
        ]
        return rows

    def __repr__(self) -> str:
        return text_table(STATUS_HEADER, self.cells())

    def _repr_html_(self) -> str:
        return html_table(STATUS_HEADER, [[html.escape(c) for c in r] for r in self.cells()])


@dataclass(frozen=True)
class DriftReport(Listing):
    """Everything that is not as desired on the selected hosts; empty when nothing drifted.

    Attributes:
        items: the drifted things, hosts in name order.
        checked: ``host/stack`` of every stack (and ``host/zone``) that was compared.
        errors: host -> why it could not be compared (then the drift is unknown).
        report: the run's report (None outside a run).
    """

    items: tuple[DriftItem, ...]
    checked: tuple[str, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    report: RunReport | None = None

    @property
    def drifted(self) -> bool:
        """True when something drifted."""
        return bool(self.items)

    def _rows(self) -> tuple[DriftItem, ...]:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "run_id", "drifted", "checked", "items", "errors"}``."""
        found = {"drifted": self.drifted, "checked": list(self.checked)}
        items = [d.to_dict() for d in self.items]
        return {**self._document("drift"), **found, "items": items, "errors": dict(self.errors)}

    def lines(self) -> list[str]:
        """One line per item with its remedy indented below; one line per host not compared."""
        out = []
        for d in self.items:
            out += [d.line(), f"    remedy: {d.remedy}"]
        out += [f"ERROR {host}: {why}" for host, why in sorted(self.errors.items())]
        return out

    def _cells(self) -> list[list[str]]:
        return [[d.host, d.stack, str(d.kind), d.name, d.what, d.remedy] for d in self.items]

    def __repr__(self) -> str:
        if not self.items:
            return f"no drift ({len(self.checked)} compared)"
        return text_table(DRIFT_HEADER, self._cells())

    def _repr_html_(self) -> str:
        return html_table(DRIFT_HEADER, [[html.escape(c) for c in r] for r in self._cells()])
