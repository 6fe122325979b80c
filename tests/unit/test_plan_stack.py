"""plan_stack: data-driven cases (rendered stack + remote facts -> plan)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.errors import PlanError
from nornir_homehub.facts.stacks import (
    Container,
    Health,
    HostStackFacts,
    RemoteDir,
    RemoteFile,
    StackState,
)
from nornir_homehub.plan.stacks import ComposeAction, plan_stack
from nornir_homehub.render import RenderedDir, RenderedFile, RenderedStack

CASES = sorted((Path(__file__).parent / "cases" / "plan_stack").glob("*.yaml"))
PROJECT = "/opt/stacks/litellm"


def _stack() -> RenderedStack:
    files = {
        f"{PROJECT}/compose.yaml": RenderedFile(
            f"{PROJECT}/compose.yaml", b"services: {}\n", 0o644, False
        ),
        f"{PROJECT}/.env.litellm": RenderedFile(f"{PROJECT}/.env.litellm", b"KEY=v\n", 0o600, True),
        f"{PROJECT}/config/config.yaml": RenderedFile(
            f"{PROJECT}/config/config.yaml", b"model_list: []\n", 0o644, False, ("litellm",)
        ),
    }
    return RenderedStack(
        name="litellm",
        host="trusted",
        role="trusted",
        project="litellm",
        project_dir=PROJECT,
        compose_file=f"{PROJECT}/compose.yaml",
        files=files,
        data_dirs=(RenderedDir("/srv/docker/litellm/config", "root", "root", 0o750),),
        services=("litellm",),
        containers={"litellm": "litellm"},
        post_deploy=(),
        health=(),
        secrets=("vault_litellm_master_key",),
    )


def _facts(case: dict[str, Any], stack: RenderedStack) -> HostStackFacts:
    files: dict[str, RemoteFile] = {}
    spec = case["remote_files"]
    for path, f in stack.files.items():
        rel = path[len(PROJECT) + 1 :]
        want = "same" if spec == "same" else spec.get(rel)
        if want is None:
            continue
        if isinstance(want, dict):
            files[path] = RemoteFile(path, True, int(want["mode"], 8), "root", "root", f.sha256)
        elif want == "same":
            files[path] = RemoteFile(path, True, f.mode, "root", "root", f.sha256)
        else:
            files[path] = RemoteFile(
                path, True, f.mode, "root", "root", hashlib.sha256(b"old").hexdigest()
            )
    dirs: dict[str, RemoteDir] = {}
    if case["remote_dirs"] == "same":
        dirs = {d.path: RemoteDir(d.path, True, d.mode, d.owner, d.group) for d in stack.data_dirs}
    else:
        for path, d in case["remote_dirs"].items():
            dirs[path] = RemoteDir(path, True, int(d["mode"], 8), d["owner"], d["group"])
    containers = tuple(
        Container(
            f"id{i}",
            c["service"],
            c.get("project", "litellm"),
            c["service"],
            c["state"],
            Health.NONE,
            "",
            "img",
        )
        for i, c in enumerate(case["containers"])
    )
    return HostStackFacts(
        files=files, dirs=dirs, containers=containers, states=_states(case.get("state"), stack)
    )


def _states(spec: Any, stack: RenderedStack) -> dict[str, StackState]:
    """``state``: absent (no record), ``same``, ``{file: old}`` (per-file record with those
    files different), ``legacy-same`` / ``legacy-other`` (an older version's record: a config
    hash only, equal or not)."""
    applied = {p: f.sha256 for p, f in stack.files.items()}
    if spec is None:
        return {}
    if spec == "legacy-same":
        return {PROJECT: StackState(stack.config_hash)}
    if spec == "legacy-other":
        return {PROJECT: StackState("0" * 64)}
    if isinstance(spec, dict):
        for rel, what in spec.items():
            assert what in ("old", "absent"), what
            path = f"{PROJECT}/{rel}"
            if what == "old":
                applied[path] = hashlib.sha256(b"old").hexdigest()
            else:
                del applied[path]
    else:
        assert spec == "same", spec
    return {PROJECT: StackState(stack.config_hash if spec == "same" else "1" * 64, applied)}


@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_plan_stack(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    stack = _stack()
    exp = case["expect"]
    if "error" in exp:
        with pytest.raises(PlanError) as exc:
            plan_stack(stack, _facts(case, stack))
        assert exp["error"] in str(exc.value) and "trusted" in str(exc.value)
        return
    plan = plan_stack(stack, _facts(case, stack), force=case.get("force", False))
    assert {w.path[len(PROJECT) + 1 :]: w.reason for w in plan.do_write} == exp["writes"]
    assert [p for p, _ in plan.do_dirs] == exp["dirs"]
    assert plan.action is ComposeAction(exp["action"])
    for fragment in exp["reasons_contain"]:
        assert any(fragment in r for r in plan.reasons), plan.reasons
    if not exp["reasons_contain"]:
        assert plan.reasons == ()
    assert list(plan.recreate) == exp["recreate"]
    assert bool(plan.noop_reason) == exp.get("noop", False)
    assert plan.changed == (not exp.get("noop", False))


def test_plan_cases_exist() -> None:
    assert len(CASES) >= 16
