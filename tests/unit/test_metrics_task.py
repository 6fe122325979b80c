"""`write_gpu_metrics` through the scripted double: facts in, the textfile written on the host.

The compute host answers Ollama's /api/tags and /api/ps (and, when the inventory declares a
GPU, nvidia-smi with the real idle H100 capture); the task must write homehub_gpu.prom into
node-exporter's textfile folder, 0644, with what those facts say, and never warm a model up.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from nornir_homehub.facts.gpu import gpu_commands
from nornir_homehub.tasks.metrics import write_gpu_metrics
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

BASE = "http://127.0.0.1:11434"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "gpu"
PATH = "/srv/docker/node-exporter/textfile/homehub_gpu.prom"
M = "qwen2.5-coder:14b"


def answer(status: int, doc: Any) -> str:
    """What the request script prints for a curl answer (marker line + three base64 lines)."""
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n"
    parts = [base64.b64encode(p.encode()).decode() for p in (head, json.dumps(doc), "")]
    return "\n".join([f"homehub-http curl 0 {status}", *parts]) + "\n"


def ollama_commands(size_vram: int) -> list[Command]:
    tags = {"models": [{"name": M, "size": 8988124069}]}
    ps = {"models": [{"name": M, "size": 8988124069, "size_vram": size_vram}]}
    return [
        Command(f"{BASE}/api/tags", match="contains", out=answer(200, tags)),
        Command(f"{BASE}/api/ps", match="contains", out=answer(200, ps)),
    ]


def run(host: ScriptedHost, data: dict[str, Any]) -> Any:
    base = {"role": "compute", "data_root": "/srv/docker", "stacks": ["ollama", "node-exporter"]}
    return scripted_nornir({"compute": ({**base, **data}, host)}).run(task=write_gpu_metrics)


def test_the_lab_host_gets_a_textfile_that_says_no_gpu() -> None:
    host = ScriptedHost("compute", ollama_commands(size_vram=0))
    agg = run(host, {"gpu": None})
    assert not agg.failed and agg["compute"][0].changed
    assert host.uploads == [PATH]
    entry = host.files[PATH]
    lines = entry.content.decode().splitlines()
    assert entry.mode == 0o644
    assert "homehub_gpus 0" in lines and "homehub_gpu_expected 0" in lines
    assert f'homehub_ollama_model_gpu_ratio{{model="{M}"}} 0' in lines
    assert not any("nvidia-smi" in c for c in host.ran)  # gpu: null, not asked
    assert not any("/api/generate" in c for c in host.ran)  # no warm-up: nothing loaded
    assert host.unused() == []


def test_a_gpu_host_gets_the_h100s_numbers() -> None:
    csv = (FIXTURES / "query-gpu-idle.csv").read_text().splitlines()[1] + "\n"
    smi = gpu_commands()
    host = ScriptedHost(
        "compute",
        [
            Command(smi["query_gpu"], out=csv),
            Command(smi["query_apps"], out=""),
            Command(smi["xml"], out=(FIXTURES / "nvidia-smi-q-idle.xml").read_text()),
            *ollama_commands(size_vram=8988124069),
        ],
    )
    agg = run(host, {"gpu": {"vendor": "nvidia", "model": "H100"}})
    assert not agg.failed
    lines = host.files[PATH].content.decode().splitlines()
    assert "homehub_gpus 1" in lines and "homehub_gpu_expected 1" in lines
    assert 'homehub_gpu_temperature_celsius{gpu="0"} 35' in lines
    assert f'homehub_ollama_model_gpu_ratio{{model="{M}"}} 1' in lines


def test_a_host_without_node_exporter_is_not_written() -> None:
    host = ScriptedHost("compute")
    agg = run(host, {"gpu": None, "stacks": ["ollama"]})
    assert not agg.failed and not agg["compute"][0].changed
    assert host.uploads == [] and host.commands_run == 0
    assert "no node-exporter on this host" in agg["compute"][0].result
