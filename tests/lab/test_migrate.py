"""The guide's migration against the lab: an old monolithic ``ai-compute`` project -> new stacks.

The tests run in order on one module-scoped state: the compute host gets the old project (its
containers hold the names ``ollama`` and ``qdrant``), the dry run shows the plan and changes
nothing, the real run stops it, deploys and verifies the new stacks, removes the old dir and
leaves the data under /srv/docker alone. The module ends with the new stacks deployed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

OLD_DIR = "/opt/stacks/ai-compute"
MARKER = "/srv/docker/qdrant/storage/homehub-migrate-marker"
OLD_COMPOSE = """\
# The guide's old monolithic compute stack (deprecated), built by the migrate test.
services:
  ollama:
    image: homehub-standin/ollama:lab
    container_name: ollama
    init: true
    ports: ["11434:11434"]
    volumes: [/srv/docker/ollama/data:/root/.ollama]
  qdrant:
    image: homehub-standin/qdrant:lab
    container_name: qdrant
    init: true
    env_file: .env
    ports: ["6333:6333"]
    volumes: [/srv/docker/qdrant/storage:/qdrant/storage]
"""


def projects(lab: Any, host: str) -> dict[str, tuple[str, str]]:
    """Container name -> (compose project, id) on a lab host (the package's Docker fact)."""
    from nornir_homehub.connection import CommandResult
    from nornir_homehub.facts.docker import containers_command, parse_containers

    cmd = containers_command()
    res = lab.host_exec(host, cmd)
    docker = parse_containers(CommandResult(cmd, res.returncode, res.stdout, res.stderr))
    assert docker.error is None, docker.error
    return {c.name: (c.project, c.id) for c in docker.containers}


@pytest.fixture(scope="module")
def old_stack(lab: Any) -> Any:
    """Compute host with the old ``ai-compute`` project running instead of the new stacks."""
    setup = lab.host_exec(
        "compute",
        "for s in ollama qdrant; do [ -f /opt/stacks/$s/compose.yaml ] && "
        "(cd /opt/stacks/$s && docker compose -p $s down --remove-orphans); done; "
        "rm -rf /opt/stacks/ollama /opt/stacks/qdrant; "
        f"mkdir -p /srv/docker/qdrant/storage /srv/docker/ollama/data {OLD_DIR} && "
        f"echo keep-me > {MARKER} && "
        f"printf 'QDRANT__SERVICE__API_KEY=old-key\\n' > {OLD_DIR}/.env && "
        f"cat > {OLD_DIR}/compose.yaml <<'EOF'\n{OLD_COMPOSE}EOF\n"
        f"cd {OLD_DIR} && docker compose -p ai-compute up -d",
        timeout=180,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert projects(lab, "compute")["qdrant"][0] == "ai-compute"
    return lab


def test_dirs_without_an_old_project_are_refused_before_any_host_changes(
    old_stack: Any, tmp_path: Path
) -> None:
    lab = old_stack
    before = projects(lab, "compute")
    # trusted's old dir (inventory legacy_stack_dirs) exists but holds no old project.
    assert lab.host_exec("trusted", "mkdir -p /opt/stacks/ai").returncode == 0
    try:
        report = tmp_path / "refused.json"
        res = run_cli("run", "migrate", "--report", str(report))
        assert res.returncode == 2, res.stdout + res.stderr
        assert "nothing was changed on any host" in res.stderr
        assert "old stack dir /opt/stacks/ai is empty" in res.stderr
        assert "Traceback" not in res.stderr
        # compute planned fine, yet nothing ran: its old project still runs, its dir is there.
        assert projects(lab, "compute") == before
        assert lab.host_exec("compute", f"test -f {OLD_DIR}/compose.yaml").returncode == 0
        assert lab.host_exec("trusted", "test -d /opt/stacks/ai").returncode == 0
        data = json.loads(report.read_text())
        assert [s["name"] for s in data["stages"]] == [
            "migrate plan compute",
            "migrate plan trusted",
        ]
    finally:
        lab.host_exec("trusted", "rmdir /opt/stacks/ai")
    for bad, why in [
        ("/etc", "is a system directory"),
        ("/root", "is a system directory"),
        ("/var/lib/docker", "is a system directory"),
        ("/srv", "overlaps the data root"),
        ("/opt/stacks/qdrant", "is or holds the new stack dir"),
    ]:
        res = run_cli("run", "migrate", "--filter", "role=compute", "-o", f"old_dirs={bad}")
        assert res.returncode == 2, (bad, res.stdout + res.stderr)
        assert f"old stack dir {bad} {why}" in res.stderr, res.stderr
    # An empty dir given on the command line: refused too, and left where it is.
    lab.host_exec("compute", "mkdir -p /opt/stacks/empty-old")
    res = run_cli(
        "run", "migrate", "--filter", "role=compute", "-o", "old_dirs=/opt/stacks/empty-old"
    )
    assert res.returncode == 2 and "is empty" in res.stderr, res.stdout + res.stderr
    assert lab.host_exec("compute", "rmdir /opt/stacks/empty-old").returncode == 0
    assert lab.host_exec("compute", "test -s /etc/hostname && test -d /root").returncode == 0
    assert lab.host_exec("compute", "test -d /var/lib/docker/image").returncode == 0
    assert projects(lab, "compute") == before


def test_dry_run_shows_the_plan_and_changes_nothing(old_stack: Any, tmp_path: Path) -> None:
    lab = old_stack
    before = projects(lab, "compute")
    report = tmp_path / "dry.json"
    res = run_cli(
        "run", "migrate", "--dry-run", "--filter", "role=compute", "--report", str(report)
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stop    compose project ai-compute in /opt/stacks/ai-compute" in res.stdout
    assert "holds container name(s) ollama, qdrant the new stacks need" in res.stdout
    assert f"remove  {OLD_DIR}: old stack dir (compose.yaml); removed after verify" in res.stdout
    assert "keep    data /srv/docker/qdrant/storage" in res.stdout
    assert "stack qdrant: write /opt/stacks/qdrant/compose.yaml (missing)" in res.stdout
    data = json.loads(report.read_text())
    assert data["dry_run"] is True
    plan = data["hosts"]["compute"]["tasks"][0]["result"]
    assert plan["remove"] == [OLD_DIR]
    assert [s["project"] for s in plan["stop"]] == ["ai-compute"]
    assert projects(lab, "compute") == before  # same containers, same projects
    assert lab.host_exec("compute", f"test -f {OLD_DIR}/compose.yaml").returncode == 0


def test_migrate_replaces_the_old_project_and_keeps_the_data(
    old_stack: Any, tmp_path: Path
) -> None:
    lab = old_stack
    report = tmp_path / "migrate.json"
    res = run_cli("run", "migrate", "--filter", "role=compute", "--report", str(report))
    assert res.returncode == 0, res.stdout + res.stderr
    now = projects(lab, "compute")
    assert now["ollama"][0] == "ollama" and now["qdrant"][0] == "qdrant"
    assert not [n for n, (p, _) in now.items() if p == "ai-compute"]
    assert lab.host_exec("compute", f"test -e {OLD_DIR}").returncode == 1
    assert lab.host_exec("compute", f"cat {MARKER}").stdout.strip() == "keep-me"
    data = json.loads(report.read_text())
    stages = [s["name"] for s in data["stages"]]
    assert stages == [
        "migrate plan compute",
        "stop old compute",
        "compute stacks",
        "verify compute",
        "remove old compute",
    ]
    checks = {c["name"]: c for c in data["checks"] if c["host"] == "compute"}
    assert checks["data./srv/docker/qdrant/storage"]["status"] == "pass"
    assert checks["container.qdrant"]["status"] == "pass"


def test_second_run_has_nothing_to_migrate(old_stack: Any) -> None:
    res = run_cli("run", "migrate", "--dry-run", "--filter", "role=compute")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"nothing to stop or remove: no old stack found in {OLD_DIR}" in res.stdout
    assert "stack ollama: no change" in res.stdout
    assert "stack qdrant: no change" in res.stdout
