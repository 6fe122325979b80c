"""Backup -> wipe -> restore on the lab, through the stand-ins' own APIs, byte for byte.

Data is written the way a user writes it: a Qdrant collection and its points over Qdrant's REST
API on the compute host (:6333, the API key), a file uploaded to Open WebUI through Traefik on
the trusted host (forward-auth header). The data is then deleted for real on the hosts, and
``run restore`` must bring it back: the same API answers return the same bytes. A fault: one
archive of a backup run is corrupted on the host; restoring from it exits 1 naming the file and
replaces nothing, and the next restore from a good run converges.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any

import pytest
from conftest import run_cli
from test_secrets_lab import lab_value

from nornir_homehub.lab.edge import LAB_AUTH_HEADER, LAB_AUTH_TOKEN

TRUSTED, COMPUTE = "192.0.2.131", "192.0.2.132"
CHAT = "chat.homehub.test"
BACKUP_DIR = "/srv/backups/homehub"
QDRANT_DATA = "/srv/docker/qdrant/storage"
WEBUI_DATA = "/srv/docker/open-webui/data"
COLLECTION = "restore_roundtrip"
CONFIG = '{"vectors":{"size":4,"distance":"Dot"}}'
POINTS = [
    '{"points":[{"id":1,"vector":[0.1,0.2,0.3,0.4],"payload":{"doc":"guide.md"}}]}',
    '{"points":[{"id":2,"vector":[0.5,0.6,0.7,0.8],"payload":{"doc":"notes \\u00e6\\u00f8"}}]}',
]
BLOB = bytes(range(256)) * 8 + os.urandom(1000)  # NUL bytes and every other byte value


def request(
    address: str, port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One HTTP request from the controller to a lab address; (status, body)."""
    conn = http.client.HTTPConnection(address, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def qdrant(method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    """Qdrant's REST API on the compute host, with the lab's API key."""
    headers = {"api-key": lab_value("vault_qdrant_api_key"), "Content-Type": "application/json"}
    return request(COMPUTE, 6333, method, path, body.encode() if body else None, headers)


def webui(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Open WebUI through Traefik on the trusted host (the lab's forward-auth header)."""
    headers = {"Host": CHAT, LAB_AUTH_HEADER: LAB_AUTH_TOKEN}
    if body is not None:
        headers["Content-Type"] = "application/octet-stream"
    return request(TRUSTED, 80, method, path, body, headers)


def scroll() -> bytes:
    status, body = qdrant("POST", f"/collections/{COLLECTION}/points/scroll", "{}")
    assert status == 200, body
    return body


def newest_run(lab: Any, host: str) -> str:
    return lab.host_exec(
        host, f"ls -1 {BACKUP_DIR} | grep -E '^[0-9]{{8}}T[0-9]{{6}}Z$' | tail -n 1"
    ).stdout.strip()


@pytest.fixture(scope="module")
def written(lab: Any) -> dict[str, Any]:
    """The stacks deployed, old backups gone; a collection, its points and an upload written."""
    res = run_cli("deploy", "--no-verify")
    assert res.returncode == 0, res.stdout + res.stderr
    for host in ("trusted", "compute"):
        assert lab.host_exec(host, f"rm -rf {BACKUP_DIR}").returncode == 0
    qdrant("DELETE", f"/collections/{COLLECTION}")
    status, body = qdrant("PUT", f"/collections/{COLLECTION}", CONFIG)
    assert status == 200, body
    for points in POINTS:
        status, body = qdrant("PUT", f"/collections/{COLLECTION}/points", points)
        assert status == 200, body
    status, body = webui("POST", "/api/v1/files/?filename=roundtrip.bin", BLOB)
    assert status == 200, body
    upload = json.loads(body)
    assert upload["meta"]["size"] == len(BLOB)
    return {
        "file_id": upload["id"],
        "points": scroll(),
        "collection": qdrant("GET", f"/collections/{COLLECTION}")[1],
    }


def test_backup_then_restore_dry_run_exit_0_and_change_nothing(
    lab: Any, written: dict[str, Any]
) -> None:
    res = run_cli("run", "backup")
    assert res.returncode == 0, res.stdout + res.stderr
    before = lab.host_exec("compute", f"find {QDRANT_DATA} -type f | sort | xargs sha256sum").stdout
    res = run_cli("run", "restore", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    run = newest_run(lab, "compute")
    assert f"replace {QDRANT_DATA} (" in res.stdout, res.stdout
    assert "with qdrant--qdrant_storage.tar.gz" in res.stdout
    assert f"replace {WEBUI_DATA} (" in res.stdout
    assert f"restore compute <- {BACKUP_DIR}/{run}:" in res.stdout
    assert "stack   qdrant: stopped, restored, started, checked" in res.stdout
    after = lab.host_exec("compute", f"find {QDRANT_DATA} -type f | sort | xargs sha256sum").stdout
    assert after == before  # a dry run changes nothing


def test_wipe_then_restore_brings_the_data_back_byte_for_byte(
    lab: Any, written: dict[str, Any]
) -> None:
    # Wipe for real on the hosts: the collection's files and the upload are gone.
    assert lab.host_exec("compute", f"rm -rf {QDRANT_DATA}/collections").returncode == 0
    assert lab.host_exec("trusted", f"rm -rf {WEBUI_DATA}/uploads").returncode == 0
    assert qdrant("GET", f"/collections/{COLLECTION}")[0] == 404
    assert webui("GET", f"/api/v1/files/{written['file_id']}/content")[0] == 404
    res = run_cli("run", "restore")
    assert res.returncode == 0, res.stdout + res.stderr
    assert scroll() == written["points"]
    assert qdrant("GET", f"/collections/{COLLECTION}") == (200, written["collection"])
    assert webui("GET", f"/api/v1/files/{written['file_id']}/content") == (200, BLOB)
    # The old data and the staging folders are gone; the containers run.
    left = lab.host_exec("compute", "ls -a /srv/docker /srv/docker/qdrant").stdout
    assert ".before-restore" not in left and ".homehub-restore" not in left
    # A second restore of the same run converges too (same bytes again).
    res = run_cli("run", "restore", "-o", "stacks=qdrant")
    assert res.returncode == 0, res.stdout + res.stderr
    assert scroll() == written["points"]


def test_a_corrupt_archive_is_refused_and_nothing_is_replaced(
    lab: Any, written: dict[str, Any], fault_table: Any, request: pytest.FixtureRequest
) -> None:
    good = newest_run(lab, "compute")
    res = run_cli("run", "backup")
    assert res.returncode == 0, res.stdout + res.stderr
    bad = newest_run(lab, "compute")
    assert bad != good
    archive = f"{BACKUP_DIR}/{bad}/qdrant--qdrant_storage.tar.gz"
    # Flip one byte in the middle of the archive, for real.
    corrupt = lab.host_exec(
        "compute",
        f"size=$(stat -c %s {archive}) && printf '\\377' | "
        f"dd of={archive} bs=1 seek=$((size / 2)) conv=notrunc status=none",
    )
    assert corrupt.returncode == 0, corrupt.stderr
    # New data after the backups: a refused restore must leave it in place.
    status, body = qdrant(
        "PUT", f"/collections/{COLLECTION}/points", '{"points":[{"id":3,"vector":[1,1,1,1]}]}'
    )
    assert status == 200, body
    newer = scroll()
    before = lab.host_exec("compute", f"find {QDRANT_DATA} -type f | sort | xargs sha256sum").stdout
    started = lab.host_exec("compute", "docker inspect -f '{{.State.StartedAt}}' qdrant").stdout
    res = run_cli("run", "restore", "-o", "stacks=qdrant", "-o", f"from={bad}")
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert f"{archive}: sha256" in out and "nothing replaced" in out, out
    assert (
        lab.host_exec("compute", f"find {QDRANT_DATA} -type f | sort | xargs sha256sum").stdout
        == before
    )
    assert (
        lab.host_exec("compute", "docker inspect -f '{{.State.StartedAt}}' qdrant").stdout
        == started
    )
    assert scroll() == newer
    # The dry run refuses it too; the good run restores and converges.
    res = run_cli("run", "restore", "--dry-run", "-o", f"from={bad}", "-o", "stacks=qdrant")
    assert res.returncode == 1 and f"{archive}: sha256" in res.stdout + res.stderr
    res = run_cli("run", "restore", "-o", "stacks=qdrant", "-o", f"from={good}")
    assert res.returncode == 0, res.stdout + res.stderr
    assert scroll() == written["points"]
    res = run_cli("verify", "--stacks", "qdrant")
    assert res.returncode == 0, res.stdout + res.stderr
    fault_table.record(
        fault="backup archive corrupted (one byte flipped)",
        outcome=(
            "run restore exit 1 naming the archive and both hashes, nothing stopped or "
            "replaced (data written after the backup intact); restore from a good run converges"
        ),
        converged=True,
        test=request.node.nodeid,
    )
