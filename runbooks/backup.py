"""Runbook ``backup``: a consistent tar.gz of every stack data dir, a manifest, retention.

For each selected host with stacks (``stacks:`` in inventory), one run folder
``<backup_dir>/<UTC time>/`` (default ``/srv/backups/homehub``, mode 0700) gets one
``<stack>--<dir>.tar.gz`` per data dir of template.yaml (members relative to ``data_root``) and
a ``manifest.json`` with each archive's sha256 and size. Afterwards only the newest
``backup_keep`` runs (default 7) stay. ``--dry-run`` lists what would be archived and deleted.

Consistency: stacks named in ``backup_stop`` (inventory; lab and production default
``[qdrant, openwebui]``) are stopped with ``docker compose stop`` while their data is archived
and started again (even when the archive fails), then waited for until healthy. Why stop rather
than Qdrant's snapshot API: a snapshot covers one collection per request (plus a separate
storage snapshot), needs the API key, lands inside Qdrant's own storage and is restored through
the API again; a stopped container's storage folder is a consistent copy of everything, restored
with ``tar``, and the same procedure covers Open WebUI's SQLite database. The cost is a few
seconds of downtime per stopped stack. Ollama (model blobs, written only on pull) and LiteLLM
(config) keep running.

Options: ``-o keep=N`` (overrides ``backup_keep``), ``-o fetch=DIR`` (copy the run to
``DIR/<host>/<run>/`` on the controller over the same SSH connection, each archive checked
against the manifest's sha256).

Restore (manual, on the host; the archive's members are relative to data_root)::

    cd /srv/backups/homehub/<run> && sha256sum -c <(python3 -c 'import json; \
      [print(a["sha256"], a["file"]) for a in json.load(open("manifest.json"))["archives"]]')
    cd /opt/stacks/qdrant && docker compose -p qdrant stop
    mv /srv/docker/qdrant/storage /srv/docker/qdrant/storage.before-restore
    tar --numeric-owner -C /srv/docker -xzf /srv/backups/homehub/<run>/qdrant--qdrant_storage.tar.gz
    docker compose -p qdrant start
    python -m nornir_homehub verify    # then remove storage.before-restore
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.runbook_options import Option

OPTIONS = [
    Option("keep", int, None, "backup runs to keep per host (default: backup_keep)", minimum=1),
    Option("fetch", str, None, "copy each run to DIR/<host>/<run>/ on the controller"),
]


def run(
    nr: Nornir, ctx: RunContext, *, keep: int | None = None, fetch: str | None = None, **_: Any
) -> None:
    """Back up the data dirs of every selected host's stacks (see the module docstring)."""
    from nornir_homehub.plan.backup import run_name
    from nornir_homehub.tasks.backup import backup_host

    secrets, rendered = ctx.render_all(nr)
    selected = [name for name, stacks in rendered.items() if stacks]
    if not selected:
        return
    ctx.stage(
        "backup",
        nr.filter(filter_func=lambda h: h.name in selected),
        backup_host,
        rendered=rendered,
        secrets=secrets,
        run=run_name(datetime.now(UTC)),
        dry_run=ctx.dry_run,
        keep=keep,
        fetch=Path(fetch).expanduser() if fetch else None,
    )
