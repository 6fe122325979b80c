"""The audit log on a host: append one JSON line, read them all back, parse them.

``<homehub_root>/audit.jsonl`` is append-only: each mutating run adds exactly one line per
host with one ``>>`` write (``O_APPEND``: concurrent writers never interleave a line), and
nothing ever rewrites it. Records carry file hashes and image digests, never file content or
secret values.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

AUDIT_FILE = "audit.jsonl"


@dataclass(frozen=True)
class AuditEntry:
    """One line of a host's audit log.

    Attributes:
        host: the host whose log holds it.
        time: when the run ended (ISO 8601, UTC).
        user: ``user@controller``.
        command: the command line (redacted).
        run_id: the run.
        result: ``ok``, ``failed``, ``interrupted`` or ``rolled back``.
        stacks: stack name -> {files_before, files_after, images, action, ...}.
        extra: any other key the line holds (kept as it is).
    """

    host: str
    time: str
    user: str
    command: str
    run_id: str
    result: str
    stacks: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the line as written, plus ``host``)."""
        return {
            "host": self.host,
            "time": self.time,
            "user": self.user,
            "command": self.command,
            "run_id": self.run_id,
            "result": self.result,
            "stacks": self.stacks,
            **self.extra,
        }

    def line(self) -> str:
        """The JSON line written to the host's log (no ``host``: the log is the host's own)."""
        data = self.to_dict()
        del data["host"]
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def when(self) -> datetime | None:
        """``time`` as a datetime, None when it cannot be read."""
        try:
            return datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        except ValueError:
            return None


def audit_path(root: str) -> str:
    """The audit log under ``root`` (inventory ``homehub_root``)."""
    return f"{root.rstrip('/')}/{AUDIT_FILE}"


def append_audit_command(root: str, entry: AuditEntry) -> str:
    """Append ``entry`` as one line in one write; the log is 0600."""
    path = shlex.quote(audit_path(root))
    return (
        f"mkdir -p {shlex.quote(root)} && (umask 077; "
        f"printf '%s\\n' {shlex.quote(entry.line())} >> {path})"
    )


def read_audit_command(root: str) -> str:
    """Print the whole log (nothing when there is none)."""
    path = shlex.quote(audit_path(root))
    return f"[ ! -f {path} ] || cat {path}"


_KNOWN = {"time", "user", "command", "run_id", "result", "stacks"}


def parse_audit(host: str, text: str) -> tuple[AuditEntry, ...]:
    """Every readable line of a host's log, oldest first (a line that is no object is skipped)."""
    from nornir_homehub.facts.runtime import parse_json_lines

    out = []
    for data in parse_json_lines(text):
        stacks = data.get("stacks")
        out.append(
            AuditEntry(
                host=host,
                time=str(data.get("time") or ""),
                user=str(data.get("user") or ""),
                command=str(data.get("command") or ""),
                run_id=str(data.get("run_id") or ""),
                result=str(data.get("result") or ""),
                stacks=stacks if isinstance(stacks, dict) else {},
                extra={k: v for k, v in data.items() if k not in _KNOWN and k != "host"},
            )
        )
    return tuple(out)
