"""Restore a host's stack data dirs from a backup run: facts, hash check, plan, swap, start.

``restore_host`` is the per-host Nornir task of ``runbooks/restore.py``. Two round trips of
facts: the runs that hold a manifest, then the chosen run's manifest, the sha256 of every
archive in its folder and the size of each data dir. Every archive's hash is compared with the
manifest *before* anything is touched: one mismatch (or a missing archive) fails the host naming
the file, and nothing is extracted, stopped or replaced.

Applying, per stack: each archive is checked again (``sha256sum -c``) and extracted into a
staging folder under ``data_root`` (same file system, so the swap is a rename), the stack is
stopped (``docker compose stop``), each data dir is renamed to ``<dir>.before-restore`` and the
extracted one renamed into its place, the stack is started again (also when a swap failed) and
waited for until running/healthy; only then are the old data and the staging folder removed.
A stack that does not become healthy keeps ``<dir>.before-restore`` and the error names it; a
later restore of that stack refuses (before stopping anything) while that folder exists, so the
data it holds is never overwritten.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.defaults import DEFAULT_BACKUP_DIR, DEFAULT_DATA_ROOT
from nornir_homehub.errors import CheckFailed
from nornir_homehub.plan.backup import MANIFEST, parse_runs, parse_sizes
from nornir_homehub.plan.restore import (
    RestorePlan,
    parse_manifest,
    parse_sums,
    pick_run,
    plan_restore,
)
from nornir_homehub.tasks.backup import ARCHIVE_TIMEOUT, backup_fact_commands

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore

STAGING = ".homehub-restore"
BEFORE = ".before-restore"


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore did (or, in a dry run, would do) on one host."""

    plan: RestorePlan
    restored: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**self.plan.to_dict(), "restored": list(self.restored)}


def restore_runs_command(backup_dir: str) -> str:
    """Shell command listing the backup runs under ``backup_dir`` that hold a manifest."""
    return (
        f"cd {shlex.quote(backup_dir)} 2>/dev/null && for d in *; do "
        f'[ -f "$d/{MANIFEST}" ] && echo "$d"; done; true'
    )


def restore_fact_commands(run_dir: str, data_dirs: Collection[str]) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`: manifest, archive hashes, data sizes."""
    d = shlex.quote(run_dir)
    return {
        "manifest": f"cat {d}/{MANIFEST}",
        "sums": f'cd {d} && for f in *.tar.gz; do [ -f "$f" ] && sha256sum -- "$f"; done; true',
        "sizes": backup_fact_commands(run_dir, data_dirs)["sizes"],
    }


def restore_host(
    task: Task,
    *,
    rendered: Mapping[str, list[RenderedStack]],
    secrets: SecretStore,
    backup: str | None = None,
    only: Collection[str] | None = None,
    dry_run: bool = False,
    wait_timeout: float = 180.0,
) -> Result:
    """Restore the host's stacks' data dirs from backup run ``backup`` (default: the newest).

    Inventory: ``backup_dir`` (default /srv/backups/homehub), ``data_root``.

    Returns:
        Result with ``result`` = `RestoreOutcome`, ``diff`` = the plan in words, ``changed``
        when a data dir was (or in a dry run would be) replaced.

    Raises:
        PlanError: no such run, no run at all, a manifest that cannot be read.
        CheckFailed: an archive differs from its manifest hash (nothing was touched), or a
            restored stack did not become healthy.
        TransportError: a command failed (the stopped stack is started again first).
    """
    stacks = list(rendered.get(task.host.name, ()))
    backup_dir = str(task.host.get("backup_dir") or DEFAULT_BACKUP_DIR).rstrip("/")
    data_root = str(task.host.get("data_root") or DEFAULT_DATA_ROOT).rstrip("/")
    conn = host_connection(task)
    runs = parse_runs(conn.run(restore_runs_command(backup_dir), check=True).stdout)
    run = pick_run(task.host.name, runs, backup)
    run_dir = f"{backup_dir}/{run}"
    facts = conn.run_batch(
        restore_fact_commands(run_dir, [d.path for s in stacks for d in s.data_dirs])
    )
    if facts["manifest"].exit_code != 0:
        raise CheckFailed(f"{task.host.name}: cannot read {run_dir}/{MANIFEST}")
    entries = parse_manifest(task.host.name, f"{run_dir}/{MANIFEST}", facts["manifest"].stdout)
    plan = plan_restore(
        task.host.name,
        stacks,
        entries,
        backup_dir=backup_dir,
        run=run,
        data_root=data_root,
        sums=parse_sums(facts["sums"].stdout),
        data_sizes=parse_sizes(facts["sizes"].stdout),
        only=only,
    )
    if plan.refused:
        bad = "; ".join(f"{run_dir}/{f}: {why}" for f, why in plan.mismatches)
        raise CheckFailed(
            f"{task.host.name}: backup {run_dir} refused, nothing replaced: {bad} "
            "(restore from another run: -o from=RUN)"
        )
    if dry_run or not plan.items:
        return Result(
            host=task.host,
            result=RestoreOutcome(plan),
            diff=plan.describe(),
            changed=bool(plan.items),
        )
    by_name = {s.name: s for s in stacks}
    done: list[str] = []
    for stack_name in plan.stacks():
        _restore_stack(conn, plan, by_name[stack_name], secrets, wait_timeout)
        done.append(stack_name)
    return Result(
        host=task.host,
        result=RestoreOutcome(plan, tuple(done)),
        diff=plan.describe(),
        changed=True,
    )


def _restore_stack(
    conn: HostConnection,
    plan: RestorePlan,
    stack: RenderedStack,
    secrets: SecretStore,
    wait_timeout: float,
) -> None:
    from nornir_homehub.tasks.health import wait_healthy

    q = shlex.quote
    items = [i for i in plan.items if i.entry.stack == stack.name]
    staging = f"{plan.data_root}/{STAGING}-{stack.name}"
    olds = [i.entry.path + BEFORE for i in items]
    left = conn.run(
        "for d in " + " ".join(q(o) for o in olds) + '; do [ -e "$d" ] && echo "$d"; done; true'
    ).stdout.split()
    if left:
        # An earlier restore that did not finish kept the data it replaced there: never overwrite.
        raise CheckFailed(
            f"{conn.name}: {', '.join(left)} left by an earlier restore: move it back or remove "
            f"it, then restore {stack.name} again (nothing replaced)"
        )
    conn.run(f"rm -rf -- {q(staging)} && install -d -m 700 {q(staging)}", check=True)
    for i in items:
        e = i.entry
        archive = f"{plan.run_dir}/{e.file}"
        # Checked again right before use: the archive may have changed since the facts.
        conn.run(
            f"printf '%s  %s\\n' {q(e.sha256)} {q(archive)} | sha256sum -c >/dev/null && "
            f"tar --numeric-owner -C {q(staging)} -xzf {q(archive)} && "
            f"test -d {q(staging + '/' + e.member)}",
            check=True,
            timeout=ARCHIVE_TIMEOUT,
        )
    compose = f"cd {q(stack.project_dir)} && docker compose -p {q(stack.project)}"
    conn.run(f"{compose} stop", check=True, timeout=300)
    try:
        for i in items:
            path = i.entry.path
            old = path + BEFORE
            conn.run(
                f"{{ [ ! -e {q(path)} ] || mv -T -- {q(path)} {q(old)}; }} "
                f'&& mkdir -p -- "$(dirname -- {q(path)})" '
                f"&& mv -T -- {q(staging + '/' + i.entry.member)} {q(path)}",
                check=True,
            )
    finally:
        conn.run(f"{compose} start", check=True, timeout=300)
    _, failure = wait_healthy(conn, [stack], wait_timeout, secrets)
    if failure is not None:
        kept = ", ".join(i.entry.path + BEFORE for i in items)
        raise CheckFailed(f"{failure} (the data before the restore is kept in {kept})")
    conn.run(f"rm -rf -- {' '.join(q(o) for o in olds)} {q(staging)}", check=True)
