"""Notebook views of what the library returns: the inventory table and ad-hoc command results.

Each is iterable, has a text table as repr, an HTML table in Jupyter (``_repr_html_``),
``to_dict()`` (the document the CLI prints with ``--json``) and ``to_dataframe()`` with pandas.
Reports have their own views (`nornir_homehub.report.views`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.report.views import dataframe

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.report import RunReport


def _dataframe(rows: list[dict[str, Any]], what: str) -> Any:
    return dataframe(rows, what, "to_dict() gives the same rows")


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: ``header`` and ``rows`` in columns padded to their widest cell."""
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; ``header`` is escaped here, the cells of ``rows`` must be escaped already."""
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

    @classmethod
    def of(cls, nr: Nornir, filters: Iterable[str] = ()) -> InventoryTable:
        """The table of ``nr``'s hosts, selected by ``filters`` (opens no connection)."""
        from nornir_homehub.inventory import host_summary

        return cls(tuple(host_summary(h) for h in nr.inventory.hosts.values()), tuple(filters))

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
        return text_table(["NAME", "ROLE", "ADDRESS", "GROUPS"], self._cells())

    def _repr_html_(self) -> str:
        cells = [[html.escape(c) for c in row] for row in self._cells()]
        return html_table(["name", "role", "address", "groups"], cells)


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

    @property
    def status(self) -> str:
        """``exit N`` when the command ran, ``FAILED`` when it could not."""
        return f"exit {self.exit_code}" if self.error is None else "FAILED"

    def heading(self) -> str:
        """``=== host (exit 0)``: the line above the host's output (``exec``, the repr)."""
        return f"=== {self.host} ({self.status})"

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

    def __repr__(self) -> str:
        parts = [f"<ExecResults {self.command!r} {'ok' if self.ok else 'FAILED'}>"]
        for r in self.rows:
            parts.append(r.heading())
            parts.extend(text.rstrip("\n") for text in (r.error or "", r.stdout, r.stderr) if text)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = [
            [
                esc(r.host),
                esc(r.status),
                f"<pre>{esc(r.stdout)}</pre>",
                f"<pre>{esc(r.error or r.stderr)}</pre>",
            ]
            for r in self.rows
        ]
        title = f"<p><code>{esc(self.command)}</code> {'ok' if self.ok else 'FAILED'}</p>"
        return title + html_table(["host", "status", "stdout", "stderr / error"], cells)
