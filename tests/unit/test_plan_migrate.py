"""plan_migration: data-driven cases (old dirs + containers -> what stops, goes and stays)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from compute_double import bare_stack

from nornir_homehub.connection import CommandResult
from nornir_homehub.errors import PlanError, UnsafeOldDir
from nornir_homehub.facts.docker import ContainerFact, MountFact, inspect_line, parse_containers
from nornir_homehub.facts.legacy import (
    LegacyContainer,
    LegacyDir,
    LegacyFacts,
    Mount,
    legacy_containers,
    mounts_inside,
    parse_dirs,
)
from nornir_homehub.plan.migrate import plan_migration

CASES = sorted((Path(__file__).parent / "cases" / "plan_migrate").glob("*.yaml"))
DATA = {"ollama": "/srv/docker/ollama/data", "qdrant": "/srv/docker/qdrant/storage"}


def facts(case: dict[str, Any]) -> LegacyFacts:
    return LegacyFacts(
        dirs=tuple(
            LegacyDir(
                d["path"], d["exists"], tuple(d.get("compose_files", ())), d.get("empty", False)
            )
            for d in case["dirs"]
        ),
        containers=tuple(
            LegacyContainer(
                c["name"],
                c["project"],
                c["working_dir"],
                c.get("state", "running"),
                tuple(Mount(k, s, "/x") for k, s in c.get("mounts", [])),
            )
            for c in case["containers"]
        ),
        data=case.get("data", {}),
        dir_mounts=frozenset(case.get("dir_mounts", ())),
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_migration(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    want = case["expect"]
    stacks = [bare_stack("ollama", DATA["ollama"]), bare_stack("qdrant", DATA["qdrant"])]
    run = lambda: plan_migration(  # noqa: E731 - one call, two uses
        "compute", facts(case), stacks, data_root="/srv/docker", stacks_root="/opt/stacks"
    )
    if "error" in want:
        # `refused`: the old dir is unsafe to remove; the runbook stops with exit 2.
        kind = UnsafeOldDir if want.get("refused") else PlanError
        with pytest.raises(kind, match="compute: .*" + re.escape(want["error"])) as exc:
            run()
        assert isinstance(exc.value, UnsafeOldDir) is bool(want.get("refused"))
        return
    plan = run()
    assert [s.project for s in plan.stop] == want["stop"]
    assert list(plan.remove) == want["remove"]
    assert plan.changed is bool(want["stop"] or want["remove"])
    if "stop_containers" in want:
        assert list(plan.stop[0].containers) == want["stop_containers"]
    if "data" in want:
        assert {k.path: k.files for k in plan.data} == want["data"]
    if "noop" in want:
        assert plan.noop_reason == want["noop"]
    if "warnings" in want:
        assert len(plan.warnings) == want["warnings"], plan.warnings
    if "keep_reason" in want:
        assert plan.dirs[0].reason.startswith(want["keep_reason"])
    if "rollback_first" in want:
        assert plan.rollback_commands()[0] == want["rollback_first"]
        assert plan.rollback_commands()[-1] == (
            "cd /opt/stacks/ai-compute && docker compose -p ai-compute up -d"
        )
    assert plan.to_dict()["remove"] == want["remove"]
    assert plan.describe().startswith("migrate compute:\n")


def test_parsers() -> None:
    dirs = parse_dirs(
        "DIR /opt/stacks/ai\nFILE /opt/stacks/ai compose.yaml\nMISSING /opt/x\n"
        "DIR /opt/empty\nEMPTY /opt/empty\n"
    )
    assert dirs == (
        LegacyDir("/opt/stacks/ai", True, ("compose.yaml",)),
        LegacyDir("/opt/x", False),
        LegacyDir("/opt/empty", True, (), empty=True),
    )
    fact = ContainerFact(
        id="a" * 64,
        name="qdrant",
        state="running",
        exit_code=0,
        started_at="",
        health=None,
        restart_count=0,
        image="qdrant/qdrant",
        project="ai",
        service="qdrant",
        working_dir="/opt/stacks/ai",
        mounts=(MountFact("bind", "/srv/docker/q", "/q"), MountFact("volume", "v1", "/v")),
    )
    docker = parse_containers(CommandResult("docker", 0, inspect_line(fact) + "\n", ""))
    (c,) = legacy_containers(docker)
    assert (c.name, c.project, c.working_dir) == ("qdrant", "ai", "/opt/stacks/ai")
    assert c.mounts == (Mount("bind", "/srv/docker/q", "/q"), Mount("volume", "v1", "/v"))
    inside = LegacyContainer(
        "x",
        "ai",
        "/opt/stacks/ai",
        "running",
        (
            Mount("bind", "/opt/stacks/ai/data", "/d"),
            Mount("bind", "/opt/stacks/aix/data", "/e"),
            Mount("volume", "/opt/stacks/ai/v", "/v"),
        ),
    )
    assert mounts_inside([inside], ["/opt/stacks/ai/"]) == ["/opt/stacks/ai/data"]
