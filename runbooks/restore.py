"""Runbook ``restore``: put a backup run's data dirs back, checked against its manifest first.

``run restore [-o from=RUN] [-o stacks=a,b] [--dry-run]``: for each selected host with stacks,
the backup run ``from`` (a folder name under ``backup_dir`` such as ``20261201T120000Z``;
default: the newest run that has a ``manifest.json``) is restored by `tasks.restore.restore_host`:

1. stage ``restore plan`` (a gate): on every selected host, every archive's sha256 is compared
   with the manifest; one mismatch or missing archive fails that host (exit 1) naming the file,
   and the run stops there: nothing on any host is stopped or replaced;
2. stage ``restore``, per stack (the hashes checked again): the archives are extracted into a
   staging folder, the stack is stopped, each data dir is swapped for its restored copy, the
   stack is started and waited for until healthy (the old data is removed only then);
3. the restored stacks' checks run (the ``verify`` runbook with ``stacks=`` the restored ones).

``--dry-run`` lists, per host, each data dir that would be replaced (its size now, the archive
and its size, the hash already checked) and the stacks that would be stopped; it changes
nothing, and a hash mismatch fails it just the same. A run folder is per host: restoring the trusted
and the compute host from one backup takes the run folder of the same name on each (the backup
names one run for all hosts).
"""

from __future__ import annotations

from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.runbook_options import Option

OPTIONS = [
    Option("from", str, None, "backup run to restore, e.g. 20261201T120000Z (default: newest)"),
    Option("stacks", list, None, "only these stacks' data dirs, e.g. qdrant,openwebui"),
]


def run(nr: Nornir, ctx: RunContext, *, stacks: list[str] | None = None, **opts: Any) -> None:
    """Restore the selected hosts' stacks from one backup run (see the module docstring)."""
    from nornir_homehub.errors import ConfigError
    from nornir_homehub.plan.backup import RUN_NAME_RE
    from nornir_homehub.tasks.restore import RestoreOutcome, restore_host

    wanted = opts.get("from")
    if wanted is not None and not RUN_NAME_RE.match(wanted):
        raise ConfigError(
            f"-o from={wanted}: not a backup run name (a folder such as 20261201T120000Z "
            "under backup_dir)"
        )
    only = list(stacks) if stacks else None
    secrets, rendered = ctx.render_all(nr, only)
    selected = [name for name, s in rendered.items() if s]
    if not selected:
        return
    hosts = nr.filter(filter_func=lambda h: h.name in selected)
    args: dict[str, Any] = {
        "rendered": rendered,
        "secrets": secrets,
        "backup": wanted,
        "only": only,
    }
    # Every host's archives are checked before any host is changed: a gate.
    ctx.stage("restore plan", hosts, restore_host, dry_run=True, **args)
    if ctx.dry_run:
        return
    agg = ctx.stage("restore", hosts, restore_host, **args)
    restored = sorted(
        {
            s
            for host in agg
            for r in agg[host]
            if isinstance(r.result, RestoreOutcome)
            for s in r.result.restored
        }
    )
    if (
        restored
        and not ctx.dry_run
        and any((d / "verify.py").is_file() for d in ctx.settings.runbooks_path)
    ):
        from nornir_homehub.api import load_runbook

        load_runbook(ctx.settings, "verify")(nr, ctx, stacks=restored)
