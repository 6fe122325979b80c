"""Releases on a host: the record of one successful stack deploy, and the commands to list them.

A release lives at ``<homehub_root>/releases/<stack>/<release id>/release.json`` (one JSON
line, 0600, written with the connection's atomic ``put_file``): who, when, the command (redacted),
the run id, each rendered file's hash and mode, a copy of every file that holds no secret (as
uploaded, base64), and each service's image (`ImagePin`: the registry digest, else the image
id). A file that holds secrets (an env file) is recorded by its hash only: a rollback renders it
again from the vault, so no secret value is ever stored in a release.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir_homehub.facts.images import ImagePin

RELEASES_DIR = "releases"
RELEASE_FILE = "release.json"


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: hash, mode, and its bytes unless it holds secrets."""

    sha256: str
    mode: int
    secret: bool
    content: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Release:
    """One recorded release of a stack on a host.

    Attributes:
        id: ``<UTC time>-<run id>`` (sorts oldest first).
        stack: the stack.
        host: the host it was recorded on.
        time: when (ISO 8601, UTC).
        user: ``user@controller``.
        command: the command line (redacted).
        run_id: the run that recorded it.
        files: path -> `ReleaseFile`.
        images: service -> `ImagePin`.
        rollback_of: the release a rollback returned to ("" for a deploy).
        reason: why a rollback ran ("" for a deploy), e.g. the health failure.
    """

    id: str
    stack: str
    host: str
    time: str
    user: str
    command: str
    run_id: str
    files: Mapping[str, ReleaseFile]
    images: Mapping[str, ImagePin]
    rollback_of: str = ""
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready, without file content: what ``releases --json`` shows."""
        return {
            "id": self.id,
            "stack": self.stack,
            "host": self.host,
            "time": self.time,
            "user": self.user,
            "command": self.command,
            "run_id": self.run_id,
            "files": {p: f.sha256 for p, f in self.files.items()},
            "images": {
                s: {"image": i.image, "image_id": i.image_id, "repo_digest": i.repo_digest}
                for s, i in self.images.items()
            },
            "rollback_of": self.rollback_of or None,
            "reason": self.reason or None,
        }

    def to_json(self) -> bytes:
        """The ``release.json`` bytes: the summary plus modes and the non-secret copies."""
        data = self.summary()
        data["files"] = {
            p: {
                "sha256": f.sha256,
                "mode": f"{f.mode:04o}",
                "secret": f.secret,
                "content_b64": (
                    base64.b64encode(f.content).decode()
                    if f.content is not None and not f.secret
                    else None
                ),
            }
            for p, f in self.files.items()
        }
        return (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()


def releases_root(root: str) -> str:
    """``<homehub_root>/releases``."""
    return f"{root.rstrip('/')}/{RELEASES_DIR}"


def release_path(root: str, stack: str, release_id: str) -> str:
    """Where release ``release_id`` of ``stack`` is written."""
    return f"{releases_root(root)}/{stack}/{release_id}/{RELEASE_FILE}"


def list_releases_command(root: str, stack: str | None = None) -> str:
    """Print every release.json of ``stack`` (all stacks when None), one line each."""
    base = shlex.quote(releases_root(root))
    which = shlex.quote(stack) if stack else "*"
    return f'for f in {base}/{which}/*/{RELEASE_FILE}; do [ -f "$f" ] && cat "$f"; done; true'


def parse_releases(host: str, text: str) -> tuple[Release, ...]:
    """Every readable release in the listing, oldest first (a torn line is skipped)."""
    from nornir_homehub.facts.runtime import parse_json_lines

    out = []
    for data in parse_json_lines(text):
        if data.get("id") and data.get("stack"):
            out.append(_release(host, data))
    return tuple(sorted(out, key=lambda r: (r.stack, r.id)))


def _release(host: str, data: Mapping[str, Any]) -> Release:
    files = {}
    for path, f in (data.get("files") or {}).items():
        if not isinstance(f, Mapping):
            continue
        b64 = f.get("content_b64")
        files[str(path)] = ReleaseFile(
            sha256=str(f.get("sha256") or ""),
            mode=int(str(f.get("mode") or "0644"), 8),
            secret=bool(f.get("secret")),
            content=base64.b64decode(b64) if isinstance(b64, str) else None,
        )
    images = {
        str(s): ImagePin(
            str(i.get("image") or ""), str(i.get("image_id") or ""), str(i.get("repo_digest") or "")
        )
        for s, i in (data.get("images") or {}).items()
        if isinstance(i, Mapping)
    }
    return Release(
        id=str(data["id"]),
        stack=str(data["stack"]),
        host=host,
        time=str(data.get("time") or ""),
        user=str(data.get("user") or ""),
        command=str(data.get("command") or ""),
        run_id=str(data.get("run_id") or ""),
        files=files,
        images=images,
        rollback_of=str(data.get("rollback_of") or ""),
        reason=str(data.get("reason") or ""),
    )
