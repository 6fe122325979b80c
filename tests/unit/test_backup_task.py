"""`backup_host` and `fetch_run` through the scripted connection double, without the lab.

The host holds the ollama and qdrant stacks of the lab's compute host (`compute_double`), two
earlier backup runs and a file of the operator's under the backup dir. Qdrant is in
``backup_stop``. The tests assert what the operator finds: the archives made from the data
dirs, the stack stopped only while its data is archived and started again (also when the
archive fails), the manifest with the sha256 and size the host computed, retention deleting
only run folders, and on the controller the fetched files with their bytes and mode.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from compute_double import (
    HOST_DATA,
    RUNNING,
    SECRETS,
    RecordingHost,
    compute_stacks,
    probe_answer,
)
from nornir.core.task import AggregatedResult

from nornir_homehub.errors import CheckFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command
from nornir_homehub.plan.backup import BackupPlan, plan_backup
from nornir_homehub.tasks.backup import (
    archive_command,
    backup_fact_commands,
    backup_host,
    fetch_run,
)
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

RUN = "20261201T120000Z"
BACKUPS = "/srv/backups/homehub"
RUN_DIR = f"{BACKUPS}/{RUN}"
OLDER = ("20261129T120000Z", "20261130T120000Z")
SUMS = {
    "ollama--ollama_data.tar.gz": ("a" * 64, 1200),
    "qdrant--qdrant_storage.tar.gz": ("b" * 64, 3400),
}
QDRANT = "cd /opt/stacks/qdrant && docker compose -p qdrant"


def _facts() -> list[Command]:
    batch = backup_fact_commands(BACKUPS, ["/srv/docker/ollama/data", "/srv/docker/qdrant/storage"])
    return [
        Command(batch["runs"], out="".join(f"{r}\n" for r in OLDER) + "README.operator\n"),
        Command(
            batch["sizes"], out="4096 /srv/docker/ollama/data\n8192 /srv/docker/qdrant/storage\n"
        ),
    ]


def _tar(archive: str, member: str, *, exit: int = 0, err: str = "") -> Command:
    final = f"{RUN_DIR}/{archive}"
    live = not archive.startswith("qdrant")  # the host data's backup_stop: [qdrant]
    return Command(
        archive_command("/srv/docker", member, final, live=live),
        exit=exit,
        err=err or ("tar: qdrant/storage: Cannot open: Permission denied\n" if exit else ""),
    )


def _sum(archive: str) -> Command:
    final = f"{RUN_DIR}/{archive}"
    digest, size = SUMS[archive]
    return Command(f"sha256sum {final} && stat -c %s {final}", out=f"{digest}  {final}\n{size}\n")


def _run(host: ScriptedHost, **kw: Any) -> AggregatedResult:
    nr = scripted_nornir({"compute": ({**HOST_DATA, "backup_stop": ["qdrant"]}, host)})
    return nr.run(
        task=backup_host, rendered={"compute": compute_stacks()}, secrets=SECRETS, run=RUN, **kw
    )


def _script(*, qdrant_tar_exit: int = 0, ollama_tar_exit: int = 0) -> list[Command]:
    changed = "tar: ollama/data/log: file changed as we read it\n" if ollama_tar_exit else ""
    return [
        *_facts(),
        Command(f"install -d -m 700 {BACKUPS} {RUN_DIR}"),
        _tar("ollama--ollama_data.tar.gz", "ollama/data", exit=ollama_tar_exit, err=changed),
        _sum("ollama--ollama_data.tar.gz"),
        Command(f"{QDRANT} stop"),
        _tar("qdrant--qdrant_storage.tar.gz", "qdrant/storage", exit=qdrant_tar_exit),
        Command(f"{QDRANT} start"),
        Command(containers_command(label=PROJECT_LABEL), out=RUNNING),
        Command("homehub-http request", match="contains", out=probe_answer(200)),
        _sum("qdrant--qdrant_storage.tar.gz"),
        Command(f"rm -rf -- {BACKUPS}/{OLDER[0]}"),
    ]


def test_a_backup_archives_each_data_dir_writes_the_manifest_and_applies_retention() -> None:
    host = RecordingHost("compute", _script())
    agg = _run(host, keep=2)
    assert not agg.failed, agg["compute"][0].exception
    assert agg["compute"][0].changed
    manifest = host.files[f"{RUN_DIR}/manifest.json"]
    assert manifest.mode == 0o600
    data = json.loads(manifest.content)
    assert data["format"] == "homehub-backup/1" and data["run"] == RUN
    assert [
        (a["file"], a["member"], a["sha256"], a["size"], a["stopped"]) for a in data["archives"]
    ] == [
        ("ollama--ollama_data.tar.gz", "ollama/data", "a" * 64, 1200, False),
        ("qdrant--qdrant_storage.tar.gz", "qdrant/storage", "b" * 64, 3400, True),
    ]
    ran = host.ran
    # Qdrant is stopped only around its own archive, then waited for until ready again.
    assert ran.index(f"{QDRANT} stop") > ran.index(
        _tar("ollama--ollama_data.tar.gz", "ollama/data").cmd
    )
    assert ran.index(f"{QDRANT} start") == ran.index(f"{QDRANT} stop") + 2
    assert ran.index(containers_command(label=PROJECT_LABEL)) > ran.index(f"{QDRANT} start")
    # Retention: the oldest run goes; the other run and the operator's file stay.
    deletes = [c for c in ran if c.startswith("rm -rf")]
    assert deletes == [f"rm -rf -- {BACKUPS}/{OLDER[0]}"]
    assert ran.index(deletes[0]) > ran.index(f"<upload {RUN_DIR}/manifest.json 600>")
    assert host.unused() == []


def test_a_failed_archive_still_starts_the_stopped_stack_and_writes_no_manifest() -> None:
    script = [c for c in _script(qdrant_tar_exit=2) if "homehub-http" not in c.cmd]
    host = RecordingHost("compute", script)
    agg = _run(host, keep=2)
    assert agg.failed
    error = str(agg["compute"][0].exception)
    assert "exited 2: tar: qdrant/storage: Cannot open: Permission denied" in error
    assert f"{QDRANT} start" in host.ran  # started again in any case
    assert f"{RUN_DIR}/manifest.json" not in host.files
    assert not any(c.startswith("rm -rf") for c in host.ran)  # no retention after a failure


def test_a_file_that_changed_as_a_running_stack_was_archived_is_kept_and_said() -> None:
    # Ollama runs on while archived (not in backup_stop): GNU tar's exit 1 ("file changed as
    # we read it", Prometheus's WAL in the lab) keeps the whole archive, marked in the manifest.
    host = RecordingHost("compute", _script(ollama_tar_exit=1))
    agg = _run(host, keep=2)
    assert not agg.failed, agg["compute"][0].exception
    data = json.loads(host.files[f"{RUN_DIR}/manifest.json"].content)
    assert [(a["file"], a["changed_while_read"]) for a in data["archives"]] == [
        ("ollama--ollama_data.tar.gz", True),
        ("qdrant--qdrant_storage.tar.gz", False),
    ]


def test_exit_1_of_a_stopped_stacks_archive_fails_the_backup() -> None:
    script = [c for c in _script(qdrant_tar_exit=1) if "homehub-http" not in c.cmd]
    agg = _run(RecordingHost("compute", script), keep=2)
    assert agg.failed and "exited 1" in str(agg["compute"][0].exception)


def test_the_archive_command_keeps_or_removes_the_archive_by_exit_code(tmp_path: Path) -> None:
    # A STAND-IN `tar` on PATH (writes the archive, exits as told): the command's own logic.
    stub = tmp_path / "bin" / "tar"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nfor a; do last=$f; f=$a; done\necho x > "$last"\nexit "$TAR_RC"\n')
    stub.chmod(0o755)
    final = tmp_path / "out.tar.gz"
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin"}
    for live, rc, kept in [
        (True, 0, True),
        (True, 1, True),
        (True, 2, False),
        (False, 0, True),
        (False, 1, False),
    ]:
        final.unlink(missing_ok=True)
        cmd = archive_command(str(tmp_path), "data", str(final), live=live)
        done = subprocess.run(["sh", "-c", cmd], env={**env, "TAR_RC": str(rc)}, check=False)
        assert done.returncode == rc, (live, rc)
        assert final.exists() is kept, (live, rc)
        assert not Path(f"{final}.part").exists(), (live, rc)


def test_a_dry_run_only_reads_the_facts() -> None:
    host = RecordingHost("compute", _facts())
    agg = _run(host, keep=2, dry_run=True)
    assert not agg.failed and agg["compute"][0].changed
    assert host.ran == [c.cmd for c in _facts()] and host.files == {}
    diff = agg["compute"][0].diff
    assert "archive /srv/docker/qdrant/storage -> qdrant--qdrant_storage.tar.gz" in diff
    assert "stack stopped meanwhile, 8192 bytes" in diff
    assert f"delete  {BACKUPS}/{OLDER[0]} (retention)" in diff
    assert "README.operator" not in diff


def _fetch_host(blob: bytes, remote: str) -> ScriptedHost:
    chunk = f"tail -c +1 {remote} | head -c 8388608 | base64 -w0"
    return ScriptedHost("compute", [Command(chunk, out=base64.b64encode(blob).decode())])


def _plan() -> BackupPlan:
    return plan_backup(
        "compute",
        compute_stacks()[1:],
        backup_dir=BACKUPS,
        data_root="/srv/docker",
        run=RUN,
        keep=2,
        stop={"qdrant"},
        existing_runs=(),
        data_sizes={"/srv/docker/qdrant/storage": 8192},
    )


def test_fetch_copies_each_archive_as_a_private_file_and_checks_its_sha256(tmp_path: Path) -> None:
    blob = b"\x1f\x8b archive bytes \x00\xff"
    remote = f"{RUN_DIR}/qdrant--qdrant_storage.tar.gz"
    entry = {"file": "qdrant--qdrant_storage.tar.gz", "size": len(blob)}
    good = {"archives": [{**entry, "sha256": hashlib.sha256(blob).hexdigest()}]}
    fetched = fetch_run(_fetch_host(blob, remote), _plan(), good, tmp_path)
    local = tmp_path / "compute" / RUN / "qdrant--qdrant_storage.tar.gz"
    assert fetched == [str(local), str(local.parent / "manifest.json")]
    assert local.read_bytes() == blob and local.stat().st_mode & 0o777 == 0o600
    assert local.parent.stat().st_mode & 0o777 == 0o700
    bad = {"archives": [{**entry, "sha256": "0" * 64}]}
    with pytest.raises(CheckFailed, match="differs from the manifest's 0000"):
        fetch_run(_fetch_host(blob, remote), _plan(), bad, tmp_path / "again")
