"""The migrate tasks through the scripted connection double, without the lab.

The compute host still runs the guide's old monolithic project ``ai-compute`` from
/opt/stacks/ai-compute (containers ``ollama`` and ``qdrant``, their data under /srv/docker),
and is to get the new ollama and qdrant stacks (`compute_double`). The tests assert what the
operator sees: the plan from one round trip (what stops, what is removed, what data is kept,
what the deploy would then do), the old project stopped with its volumes kept, the old dir
removed only after the check that it is gone, and a stopped migration naming the rollback.
"""

from __future__ import annotations

from typing import Any

import pytest
from compute_double import HOST_DATA, compute_stacks, container, listing
from nornir.core.task import AggregatedResult

from nornir_homehub.errors import CheckFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command
from nornir_homehub.facts.legacy import legacy_fact_commands
from nornir_homehub.facts.stacks import stack_fact_batch
from nornir_homehub.plan.migrate import MigrationPlan
from nornir_homehub.tasks.migrate import keep_legacy, plan_migrate, remove_legacy, stop_legacy
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

OLD = "/opt/stacks/ai-compute"
OLD_CONTAINERS = listing(
    container("ollama", "healthy", project="ai-compute"),
    container("qdrant", None, project="ai-compute"),
)
DOWN = (
    f"if [ -d {OLD} ]; then cd {OLD}; else cd /; fi && "
    "docker compose -p ai-compute down --remove-orphans"
)
LEFT = containers_command(label=f"{PROJECT_LABEL}=ai-compute")


def _run(host: ScriptedHost, task: Any, **kw: Any) -> AggregatedResult:
    return scripted_nornir({"compute": (HOST_DATA, host)}).run(task=task, **kw)


def _plan_script() -> list[Command]:
    stacks = compute_stacks()
    batch = stack_fact_batch(stacks)
    legacy = legacy_fact_commands([OLD], "/srv/docker")
    return [
        Command(batch["files"], out="".join(f"{p} MISSING\n" for s in stacks for p in s.files)),
        Command(batch["dirs"], out="/srv/docker/ollama/data 750 root root\n"),
        Command(batch["states"]),
        Command(batch["containers"], out=OLD_CONTAINERS),
        Command(batch["unless:ollama:0"]),  # the old ollama already has the model
        Command(legacy["dirs"], out=f"DIR {OLD}\nFILE {OLD} docker-compose.yml\n"),
        Command(legacy["data"], out="12 /srv/docker/ollama/data\n3 /srv/docker/qdrant/data\n"),
    ]


def _plan() -> tuple[MigrationPlan, str, ScriptedHost]:
    host = ScriptedHost("compute", _plan_script())
    agg = _run(
        host, plan_migrate, old_dirs={"compute": [OLD]}, rendered={"compute": compute_stacks()}
    )
    assert not agg.failed, agg["compute"][0].exception
    return agg["compute"][0].result, str(agg["compute"][0].diff), host


def test_the_plan_comes_from_one_round_trip_and_changes_nothing() -> None:
    plan, diff, host = _plan()
    assert host.commands_run == 1 and host.unused() == [] and host.files == {}
    assert [(s.project, s.directory, s.containers) for s in plan.stop] == [
        ("ai-compute", OLD, ("ollama", "qdrant"))
    ]
    assert plan.remove == (OLD,)
    assert {k.path: k.files for k in plan.data}["/srv/docker/ollama/data"] == 12
    assert f"stop    compose project ai-compute in {OLD}" in diff
    # What the deploy of the new stacks would do once the old containers are gone.
    assert "stack ollama: write /opt/stacks/ollama/compose.yaml (missing)" in diff
    assert "compose up: " in diff and "container for service qdrant missing" in diff


def test_stop_legacy_brings_the_old_project_down_and_checks_it_is_gone() -> None:
    plan, _, _ = _plan()
    host = ScriptedHost("compute", [Command(DOWN), Command(LEFT, out="")])
    agg = _run(host, stop_legacy, plans={"compute": plan})
    assert not agg.failed and agg["compute"][0].changed
    assert host.ran == [DOWN, LEFT]
    assert not any(" -v" in c or "--volumes" in c for c in host.ran)  # volumes are kept
    assert agg["compute"][0].result == [f"docker compose -p ai-compute down ({OLD})"]


def test_stop_legacy_fails_when_a_container_of_the_old_project_is_left() -> None:
    plan, _, _ = _plan()
    left = listing(container("qdrant", None, project="ai-compute"))
    host = ScriptedHost("compute", [Command(DOWN), Command(LEFT, out=left)])
    agg = _run(host, stop_legacy, plans={"compute": plan})
    error = agg["compute"][0].exception
    assert isinstance(error, CheckFailed)
    assert str(error) == (
        f"compute: compose project ai-compute in {OLD} still has 1 container(s) after "
        "`docker compose down`"
    )


@pytest.mark.parametrize("still_there", [False, True])
def test_remove_legacy_removes_the_old_dir_and_checks_it_is_gone(still_there: bool) -> None:
    plan, _, _ = _plan()
    host = ScriptedHost(
        "compute",
        [Command(f"rm -rf -- {OLD}"), Command(f"[ -e {OLD} ]", exit=0 if still_there else 1)],
    )
    agg = _run(host, remove_legacy, plans={"compute": plan}, rendered={"compute": compute_stacks()})
    assert host.ran == [f"rm -rf -- {OLD}", f"[ -e {OLD} ]"]
    if still_there:
        assert str(agg["compute"][0].exception) == f"compute: {OLD} is still there after rm -rf"
    else:
        assert not agg.failed and agg["compute"][0].result == [OLD]


def test_a_stopped_migration_names_what_was_kept_and_how_to_roll_back() -> None:
    plan, _, _ = _plan()
    host = ScriptedHost("compute")
    agg = _run(host, keep_legacy, plans={"compute": plan}, why="verify failed")
    message = str(agg["compute"][0].exception)
    assert message.startswith(
        f"compute: verify failed; old stack dir(s) kept: {OLD}. To roll back: "
    )
    assert f"cd {OLD} && docker compose -p ai-compute up -d" in message
    assert host.ran == []  # nothing is touched
