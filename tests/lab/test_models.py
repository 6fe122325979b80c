"""Models as desired state, the GPU gate and a second compute host, on the real lab (issue 17).

Must hold, as a user sees it:
- ``models --json`` lists qwen2.5-coder:14b per compute host (one host, then two);
- a host whose (lab-copy) inventory declares a GPU, where the Ollama STAND-IN reports the model
  on the CPU (its default simulated placement) and a STAND-IN nvidia-smi prints the real H100
  captures: the rollout stops at the compute stage, exits 1 and shows the remedy; the next run
  (placement simulated on the GPU) converges, exit 0, then a no-op;
- adding a compute host to the lab and deploying recreates litellm only;
- ``verify`` checks each backend through LiteLLM (its ``/health``, answered by the LiteLLM
  STAND-IN in the real proxy's shape): one passing ``models.litellm.<model>@<host>`` per compute
  host; with node01's ollama container stopped, verify exits 1 naming node01's backend with the
  remedy; a deploy starts it again, verify passes and the next deploy is a no-op.
The second compute host is the lab's extra node01 (``Lab(..., extra_hosts=1)``: a full host with
its own sshd and Docker Engine) given role compute in a copy of the lab inventory; the lab code
is not changed for it (see README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gpu_standin
import pytest
import yaml
from conftest import copy_lab_inventory, run_cli

from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers

MODEL = "qwen2.5-coder:14b"
NODE = "node01"
NODE_ADDRESS = "192.0.2.141"
LITELLM_CONFIG = "/opt/stacks/litellm/config/config.yaml"


def containers(lab: Any, host: str) -> dict[str, str]:
    """Container name -> id of the compose containers running on a lab host."""
    from nornir_homehub.connection import CommandResult

    cmd = containers_command(label=PROJECT_LABEL)
    res = lab.host_exec(host, cmd)
    docker = parse_containers(CommandResult(cmd, res.returncode, res.stdout, res.stderr))
    assert docker.error is None, docker.error
    return {c.name: c.id for c in docker.containers if c.state == "running"}


def deploy(config: Path | None = None) -> Any:
    """``deploy --no-verify`` on the lab (the repository's inventory, or a copy)."""
    return run_cli("deploy", "--no-verify", **({"config": config} if config else {}))


def models_json(config: Path | None = None) -> dict[str, Any]:
    res = run_cli("models", "--json", **({"config": config} if config else {}))
    assert res.returncode == 0, res.stdout + res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


@pytest.fixture(scope="module")
def converged(lab: Any) -> Iterator[Any]:
    """The lab deployed from the repository's inventory; left that way afterwards."""
    res = deploy()
    assert res.returncode == 0, res.stdout + res.stderr
    yield lab
    assert deploy().returncode == 0


def test_models_json_lists_the_model_per_compute_host_and_prunes_after_a_dry_run(
    converged: Any,
) -> None:
    lab = converged
    doc = models_json()
    rows = [(r["host"], r["model"], r["desired"], r["installed"]) for r in doc["models"]]
    assert rows[0] == ("compute", MODEL, True, True)
    assert [r for r in rows if r[2]] == [rows[0]]  # the one desired model, first
    assert len(doc["models"][0]["digest"]) == 64
    # A model nobody asked for: the dry run lists it and keeps it, --prune removes it.
    pulled = lab.host_exec("compute", "docker exec ollama ollama pull llama3:8b")
    assert pulled.returncode == 0, pulled.stderr
    res = run_cli("models", "--prune", "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    dry = json.loads(res.stdout)
    assert dry["dry_run"] is True
    assert "llama3:8b" in dry["pruned"]["compute"]
    assert MODEL not in dry["pruned"]["compute"]
    assert "llama3:8b" in lab.host_exec("compute", "docker exec ollama ollama list").stdout
    res = run_cli("models", "--prune")
    assert res.returncode == 0, res.stderr
    assert "compute: removed llama3:8b" in res.stdout
    listing = lab.host_exec("compute", "docker exec ollama ollama list").stdout
    assert "llama3:8b" not in listing
    assert MODEL in listing
    # Nothing left to prune: a no-op.
    again = json.loads(run_cli("models", "--prune", "--json").stdout)
    assert again["pruned"] == {"compute": []}


def test_cpu_placement_on_a_declared_gpu_stops_the_rollout_at_compute(
    converged: Any, tmp_path: Path
) -> None:
    lab = converged
    config = copy_lab_inventory(tmp_path / "inv")
    hosts_file = config.parent / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    # The lab cannot reserve a GPU in compose: the reservation is off, the GPU is declared.
    gpu = {"vendor": "nvidia", "model": "H100", "compose_reservation": False}
    hosts["compute"]["data"]["gpu"] = gpu
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    trusted_before = containers(lab, "trusted")
    gpu_standin.install(lab, "compute")
    try:
        res = deploy(config)
        out = res.stdout + res.stderr
        assert res.returncode == 1, out
        assert "stopped at stage compute models: compute" in out
        assert "FAIL compute [gpu] gpu.gate: qwen2.5-coder:14b loaded on the CPU" in out
        assert "remedy: Likely cause: the compose device reservation." in out
        # Stopped before the trusted stage: LiteLLM was not touched.
        assert "trusted stacks" not in out
        assert containers(lab, "trusted") == trusted_before
        # The fix (here: the stand-in simulates the model on the GPU) converges, then a no-op.
        hosts["compute"]["data"]["ollama_env"] = {"STANDIN_PLACEMENT": "gpu"}
        hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
        fixed = deploy(config)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert "compute models ok" in fixed.stderr
        row = models_json(config)["models"][0]
        assert (row["loaded"], row["placement"], row["size_vram"]) == (True, "gpu", row["size"])
        noop = deploy(config)
        assert noop.returncode == 0, noop.stdout + noop.stderr
        assert "changed 0" in noop.stdout
    finally:
        gpu_standin.remove(lab, "compute")
        # Back to the repository's inventory (ollama without the simulated placement).
        assert deploy().returncode == 0


@pytest.fixture
def second_compute(converged: Any) -> Iterator[Any]:
    """The lab with node01 up (sshd + Docker Engine + the compute stand-in images)."""
    from nornir_homehub.connection import HomehubSSH
    from nornir_homehub.lab import Lab
    from nornir_homehub.lab import images as lab_images

    lab = converged
    grown = Lab(lab.dir, lab.hosts_file, extra_hosts=1)
    grown.up()
    node = next(h for h in grown.hosts if h.name == NODE)
    assert node.address == NODE_ADDRESS
    conn = grown.connect(node, HomehubSSH())
    try:
        lab_images.ensure_images(conn, "compute")
    finally:
        conn.close()
    try:
        yield grown
    finally:
        Lab(lab.dir, lab.hosts_file, extra_hosts=0).up()


def test_adding_a_compute_host_recreates_litellm_only(second_compute: Any, tmp_path: Path) -> None:
    lab = second_compute
    config = copy_lab_inventory(tmp_path / "inv")
    hosts_file = config.parent / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    hosts[NODE] = {
        "hostname": NODE_ADDRESS,
        "groups": ["compute"],
        "data": {"role": "compute", "fqdn": f"{NODE}.homehub.test", "gpu": None},
    }
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    before = {h: containers(lab, h) for h in ("trusted", "compute")}
    res = deploy(config)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    after = {h: containers(lab, h) for h in ("trusted", "compute")}
    assert after["compute"] == before["compute"]
    assert after["trusted"]["open-webui"] == before["trusted"]["open-webui"]
    assert after["trusted"]["litellm"] != before["trusted"]["litellm"]
    assert "recreate litellm" in res.stdout
    # The new host serves both compute stacks, and LiteLLM routes the model to both hosts.
    assert {"ollama", "qdrant"} <= set(containers(lab, NODE))
    config_text = lab.host_exec("trusted", f"cat {LITELLM_CONFIG}").stdout
    deployments = [m for m in yaml.safe_load(config_text)["model_list"] if m["model_name"] == MODEL]
    assert sorted(m["litellm_params"]["api_base"] for m in deployments) == [
        f"http://{NODE_ADDRESS}:11434",
        "http://ollama.homehub.test:11434",
    ]
    # models --json: the model on each compute host, pulled on the new one by the deploy.
    rows = {(r["host"], r["model"]): r for r in models_json(config)["models"]}
    assert set(rows) == {("compute", MODEL), (NODE, MODEL)}
    assert all(r["installed"] for r in rows.values())
    # The next run changes nothing.
    noop = deploy(config)
    assert noop.returncode == 0, noop.stdout + noop.stderr
    assert "changed 0" in noop.stdout
    verify_each_backend_through_litellm(lab, config)


def litellm_checks(config: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    """``verify --json`` on the lab copy: exit code, the ``models.litellm.*`` checks, output."""
    res = run_cli("verify", "--json", config=config)
    assert res.stdout.strip(), res.stderr
    report = json.loads(res.stdout)
    checks = {c["name"]: c for c in report["checks"] if c["name"].startswith("models.litellm.")}
    return res.returncode, checks, res.stdout + res.stderr


def verify_each_backend_through_litellm(lab: Any, config: Path) -> None:
    """Verify asks LiteLLM's /health for each backend; a stopped backend fails, then converges."""
    names = {f"models.litellm.{MODEL}@compute", f"models.litellm.{MODEL}@{NODE}"}
    code, checks, out = litellm_checks(config)
    assert code == 0, out
    assert set(checks) == names, out
    assert all(c["status"] == "pass" and c["host"] == "trusted" for c in checks.values()), checks
    # The fault, for real: node01's Ollama container stopped on node01's own Docker Engine.
    stop = lab.host_exec(NODE, "docker stop ollama")
    assert stop.returncode == 0, stop.stderr
    code, checks, out = litellm_checks(config)
    assert code == 1, out
    down = checks[f"models.litellm.{MODEL}@{NODE}"]
    assert down["status"] == "fail", down
    api_base = f"http://{NODE_ADDRESS}:11434"
    assert f"({api_base}): unhealthy: litellm.APIConnectionError" in down["evidence"], down
    assert f"LiteLLM cannot use the Ollama backend on {NODE} ({api_base})" in down["remedy"]
    assert f"Check that Ollama runs on {NODE}" in down["remedy"]
    assert "reachable from the trusted host's containers" in down["remedy"]
    assert checks[f"models.litellm.{MODEL}@compute"]["status"] == "pass", checks
    # The deploy starts it again; verify passes; the next deploy is a no-op.
    fixed = deploy(config)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    code, checks, out = litellm_checks(config)
    assert code == 0, out
    assert all(c["status"] == "pass" for c in checks.values()), checks
    noop = deploy(config)
    assert noop.returncode == 0, noop.stdout + noop.stderr
    assert "changed 0" in noop.stdout
