"""Several compute hosts behind LiteLLM, rendered offline from a copy of the lab inventory.

Must hold (issue 17): with a second compute host in a copy of the lab inventory, the rendered
LiteLLM config has one api_base per compute host for the model; adding the host changes only
LiteLLM's config among the files that already existed; Qdrant's host is an inventory choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from conftest import copy_lab_inventory

from nornir_homehub.cli import cli

MODEL = "qwen2.5-coder:14b"


def _render(config: Path, out: Path) -> dict[str, bytes]:
    res = CliRunner().invoke(cli, ["--config", str(config), "render", "--out", str(out)])
    assert res.exit_code == 0, res.output
    # Offline, and saying so: the models are the inventory's list, not what a host has.
    assert "LiteLLM's config lists ollama_models as declared" in res.output
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _add_compute(config: Path, name: str = "compute2", address: str = "192.0.2.134") -> None:
    hosts = config.parent / "hosts.yaml"
    doc = yaml.safe_load(hosts.read_text())
    doc[name] = {
        "hostname": address,
        "groups": ["compute"],
        "data": {"role": "compute", "fqdn": f"{name}.homehub.test", "gpu": None},
    }
    hosts.write_text(yaml.safe_dump(doc, sort_keys=False))


def _litellm(files: dict[str, bytes]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(files["trusted/litellm/config/config.yaml"])
    return doc


def test_second_compute_host_gives_one_api_base_per_host_for_the_model(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    before = _render(config, tmp_path / "before")
    _add_compute(config)
    after = _render(config, tmp_path / "after")
    deployments = [m for m in _litellm(after)["model_list"] if m["model_name"] == MODEL]
    assert sorted(d["litellm_params"]["api_base"] for d in deployments) == [
        "http://192.0.2.134:11434",
        "http://ollama.homehub.test:11434",
    ]
    assert {d["litellm_params"]["model"] for d in deployments} == {f"ollama_chat/{MODEL}"}
    assert len({d["model_info"]["id"] for d in deployments}) == 2
    assert _litellm(after)["router_settings"]["allowed_fails"] >= 1
    # Of the files that existed, only LiteLLM's config changed among the AI stack's (only
    # litellm is recreated), and Prometheus's scrape list, which gains the new host (prometheus
    # restarts with it: monitoring must see every host).
    changed = sorted(p for p in before if before[p] != after[p])
    assert changed == [
        "trusted/litellm/config/config.yaml",
        "trusted/monitoring/prometheus/prometheus.yml",
    ]
    # The new host gets the compute stacks (and its node-exporter).
    assert {p.split("/")[1] for p in after if p.startswith("compute2/")} == {
        "ollama",
        "qdrant",
        "node-exporter",
    }
    # Open WebUI keeps its single endpoint.
    env = after["trusted/openwebui/.env.openwebui"].decode()
    assert "OLLAMA_BASE_URL=http://ollama.homehub.test:11434\n" in env


def test_qdrant_host_is_an_explicit_inventory_choice(tmp_path: Path) -> None:
    config = copy_lab_inventory(tmp_path / "inv")
    _add_compute(config)
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"]["qdrant_host"] = "compute2"
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))
    files = _render(config, tmp_path / "out")
    compose = yaml.safe_load(files["trusted/openwebui/compose.yaml"])
    assert "qdrant.homehub.test:192.0.2.134" in compose["services"]["open-webui"]["extra_hosts"]
    bases = {
        m["model_info"]["id"]: m["litellm_params"]["api_base"]
        for m in _litellm(files)["model_list"]
    }
    assert bases == {
        f"{MODEL}@compute": "http://192.0.2.132:11434",
        f"{MODEL}@compute2": "http://ollama.homehub.test:11434",
    }


def test_one_compute_host_keeps_a_single_deployment_without_router_settings(
    tmp_path: Path,
) -> None:
    files = _render(copy_lab_inventory(tmp_path / "inv"), tmp_path / "out")
    cfg = _litellm(files)
    assert [m["litellm_params"]["api_base"] for m in cfg["model_list"]] == [
        "http://ollama.homehub.test:11434"
    ]
    assert "router_settings" not in cfg


def test_litellm_lists_only_the_models_the_compute_stage_found_installed(tmp_path: Path) -> None:
    from nornir_homehub.config import load_nornir, load_settings
    from nornir_homehub.inventory import site_vars
    from nornir_homehub.render import render_host
    from nornir_homehub.render.stack import secret_names, stacks_for_host

    config = copy_lab_inventory(tmp_path / "inv")
    _add_compute(config)
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"]["ollama_models"] = [MODEL, {"name": "llama3.2:3b", "keep_loaded": True}]
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))
    nr = load_nornir(config)
    trusted = nr.inventory.hosts["trusted"]
    stacks = load_settings(config).stacks_path
    names = secret_names(stacks_for_host(site_vars(nr, trusted), stacks, ["litellm"]))
    secrets = dict.fromkeys(names, "x")
    facts = {"ollama_installed": {"compute": [MODEL], "compute2": [MODEL, "llama3.2:3b"]}}
    (rs,) = render_host(nr, trusted, stacks, secrets, ["litellm"], facts=facts)
    cfg = yaml.safe_load(rs.files["/opt/stacks/litellm/config/config.yaml"].content)
    assert [m["model_info"]["id"] for m in cfg["model_list"]] == [
        f"{MODEL}@compute",
        f"{MODEL}@compute2",
        "llama3.2:3b@compute2",
    ]
    # Offline (no facts): the inventory's list on every backend, as declared.
    (offline,) = render_host(nr, trusted, stacks, secrets, ["litellm"])
    listed = yaml.safe_load(offline.files["/opt/stacks/litellm/config/config.yaml"].content)
    assert len(listed["model_list"]) == 4
