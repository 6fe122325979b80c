"""`check gpu`: facts -> checks (one YAML case per situation), the task on a local host with a
STAND-IN nvidia-smi printing the real captures, and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from nornir_homehub.checks.gpu import GpuThresholds, evaluate_gpu
from nornir_homehub.checks.model import Status
from nornir_homehub.errors import ConfigError
from nornir_homehub.facts.gpu import parse_gpu_facts
from nornir_homehub.tasks.gpu import check_gpu

ROOT = Path(__file__).parents[2]
FIX = ROOT / "tests" / "fixtures" / "gpu"
CASES = sorted((Path(__file__).parent / "cases" / "gpu_checks").glob("*.yaml"))
GPU_LOCAL = ROOT / "inventory" / "gpu-local" / "config.yaml"
LAB_CONFIG = ROOT / "inventory" / "lab" / "config.yaml"


def _output(spec: dict[str, Any]) -> tuple[int, str, str]:
    stdout = spec.get("stdout", "")
    if "fixture" in spec:
        text = (FIX / spec["fixture"]).read_text()
        if "lines" in spec:
            first, last = spec["lines"]
            text = "\n".join(text.splitlines()[first - 1 : last]) + "\n"
        stdout = text
    return spec["exit"], stdout, spec.get("stderr", "")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_evaluate_gpu_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    outputs = case.get("outputs")
    facts = parse_gpu_facts({k: _output(v) for k, v in outputs.items()}) if outputs else None
    thresholds = GpuThresholds.from_data("srv", case.get("thresholds"))
    checks = evaluate_gpu("srv", case["declared"], facts, thresholds)

    assert [c.name for c in checks] == list(case["expect"]), "checks and their order"
    for check in checks:
        want = case["expect"][check.name]
        assert check.host == "srv"
        assert str(check.status) == want["status"], (check.name, check.evidence)
        for text in want.get("evidence", []):
            assert text in check.evidence, (check.name, check.evidence)
        if check.status in (Status.PASS, Status.SKIP):
            assert check.remedy == ""
        else:
            assert check.remedy, f"{check.name} is {check.status} without a remedy"
        for text in want.get("remedy", []):
            assert text in check.remedy, (check.name, check.remedy)
        json.dumps(check.to_dict())  # JSON-ready
    assert any(c.failed for c in checks) is case["failed"]


def test_cases_cover_the_issue() -> None:
    names = {p.stem for p in CASES}
    assert {
        "h100_idle",
        "h100_with_units",
        "memory_above_threshold",
        "nvidia_smi_missing",
        "no_gpu_in_inventory",
    } <= names


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([90], "gpu_thresholds must be a mapping"),
        ({"memory": 90}, "unknown key(s) memory"),
        ({"memory_pct": "ninety"}, "gpu_thresholds.memory_pct must be a number"),
        ({"temperature_c": True}, "gpu_thresholds.temperature_c must be a number"),
    ],
)
def test_bad_thresholds_name_host_and_variable(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^srv-prod-1: ") as info:
        GpuThresholds.from_data("srv-prod-1", data)
    assert message in str(info.value)


def test_thresholds_defaults_and_partial() -> None:
    assert GpuThresholds.from_data("h", None) == GpuThresholds(90.0, 85.0, None)
    assert GpuThresholds.from_data("h", {"temperature_c": 70}).temperature_c == 70.0


# -- the task on a local host, with a STAND-IN nvidia-smi ----------------------------------

STANDIN = f"""#!/bin/sh
# STAND-IN for nvidia-smi (tests only): prints the REAL captures from {FIX}.
case "$*" in
  *--query-gpu*nounits*) sed -n 1,2p {FIX}/query-gpu-idle.csv ;;
  *--query-gpu*) sed -n 3,4p {FIX}/query-gpu-idle.csv ;;
  *--query-compute-apps*) ;;
  *-q*-x*) cat {FIX}/nvidia-smi-q-load.xml ;;
  *) cat {FIX}/nvidia-smi-load.txt ;;
esac
"""


@pytest.fixture
def standin_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the STAND-IN nvidia-smi first on PATH (the local connection inherits it)."""
    bindir = tmp_path / "standin-bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text(STANDIN)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return smi


def test_check_gpu_task_on_local_host_with_standin(standin_smi: Path) -> None:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all

    nr = load_nornir(GPU_LOCAL)
    try:
        agg = nr.run(task=check_gpu)
    finally:
        close_all(nr)
    result = agg["gpu-local"][0]
    assert not result.failed, result.exception
    by_name = {c.name: c for c in result.result}
    assert by_name["gpu.driver"].status is Status.PASS
    assert "NVIDIA H100 80GB HBM3" in by_name["gpu.0"].evidence
    assert "0 / 81559 MiB used" in by_name["gpu.0.memory"].evidence
    assert by_name["gpu.0.memory"].data["total_mib"] == 81559
    assert "GPU 0 %" in by_name["gpu.0.utilization"].evidence
    assert "python3 (pid 424, 10218 MiB" in by_name["gpu.0.processes"].evidence
    assert by_name["gpu.0.processes"].data["processes"][0]["pid"] == 424


def test_cli_check_gpu_json_on_local_host(standin_smi: Path) -> None:
    from nornir_homehub.cli import cli

    res = CliRunner().invoke(cli, ["--config", str(GPU_LOCAL), "check", "gpu", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"] == {"pass": 6, "warn": 0, "fail": 0, "skip": 0}
    gpu0 = next(c for c in doc["checks"] if c["name"] == "gpu.0")
    assert gpu0["data"]["name"] == "NVIDIA H100 80GB HBM3"


def test_cli_check_gpu_plain_warns_and_fails(standin_smi: Path, tmp_path: Path) -> None:
    from nornir_homehub.cli import cli

    # A private copy of the local inventory with a low memory threshold and a second GPU.
    inv = tmp_path / "inv"
    inv.mkdir()
    for name in ("config.yaml", "hosts.yaml"):
        (inv / name).write_text((GPU_LOCAL.parent / name).read_text())
    (inv / "defaults.yaml").write_text(
        yaml.safe_dump({"data": {"gpu_thresholds": {"memory_pct": 0, "temperature_c": 30}}})
    )
    hosts = yaml.safe_load((inv / "hosts.yaml").read_text())
    hosts["gpu-local"]["data"]["gpu"]["count"] = 2
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))

    res = CliRunner().invoke(cli, ["--config", str(inv / "config.yaml"), "check", "gpu"])
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    assert (
        "FAIL gpu-local gpu.driver: nvidia-smi answers: driver 580.159.04 (CUDA 13.0), "
        "1 GPU(s), inventory says 2" in lines
    )
    assert "WARN gpu-local gpu.0.temperature: NVIDIA H100 80GB HBM3: 35 C, above 30 C" in lines
    remedy = lines[
        lines.index(next(x for x in lines if x.startswith("WARN gpu-local gpu.0.temperature"))) + 1
    ]
    assert remedy.startswith("     remedy: Check cooling")


def test_cli_check_gpu_skips_hosts_without_gpu() -> None:
    # The lab inventory says gpu: null everywhere: no host is contacted, each is skipped.
    from nornir_homehub.cli import cli

    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "check", "gpu"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        f"SKIP {h} gpu: no GPU in the inventory (gpu: null)" for h in ("compute", "dns", "trusted")
    ]


def test_cli_check_gpu_bad_filter_exits_2() -> None:
    from nornir_homehub.cli import cli

    res = CliRunner().invoke(cli, ["--config", str(LAB_CONFIG), "check", "gpu", "--filter", "nope"])
    assert res.exit_code == 2
    assert "malformed filter" in res.stderr


# -- the task through the scripted double (no GPU, no lab) ----------------------------------


def test_check_gpu_through_the_double_under_load() -> None:
    from nornir_homehub.facts.gpu import gpu_commands
    from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

    cmds = gpu_commands()
    host = ScriptedHost(
        "compute",
        [
            # A driver that rejects a query field: the GPU list comes from the real load XML.
            Command(
                cmds["query_gpu"], err='Field "clocks.sm" is not a valid field to query.\n', exit=2
            ),
            Command(cmds["query_apps"], exit=2),
            Command(cmds["xml"], out=(FIX / "nvidia-smi-q-load.xml").read_text()),
        ],
    )
    data = {
        "role": "compute",
        "gpu": {"vendor": "nvidia", "model": "H100", "count": 1},
        "gpu_thresholds": {"memory_pct": 10},
    }
    agg = scripted_nornir({"compute": (data, host)}).run(task=check_gpu)
    checks = {c.name: c for c in agg["compute"][0].result}
    assert not agg.failed
    assert checks["gpu.driver"].data["source"] == "xml"
    memory = checks["gpu.0.memory"]
    assert memory.status is Status.WARN
    assert "10227 / 81559 MiB used (12.5 %), above 10 %" in memory.evidence
    assert "python3 (pid 424, 10218 MiB, type C)" in checks["gpu.0.processes"].evidence
    assert host.commands_run == 1 and host.unused() == []  # one batched round trip


def test_check_gpu_through_the_double_other_vendor_is_not_contacted() -> None:
    from nornir_homehub.testing import ScriptedHost, scripted_nornir

    host = ScriptedHost("compute")
    data = {"role": "compute", "gpu": {"vendor": "amd"}}
    agg = scripted_nornir({"compute": (data, host)}).run(task=check_gpu)
    [check] = agg["compute"][0].result
    assert check.status is Status.SKIP and "only NVIDIA GPUs" in check.evidence
    assert host.ran == []
