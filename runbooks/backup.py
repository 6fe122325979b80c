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

Restore: ``run restore`` (``runbooks/restore.py``) checks the archives against this manifest,
then swaps the data dirs under the stopped stacks and verifies them.
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
