"""nvidia-smi parsers on the real captures in tests/fixtures/gpu (copied unchanged from shared/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nornir_homehub.errors import GpuParseError
from nornir_homehub.facts.gpu import (
    QUERY_GPU_FIELDS,
    gpu_commands,
    parse_compute_apps,
    parse_gpu_facts,
    parse_query_gpu,
    parse_smi_xml,
)

FIX = Path(__file__).parents[1] / "fixtures" / "gpu"
UUID = "GPU-c9a8748c-4c11-fb57-3ed8-b5ce1d828cc6"


def lines(name: str, first: int, last: int) -> str:
    """Lines first..last (1-based, inclusive) of a fixture file."""
    return "\n".join((FIX / name).read_text().splitlines()[first - 1 : last]) + "\n"


IDLE = {
    "index": 0,
    "uuid": UUID,
    "name": "NVIDIA H100 80GB HBM3",
    "driver_version": "580.159.04",
    "memory_total_mib": 81559,
    "memory_used_mib": 0,
    "memory_free_mib": 81079,
    "utilization_gpu_pct": 0,
    "utilization_memory_pct": 0,
    "temperature_c": 35,
    "power_limit_w": 700.0,
    "pstate": "P0",
    "clock_sm_mhz": 390,
}


@pytest.mark.parametrize(
    ("variant", "text", "power_draw"),
    [
        ("nounits with header", lines("query-gpu-idle.csv", 1, 2), 79.17),
        ("units with header", lines("query-gpu-idle.csv", 3, 4), 76.18),
        ("nounits noheader", lines("query-gpu-idle.csv", 2, 2), 79.17),
        ("units noheader", lines("query-gpu-idle.csv", 4, 4), 76.18),
    ],
)
def test_parse_query_gpu_variants(variant: str, text: str, power_draw: float) -> None:
    [gpu] = parse_query_gpu(text)
    got = gpu.to_dict()
    assert {k: got[k] for k in IDLE} == IDLE, variant
    assert gpu.power_draw_w == power_draw
    assert gpu.memory_pct == 0.0


def test_parse_query_gpu_whole_capture_file() -> None:
    # The capture holds both formats, each with its own header: two readings of GPU 0.
    gpus = parse_query_gpu((FIX / "query-gpu-idle.csv").read_text())
    assert [g.power_draw_w for g in gpus] == [79.17, 76.18]
    assert {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}


def test_query_matches_the_captured_query() -> None:
    readme = (FIX / "README.md").read_text()
    assert f"--query-gpu={','.join(QUERY_GPU_FIELDS)}" in readme
    assert gpu_commands()["query_gpu"].endswith("--format=csv,noheader,nounits")


def test_not_available_values_become_none() -> None:
    text = (
        "0, GPU-x, NVIDIA GeForce RTX 5060 Ti, 580.1, 16311, 1200, 15111, [N/A], [N/A], 41, "
        "[N/A], [Not Supported], P8, 210\n"
    )
    [gpu] = parse_query_gpu(text)
    assert gpu.utilization_gpu_pct is None
    assert gpu.power_draw_w is None
    assert gpu.power_limit_w is None
    assert gpu.memory_pct == pytest.approx(7.357, abs=0.01)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0, GPU-x, H100\n", "3 fields, expected 14"),
        ("0, GPU-x, H100, 1, lots, 0, 0, 0, 0, 0, 0, 0, P0, 0\n", "'lots' is not a number"),
    ],
)
def test_parse_query_gpu_rejects_garbage(text: str, message: str) -> None:
    with pytest.raises(GpuParseError, match=message):
        parse_query_gpu(text)


def test_parse_xml_load_has_the_process() -> None:
    gpus, procs = parse_smi_xml((FIX / "nvidia-smi-q-load.xml").read_text())
    [gpu] = gpus
    assert (gpu.name, gpu.uuid, gpu.index) == ("NVIDIA H100 80GB HBM3", UUID, 0)
    assert (gpu.memory_used_mib, gpu.memory_total_mib) == (10227, 81559)
    assert (gpu.utilization_gpu_pct, gpu.utilization_memory_pct, gpu.temperature_c) == (100, 31, 57)
    assert gpu.power_limit_w == 700.0
    assert [p.to_dict() for p in procs] == [
        {
            "pid": 424,
            "name": "python3",
            "used_memory_mib": 10218,
            "gpu_uuid": UUID,
            "gpu_index": 0,
            "type": "C",
        }
    ]


def test_parse_xml_idle_has_no_process() -> None:
    gpus, procs = parse_smi_xml((FIX / "nvidia-smi-q-idle.xml").read_text())
    assert [g.memory_used_mib for g in gpus] == [0]
    assert procs == []


@pytest.mark.parametrize("text", ["not xml", "<other/>"])
def test_parse_xml_rejects_other_text(text: str) -> None:
    with pytest.raises(GpuParseError):
        parse_smi_xml(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("No running processes found\n", []),
        # What a real idle H100 printed for --format=csv (header only, no process).
        ("gpu_uuid, pid, process_name, used_gpu_memory [MiB]\n", []),
        (f"{UUID}, 424, python3, 10218\n", [(424, "python3", 10218)]),
        (
            "gpu_uuid, pid, process_name, used_gpu_memory [MiB]\n"
            f"{UUID}, 424, /usr/bin/python3, 10218 MiB\n"
            f"{UUID}, 77, /bin/ollama, [N/A]\n",
            [(424, "/usr/bin/python3", 10218), (77, "/bin/ollama", None)],
        ),
    ],
)
def test_parse_compute_apps(text: str, expected: list[tuple[int, str, int | None]]) -> None:
    assert [(p.pid, p.name, p.used_memory_mib) for p in parse_compute_apps(text)] == expected


def test_facts_merge_compute_apps_with_xml() -> None:
    facts = parse_gpu_facts(
        {
            "query_gpu": (0, lines("query-gpu-idle.csv", 2, 2), ""),
            "query_apps": (
                0,
                f"{UUID}, 424, /usr/bin/python3, 10218\n{UUID}, 9, ollama, 500\n",
                "",
            ),
            "xml": (0, (FIX / "nvidia-smi-q-load.xml").read_text(), ""),
        }
    )
    assert facts.source == "query-gpu"
    assert facts.cuda_version == "13.0"
    assert [(p.pid, p.name, p.type, p.gpu_index) for p in facts.processes] == [
        (9, "ollama", "C", 0),
        (424, "/usr/bin/python3", "C", 0),
    ]


@pytest.mark.parametrize(
    ("outputs", "smi_found", "error"),
    [
        ({"query_gpu": (127, "", "sh: 1: nvidia-smi: not found\n")}, False, "not found"),
        ({"query_gpu": (6, "No devices were found\n", "")}, True, "No devices were found"),
        ({"query_gpu": (0, "", "")}, True, "lists no GPU"),
    ],
)
def test_facts_without_gpu(
    outputs: dict[str, tuple[int, str, str]], smi_found: bool, error: str
) -> None:
    facts = parse_gpu_facts(outputs)
    assert not facts.answered
    assert facts.smi_found is smi_found
    assert error in facts.error
