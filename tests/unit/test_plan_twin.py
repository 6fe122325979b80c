"""plan_twins: data-driven cases (the real lab-rendered trusted stacks + facts -> twin plan).

The stacks are rendered from the repository's templates, so a template that loses its
``zero_downtime`` mode or its Traefik labels changes these plans.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.config import load_nornir
from nornir_homehub.facts.stacks import Container, Health, HostStackFacts, RemoteFile, StackState
from nornir_homehub.plan.stacks import ComposeAction, plan_stack
from nornir_homehub.plan.twin import UpdatePath, plan_twins, render_twin_override, routed_services
from nornir_homehub.render import RenderedStack, render_host

CASES = sorted((Path(__file__).parent / "cases" / "plan_twin").glob("*.yaml"))
SECRETS = {
    "vault_webui_secret_key": "webui-Secret-1",
    "vault_qdrant_api_key": "qdrant-Secret-2",
    "vault_litellm_master_key": "sk-Secret-3",
}
OLD = hashlib.sha256(b"old").hexdigest()


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderedStack]:
    nr = load_nornir(LAB_CONFIG)
    return {
        s.name: s for s in render_host(nr, nr.inventory.hosts["trusted"], ROOT / "stacks", SECRETS)
    }


def _case_stack(case: dict[str, Any], rendered: dict[str, RenderedStack]) -> RenderedStack:
    stack = rendered[case["stack"]]
    if "zero_downtime" in case:
        stack = dataclasses.replace(stack, zero_downtime=case["zero_downtime"])
    if case.get("unrouted"):
        f = stack.files[stack.compose_file]
        content = f.content.replace(b"traefik.enable=true", b"traefik.enable=false")
        files = {**stack.files, f.path: dataclasses.replace(f, content=content)}
        stack = dataclasses.replace(stack, files=files)
    return stack


def _facts(case: dict[str, Any], stack: RenderedStack) -> HostStackFacts:
    changed = {f"{stack.project_dir}/{p}" for p in case["changed"]}
    files = {
        p: RemoteFile(p, True, f.mode, "root", "root", OLD if p in changed else f.sha256)
        for p, f in stack.files.items()
    }
    applied = {p: OLD if p in changed else f.sha256 for p, f in stack.files.items()}
    service = stack.services[0]
    image = yaml.safe_load(stack.files[stack.compose_file].content)["services"][service]["image"]
    containers = []
    if case["container"] is not None:
        c = case["container"]
        name = stack.containers[service]
        health = Health(c["health"])
        containers.append(
            Container(
                "id1", name, stack.project, service, c["state"], health, "", c.get("image", image)
            )
        )
    if case.get("leftover"):
        twin = case["leftover"]
        containers.append(
            Container(
                "id2", twin, f"{stack.project}-twin", service, "running", Health.HEALTHY, "", image
            )
        )
    return HostStackFacts(
        files=files,
        dirs={},
        containers=tuple(containers),
        states={stack.project_dir: StackState(stack.config_hash, applied)},
    )


@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_plan_twins(path: Path, rendered: dict[str, RenderedStack]) -> None:
    case = yaml.safe_load(path.read_text())
    exp = case["expect"]
    stack = _case_stack(case, rendered)
    facts = _facts(case, stack)
    plan = plan_stack(stack, facts)
    assert plan.action is ComposeAction(exp.get("action", "up")), plan.reasons
    twins = plan_twins(stack, plan, facts)
    if exp.get("no_plan"):
        assert twins.updates == () and twins.leftovers == ()
        return
    assert twins.project == f"{stack.project}-twin"
    got = [
        {"service": u.service, "path": str(u.path), "twin": u.twin, "reason": u.reason}
        for u in twins.updates
    ]
    assert len(got) == len(exp["updates"]), got
    for g, e in zip(got, exp["updates"], strict=True):
        assert (g["service"], g["path"], g["twin"]) == (e["service"], e["path"], e["twin"]), g
        assert e["reason"] in g["reason"], g
    assert list(twins.leftovers) == exp.get("leftovers", [])
    for u in twins.twins:
        assert u.path is UpdatePath.TWIN and u.routed is not None and u.routed.network == "frontend"


def test_override_renames_only_the_twin_services(rendered: dict[str, RenderedStack]) -> None:
    case = yaml.safe_load((CASES[0]).read_text())
    stack = _case_stack(case, rendered)
    facts = _facts(case, stack)
    twins = plan_twins(stack, plan_stack(stack, facts), facts)
    text = stack.files[stack.compose_file].content.decode()
    override = yaml.safe_load(render_twin_override(twins, text))
    assert list(override["services"]) == ["litellm"]
    twin = override["services"]["litellm"]
    assert twin["container_name"] == "litellm-twin"
    check = yaml.safe_load(text)["services"]["litellm"]["healthcheck"]["test"][1]
    assert twin["healthcheck"] == {
        "test": ["CMD-SHELL", f"test ! -e /tmp/.homehub-drain && ({check})"],
        "interval": "1s",
        "retries": 1,
    }


def test_routed_services_read_the_traefik_service_and_port(
    rendered: dict[str, RenderedStack],
) -> None:
    text = rendered["openwebui"].files[rendered["openwebui"].compose_file].content.decode()
    routed = routed_services(text)
    assert {k: (v.traefik_service, v.port, v.network) for k, v in routed.items()} == {
        "open-webui": ("openwebui", 8080, "frontend")
    }
    assert routed_services("services: [") == {}
