"""The backup runbook against the lab: archives per data dir, manifest hashes, restart, retention."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

BACKUP_DIR = "/srv/backups/homehub"
OLD_RUNS = ["20200101T000000Z", "20200102T000000Z", "20200103T000000Z"]


def running(lab: Any, host: str) -> dict[str, str]:
    """Container name -> state on a lab host."""
    out = lab.host_exec(
        host, "ids=$(docker ps -aq); [ -z \"$ids\" ] && echo '[]' || docker inspect $ids"
    ).stdout
    return {c["Name"].lstrip("/"): c["State"]["Status"] for c in json.loads(out)}


@pytest.fixture(scope="module")
def deployed(lab: Any) -> Any:
    """Stacks deployed; three old runs and an unrelated folder under the backup dir."""
    res = run_cli("deploy", "--no-verify", "--filter", "role=compute")
    assert res.returncode == 0, res.stdout + res.stderr
    prep = lab.host_exec(
        "compute",
        f"rm -rf {BACKUP_DIR} && mkdir -p {BACKUP_DIR}/notes && "
        + " && ".join(
            f"mkdir {BACKUP_DIR}/{r} && echo {{}} > {BACKUP_DIR}/{r}/manifest.json"
            for r in OLD_RUNS
        )
        + " && echo marker > /srv/docker/qdrant/storage/backup-marker",
    )
    assert prep.returncode == 0, prep.stderr
    return lab


def test_dry_run_lists_archives_and_deletions(deployed: Any) -> None:
    lab = deployed
    res = run_cli("run", "backup", "--dry-run", "--filter", "role=compute", "-o", "keep=2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "archive /srv/docker/qdrant/storage -> qdrant--qdrant_storage.tar.gz" in res.stdout
    assert "(stack stopped meanwhile" in res.stdout
    assert f"delete  {BACKUP_DIR}/20200101T000000Z (retention)" in res.stdout
    assert f"delete  {BACKUP_DIR}/20200102T000000Z (retention)" in res.stdout
    listing = lab.host_exec("compute", f"ls {BACKUP_DIR}").stdout.split()
    assert sorted(listing) == sorted([*OLD_RUNS, "notes"])  # nothing changed


def test_backup_archives_hashes_restart_and_retention(deployed: Any, tmp_path: Path) -> None:
    lab = deployed
    report = tmp_path / "backup.json"
    fetch = tmp_path / "fetched"
    res = run_cli(
        "run",
        "backup",
        "--filter",
        "role=compute",
        "-o",
        "keep=2",
        "-o",
        f"fetch={fetch}",
        "--report",
        str(report),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(report.read_text())["hosts"]["compute"]["tasks"][0]["result"]
    manifest = result["manifest"]
    run_dir = result["run_dir"]
    on_host = json.loads(lab.host_exec("compute", f"cat {run_dir}/manifest.json").stdout)
    assert on_host == manifest
    files = {a["path"]: a for a in manifest["archives"]}
    # Every data dir of the compute stacks (node-exporter's textfile folder is one too).
    assert set(files) == {
        "/srv/docker/ollama/data",
        "/srv/docker/qdrant/storage",
        "/srv/docker/node-exporter/textfile",
    }
    for entry in manifest["archives"]:
        path = f"{run_dir}/{entry['file']}"
        got = lab.host_exec("compute", f"sha256sum {path}").stdout.split()[0]
        assert got == entry["sha256"], path
        local = fetch / "compute" / manifest["run"] / entry["file"]
        assert hashlib.sha256(local.read_bytes()).hexdigest() == entry["sha256"]
        assert local.stat().st_mode & 0o777 == 0o600  # the data of the stacks: owner only
    for folder in (fetch / "compute", fetch / "compute" / manifest["run"]):
        assert folder.stat().st_mode & 0o777 == 0o700
    assert (fetch / "compute" / manifest["run"] / "manifest.json").stat().st_mode & 0o777 == 0o600
    members = lab.host_exec(
        "compute", f"tar -tzf {run_dir}/{files['/srv/docker/qdrant/storage']['file']}"
    ).stdout.split()
    assert "qdrant/storage/backup-marker" in members
    assert files["/srv/docker/qdrant/storage"]["stopped"] is True
    assert files["/srv/docker/ollama/data"]["stopped"] is False
    states = running(lab, "compute")
    assert states["qdrant"] == "running" and states["ollama"] == "running"
    # keep=2: the newest old run and this one stay; the older runs go; other names stay.
    listing = sorted(lab.host_exec("compute", f"ls {BACKUP_DIR}").stdout.split())
    assert listing == sorted(["20200103T000000Z", manifest["run"], "notes"])
    mode = lab.host_exec("compute", f"stat -c %a {run_dir} {run_dir}/manifest.json").stdout.split()
    assert mode == ["700", "600"]
