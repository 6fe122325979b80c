"""The deploy lock on a host: the commands that take, read and release it, and their parsers.

The lock is a folder, ``<homehub_root>/lock``, made with one ``mkdir`` (atomic: of two runs
that try at once exactly one succeeds), holding ``holder.json``: who took it, when, with which
command, the run id, the controller's host name and PID. Only the run that took it removes it
(the release checks the run id); `lock release --force` breaks any.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from nornir_homehub.codes import EXIT_LOCK_HELD

DEFAULT_HOMEHUB_ROOT = "/var/lib/homehub"
"""``homehub_root``: the host folder of nornir_homehub's own records (lock, audit, releases)."""
LOCK_DIR = "lock"
HOLDER_FILE = "holder.json"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a host's deploy lock (the content of ``holder.json``).

    Attributes:
        user: the controller's login user.
        controller: the controller's host name.
        pid: the controller process that took it.
        started: when it was taken (ISO 8601, UTC).
        command: the command line (redacted).
        run_id: the run that took it.
    """

    user: str
    controller: str
    pid: int
    started: str
    command: str
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "user": self.user,
            "controller": self.controller,
            "pid": self.pid,
            "started": self.started,
            "command": self.command,
            "run_id": self.run_id,
        }

    def describe(self) -> str:
        """One line naming the holder: ``run R (deploy) by root@ctl pid 12 since T``."""
        return (
            f"run {self.run_id} ({self.command}) by {self.user}@{self.controller} "
            f"pid {self.pid} since {self.started}"
        )


def lock_path(root: str) -> str:
    """The lock folder under ``root`` (inventory ``homehub_root``)."""
    return f"{root.rstrip('/')}/{LOCK_DIR}"


def take_lock_command(root: str, holder: LockHolder) -> str:
    """Take the lock: ``mkdir`` it and write the holder; else print the holder, exit 75.

    The holder file goes in with ``mv`` after it is complete, so a reader sees all of it or
    none; a reader that finds the folder without the file (the instant between) waits briefly.
    """
    d = shlex.quote(lock_path(root))
    body = shlex.quote(json.dumps(holder.to_dict(), separators=(",", ":"), sort_keys=True))
    return (
        f"mkdir -p {shlex.quote(root)} && if mkdir {d} 2>/dev/null; then "
        f"printf '%s\\n' {body} > {d}/.{HOLDER_FILE}.tmp && "
        f"mv -f {d}/.{HOLDER_FILE}.tmp {d}/{HOLDER_FILE}; "
        f"else i=0; while [ ! -f {d}/{HOLDER_FILE} ] && [ $i -lt 10 ]; do sleep 0.2; "
        f"i=$((i+1)); done; cat {d}/{HOLDER_FILE} 2>/dev/null; exit {EXIT_LOCK_HELD}; fi"
    )


def read_lock_command(root: str) -> str:
    """Print the holder when the lock exists (empty output: no lock)."""
    d = shlex.quote(lock_path(root))
    return f"if [ -d {d} ]; then echo held; cat {d}/{HOLDER_FILE} 2>/dev/null; fi; true"


def release_lock_command(root: str, run_id: str | None) -> str:
    """Remove the lock; with ``run_id``, only when that run holds it (exit 75 otherwise)."""
    d = shlex.quote(lock_path(root))
    remove = f"rm -f {d}/{HOLDER_FILE} {d}/.{HOLDER_FILE}.tmp && rmdir {d}"
    if run_id is None:
        return f"[ ! -d {d} ] || {{ {remove}; }}"
    # The run id alone (a random hex string), however the holder file spaced its JSON.
    mine = shlex.quote(f'"{run_id}"')
    return (
        f"[ -d {d} ] || exit 0; grep -qF {mine} {d}/{HOLDER_FILE} 2>/dev/null "
        f"|| exit {EXIT_LOCK_HELD}; {remove}"
    )


def parse_lock_holder(text: str) -> LockHolder | None:
    """The holder in ``holder.json``'s text, or None when it is empty or not a holder record.

    A lock whose holder cannot be read is still a lock: the caller reports it as held by an
    unknown holder.
    """
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text.splitlines()[-1])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return LockHolder(
        user=str(data.get("user") or "?"),
        controller=str(data.get("controller") or "?"),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
        started=str(data.get("started") or ""),
        command=str(data.get("command") or ""),
        run_id=str(data.get("run_id") or ""),
    )


def parse_lock_status(text: str) -> tuple[bool, LockHolder | None]:
    """`read_lock_command`'s output: (the lock exists, its holder when readable)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "held":
        return False, None
    return True, parse_lock_holder("\n".join(lines[1:]))
