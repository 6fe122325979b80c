"""The lab's compute host with an old image of each stand-in repository, for the prune tests.

`prune_script` answers `facts.images.prune_fact_batch` the way the real commands print it: the
stand-ins the containers run (``192.0.2.133:5000/homehub-standin/{ollama,qdrant}:lab``), an older unused
``qdrant:v1`` and ``qdrant:v0``, an unused ``ollama:old`` and an image of another repository
(never listed).
"""

from __future__ import annotations

import json

from nornir_homehub.facts.images import prune_fact_batch
from nornir_homehub.facts.releases import list_releases_command
from nornir_homehub.testing import Command

QDRANT = "sha256:" + "7f" * 32
OLLAMA = "sha256:" + "1b" * 32
QDRANT_V1 = "sha256:" + "a1" * 32
QDRANT_V0 = "sha256:" + "a0" * 32
OLLAMA_OLD = "sha256:" + "b0" * 32
OTHER = "sha256:" + "ee" * 32


def _image(image_id: str, tag: str, created: str, size: int) -> str:
    doc = {
        "id": image_id,
        "repo_tags": [tag],
        "repo_digests": [],
        "created": created,
        "size": size,
        "parent": "",
    }
    return json.dumps(doc) + "\n"


IMAGES = "".join(
    [
        _image(
            QDRANT,
            "192.0.2.133:5000/homehub-standin/qdrant:lab",
            "2026-11-30T08:00:00.1Z",
            1_243_136,
        ),
        _image(
            OLLAMA, "192.0.2.133:5000/homehub-standin/ollama:lab", "2026-11-30T08:00:01Z", 1_300_000
        ),
        _image(
            QDRANT_V1,
            "192.0.2.133:5000/homehub-standin/qdrant:v1",
            "2026-11-20T08:00:00Z",
            1_200_000,
        ),
        _image(
            QDRANT_V0,
            "192.0.2.133:5000/homehub-standin/qdrant:v0",
            "2026-11-10T08:00:00Z",
            1_100_000,
        ),
        _image(
            OLLAMA_OLD,
            "192.0.2.133:5000/homehub-standin/ollama:old",
            "2026-11-01T08:00:00Z",
            1_000_000,
        ),
        _image(OTHER, "busybox:1.36", "2023-05-01T00:00:00Z", 4_000_000),
    ]
)
RUNTIME = (
    json.dumps({"container": "/qdrant", "image_id": QDRANT, "config_hash": "c2" * 32})
    + "\n"
    + json.dumps({"container": "/ollama", "image_id": OLLAMA, "config_hash": "0e" * 32})
    + "\n"
)


def lock_script() -> list[Command]:
    """Answers to the deploy lock a real (not dry) run takes: take, audit line, release."""
    return [
        Command("/var/lib/homehub/lock 2>/dev/null; then", match="contains", times=1),
        Command("/var/lib/homehub/audit.jsonl", match="contains", times=1),
        Command("rmdir /var/lib/homehub/lock", match="contains", times=1),
    ]


RELEASES = list_releases_command("/var/lib/homehub")


def prune_script(
    *removals: Command, releases: bool = False
) -> tuple[list[Command], dict[str, str]]:
    """The fact batch's answers, ``removals`` (the answers to ``docker image rm``), and with
    ``releases`` the release listing of the command's second stage (no releases).
    """
    batch = prune_fact_batch()
    facts = [Command(batch["images"], out=IMAGES), Command(batch["runtime"], out=RUNTIME)]
    listing = [Command(RELEASES, out="")] if releases else []
    return [*facts, *removals, *listing], batch


def rm(image_id: str, *, exit: int = 0, err: str = "") -> Command:
    """The answer to ``docker image rm <image_id>`` (exactly that command, once)."""
    out = "" if exit else f"Deleted: {image_id}\n"
    return Command(f"docker image rm {image_id}", out=out, err=err, exit=exit, times=1)
