"""Back up a host's stack data dirs: facts (one round trip), plan, archive, manifest, retention.

``backup_host`` is the per-host Nornir task of ``runbooks/backup.py``. Each data dir becomes a
``tar.gz`` (members relative to ``data_root``, numeric owners kept) in the run folder; stacks
listed in ``backup_stop`` are stopped (``docker compose stop``) while their data is archived
and started again in any case, then waited for until running/healthy. The manifest records the
sha256 and size of each archive as computed on the host after it was written.

``fetch_run`` copies a finished run to the controller over the same SSH connection: the
connection returns command output as text, so each archive is read in base64 chunks and decoded
here, then checked against the manifest's sha256 (a binary ``read_file`` streaming to a local
file would avoid the base64 overhead).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nornir.core.task import Result, Task

from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.defaults import DEFAULT_BACKUP_DIR, DEFAULT_DATA_ROOT
from nornir_homehub.errors import CheckFailed, TransportError
from nornir_homehub.plan.backup import (
    MANIFEST,
    RUN_NAME_RE,
    BackupPlan,
    manifest,
    parse_runs,
    parse_sizes,
    plan_backup,
)
from nornir_homehub.report import private_dir
from nornir_homehub.secrets import redact_tail

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore

DEFAULT_KEEP = 7
FETCH_CHUNK = 8 * 1024 * 1024
ARCHIVE_TIMEOUT = 3600.0
TAR_FILES_CHANGED = 1  # GNU tar --create: "some files were changed while being archived"


@dataclass(frozen=True)
class BackupOutcome:
    """What a backup did on one host: the plan, the manifest written, the files fetched."""

    plan: BackupPlan
    manifest: dict[str, Any] | None = None
    fetched: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**self.plan.to_dict(), "manifest": self.manifest, "fetched": list(self.fetched)}


def archive_command(data_root: str, member: str, final: str, *, live: bool) -> str:
    """Shell: ``member`` of ``data_root`` as ``final`` (``tar.gz``), whole or not at all.

    ``live``: the stack keeps running while it is archived (not in ``backup_stop``). GNU tar
    then exits `TAR_FILES_CHANGED` when a file changed as it was read (Prometheus appends to
    its WAL every scrape); the archive is complete and kept, and the manifest says so. A stack
    that was stopped gets no such allowance: any exit but 0 removes the partial archive.
    """
    tmp = shlex.quote(final + ".part")
    ok = '[ "$rc" -eq 0 ]' + (f' || [ "$rc" -eq {TAR_FILES_CHANGED} ]' if live else "")
    return (
        f"umask 077; tar --numeric-owner -C {shlex.quote(data_root)} -czf {tmp} "
        f"{shlex.quote(member)}; rc=$?; "
        f"if {ok}; then mv -f {tmp} {shlex.quote(final)} || exit 2; exit $rc; fi; "
        f"rm -f {tmp}; exit $rc"
    )


def backup_fact_commands(backup_dir: str, data_dirs: Collection[str]) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`: existing runs and data dir sizes."""
    dirs = " ".join(shlex.quote(d) for d in data_dirs)
    return {
        "runs": f"ls -1 {shlex.quote(backup_dir)} 2>/dev/null; true",
        "sizes": (
            f'for d in {dirs}; do if [ -d "$d" ]; then '
            'printf \'%s %s\\n\' "$(du -sb "$d" | cut -f1)" "$d"; '
            "else printf 'MISSING %s\\n' \"$d\"; fi; done; true"
        ),
    }


def backup_host(
    task: Task,
    *,
    rendered: Mapping[str, list[RenderedStack]],
    secrets: SecretStore,
    run: str,
    dry_run: bool = False,
    keep: int | None = None,
    fetch: Path | None = None,
    wait_timeout: float = 180.0,
) -> Result:
    """Archive every data dir of the host's stacks, write the manifest, apply retention.

    Inventory: ``backup_dir`` (default /srv/backups/homehub), ``backup_keep`` (7; ``keep``
    overrides), ``backup_stop`` (stacks stopped while archived), ``data_root``.

    Returns:
        Result with ``result`` = `BackupPlan` (plus, when applied, the manifest under
        ``manifest`` in ``to_dict``), ``diff`` = the plan in words, ``changed`` when anything
        was (or in dry-run would be) written or deleted.

    Raises:
        PlanError: bad backup_dir/backup_keep (see `plan_backup`).
        TransportError: a command failed (the stack is started again first).
        CheckFailed: a fetched archive does not match its manifest hash.
    """
    stacks = list(rendered.get(task.host.name, ()))
    backup_dir = str(task.host.get("backup_dir") or DEFAULT_BACKUP_DIR)
    data_root = str(task.host.get("data_root") or DEFAULT_DATA_ROOT)
    keep_n = int(keep if keep is not None else task.host.get("backup_keep") or DEFAULT_KEEP)
    stop = task.host.get("backup_stop") or []
    conn = host_connection(task)
    facts = conn.run_batch(
        backup_fact_commands(backup_dir, [d.path for s in stacks for d in s.data_dirs])
    )
    plan = plan_backup(
        task.host.name,
        stacks,
        backup_dir=backup_dir,
        data_root=data_root,
        run=run,
        keep=keep_n,
        stop=set(stop),
        existing_runs=parse_runs(facts["runs"].stdout),
        data_sizes=parse_sizes(facts["sizes"].stdout),
    )
    if dry_run or not plan.changed:
        return Result(
            host=task.host, result=BackupOutcome(plan), diff=plan.describe(), changed=plan.changed
        )
    written = _archive(conn, plan, stacks, secrets, wait_timeout) if plan.items else None
    for name in plan.retention.delete:
        if not RUN_NAME_RE.match(name):  # pragma: no cover - the plan only lists run names
            continue
        conn.run(f"rm -rf -- {shlex.quote(plan.backup_dir + '/' + name)}", check=True)
    fetched: list[str] = []
    if fetch is not None and written is not None:
        fetched = fetch_run(conn, plan, written, fetch)
    return Result(
        host=task.host,
        result=BackupOutcome(plan, written, tuple(fetched)),
        diff=plan.describe(),
        changed=True,
    )


def _archive(
    conn: HostConnection,
    plan: BackupPlan,
    stacks: list[RenderedStack],
    secrets: SecretStore,
    wait_timeout: float,
) -> dict[str, Any]:
    from nornir_homehub.tasks.health import wait_healthy

    run_dir = shlex.quote(plan.run_dir)
    conn.run(f"install -d -m 700 {shlex.quote(plan.backup_dir)} {run_dir}", check=True)
    by_name = {s.name: s for s in stacks}
    sums: dict[str, tuple[str, int]] = {}
    changed: set[str] = set()
    for stack_name in dict.fromkeys(i.stack for i in plan.items):
        stack = by_name[stack_name]
        items = [i for i in plan.items if i.stack == stack_name]
        compose = (
            f"cd {shlex.quote(stack.project_dir)} && docker compose -p {shlex.quote(stack.project)}"
        )
        stopping = any(i.stop for i in items)
        if stopping:
            conn.run(f"{compose} stop", check=True, timeout=300)
        try:
            for i in items:
                final = f"{plan.run_dir}/{i.archive}"
                cmd = archive_command(plan.data_root, i.rel, final, live=not i.stop)
                res = conn.run(cmd, timeout=ARCHIVE_TIMEOUT)
                if res.exit_code == TAR_FILES_CHANGED and not i.stop:
                    changed.add(i.archive)
                elif not res.ok:
                    raise TransportError(
                        f"{conn.name}: archiving {i.path} (tar) exited {res.exit_code}: "
                        f"{redact_tail(res.stderr.strip(), 500) or '(no output)'}"
                    )
        finally:
            if stopping:
                conn.run(f"{compose} start", check=True, timeout=300)
        if stopping:
            _, failure = wait_healthy(conn, [stack], wait_timeout, secrets)
            if failure is not None:
                raise failure
        for i in items:
            final = shlex.quote(f"{plan.run_dir}/{i.archive}")
            out = conn.run(f"sha256sum {final} && stat -c %s {final}", check=True).stdout.split()
            sums[i.archive] = (out[0], int(out[-1]))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    data = manifest(plan, sums, created, changed_while_read=changed)
    conn.put_file(
        f"{plan.run_dir}/{MANIFEST}", (json.dumps(data, indent=2) + "\n").encode(), mode=0o600
    )
    return data


def fetch_run(
    conn: HostConnection, plan: BackupPlan, data: Mapping[str, Any], dest: Path
) -> list[str]:
    """Copy a run's archives and manifest to ``dest/<host>/<run>/``; check each sha256.

    Raises:
        CheckFailed: a copied archive's sha256 differs from the manifest.
        TransportError: a read failed.
    """
    target = dest / plan.host / plan.run
    # The archives hold the stacks' data (Open WebUI's users, Qdrant's vectors): 0600 files in
    # 0700 folders, as on the host; ``dest`` itself, the user's folder, keeps its mode.
    private_dir(target)
    for folder in (target.parent, target):
        folder.chmod(0o700)
    out = []
    for entry in data["archives"]:
        remote = f"{plan.run_dir}/{entry['file']}"
        local = target / entry["file"]
        digest = hashlib.sha256()
        with _private_file(local) as fh:
            offset = 0
            while offset < entry["size"]:
                # tail -c +N is 1-based; head -c bounds the chunk.
                res = conn.run(
                    f"tail -c +{offset + 1} {shlex.quote(remote)} | head -c {FETCH_CHUNK} "
                    "| base64 -w0",
                    check=True,
                )
                chunk = base64.b64decode(res.stdout)
                if not chunk:
                    raise TransportError(f"{conn.name}: {remote}: short read at byte {offset}")
                fh.write(chunk)
                digest.update(chunk)
                offset += len(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise CheckFailed(
                f"{conn.name}: fetched {remote} to {local}: sha256 {digest.hexdigest()} "
                f"differs from the manifest's {entry['sha256']}"
            )
        out.append(str(local))
    manifest_path = target / MANIFEST
    with _private_file(manifest_path) as fh:
        fh.write((json.dumps(data, indent=2) + "\n").encode())
    out.append(str(manifest_path))
    return out


def _private_file(path: Path) -> BinaryIO:
    """Open ``path`` for writing as a 0600 file (also when it existed with another mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")
