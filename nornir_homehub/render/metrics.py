"""The GPU and Ollama metrics of a compute host, in Prometheus's text format (pure).

Fed by the same facts as ``check gpu`` and ``check ollama`` (`facts.gpu.GpuFacts`,
`facts.ollama.OllamaFacts`); `tasks.metrics.write_gpu_metrics` writes the text into the
textfile directory of the host's node-exporter (``homehub_gpu.prom``), which serves it with
the host's own metrics. Where the host has no GPU (the lab) the text says so:
``homehub_gpus 0`` and ``homehub_gpu_expected 0``; where the inventory declares one and
nvidia-smi lists none, ``homehub_gpus 0`` with ``homehub_gpu_expected 1`` (alert
GpuMissing). Alert rules over these series are in ``stacks/monitoring/alerts.yml.j2``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nornir_homehub.facts.gpu import GpuFacts
    from nornir_homehub.facts.ollama import OllamaFacts

__all__ = ["METRICS_FILE", "render_metrics"]

METRICS_FILE = "homehub_gpu.prom"
_MIB = 1024 * 1024

# name -> (type, help); the order the text lists them in.
_FAMILIES: dict[str, tuple[str, str]] = {
    "homehub_metrics_timestamp_seconds": ("gauge", "When nornir_homehub wrote this file."),
    "homehub_gpu_expected": ("gauge", "1 when the inventory declares an NVIDIA GPU."),
    "homehub_gpu_smi_up": ("gauge", "1 when nvidia-smi answered."),
    "homehub_gpus": ("gauge", "GPUs nvidia-smi lists (0: no GPU)."),
    "homehub_gpu_info": ("gauge", "One series per GPU with its name, UUID and driver."),
    "homehub_gpu_temperature_celsius": ("gauge", "GPU core temperature."),
    "homehub_gpu_memory_used_bytes": ("gauge", "GPU memory in use."),
    "homehub_gpu_memory_total_bytes": ("gauge", "GPU memory in all."),
    "homehub_gpu_utilization_ratio": ("gauge", "GPU utilisation (0-1)."),
    "homehub_gpu_power_watts": ("gauge", "GPU power draw."),
    "homehub_gpu_processes": ("gauge", "Compute processes on the GPU."),
    "homehub_ollama_up": ("gauge", "1 when Ollama's /api/tags answered."),
    "homehub_ollama_models_installed": ("gauge", "Models Ollama has pulled."),
    "homehub_ollama_model_size_bytes": ("gauge", "A loaded model's size (/api/ps)."),
    "homehub_ollama_model_vram_bytes": ("gauge", "The part of a loaded model in GPU memory."),
    "homehub_ollama_model_gpu_ratio": ("gauge", "Share of a loaded model in GPU memory (0-1)."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(
    *,
    gpu_expected: bool,
    gpu: GpuFacts | None,
    ollama: OllamaFacts | None,
    now: float,
) -> str:
    """The textfile for node-exporter: every family with HELP and TYPE, then its samples.

    Args:
        gpu_expected: the inventory declares an NVIDIA GPU (``gpu:``).
        gpu: the nvidia-smi facts (None: not asked, the host declares no NVIDIA GPU).
        ollama: the Ollama API facts (None: the host does not run Ollama; no ollama series).
        now: Unix time written as ``homehub_metrics_timestamp_seconds``.

    Returns:
        The text, ending in a newline (`promtool check metrics` accepts it).
    """
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in _FAMILIES}

    def add(name: str, value: float | None, *labels: tuple[str, str]) -> None:
        if value is not None:
            samples[name].append((_labels(labels), value))

    add("homehub_metrics_timestamp_seconds", round(now, 3))
    add("homehub_gpu_expected", 1 if gpu_expected else 0)
    add("homehub_gpu_smi_up", 1 if gpu is not None and gpu.exit_code == 0 and gpu.smi_found else 0)
    add("homehub_gpus", len(gpu.gpus) if gpu is not None else 0)
    for g in gpu.gpus if gpu is not None else ():
        idx = ("gpu", str(g.index))
        info = (("name", g.name), ("uuid", g.uuid), ("driver", g.driver_version or ""))
        add("homehub_gpu_info", 1, idx, *info)
        add("homehub_gpu_temperature_celsius", g.temperature_c, idx)
        if g.memory_used_mib is not None:
            add("homehub_gpu_memory_used_bytes", g.memory_used_mib * _MIB, idx)
        if g.memory_total_mib is not None:
            add("homehub_gpu_memory_total_bytes", g.memory_total_mib * _MIB, idx)
        if g.utilization_gpu_pct is not None:
            add("homehub_gpu_utilization_ratio", g.utilization_gpu_pct / 100, idx)
        add("homehub_gpu_power_watts", g.power_draw_w, idx)
        procs = [p for p in gpu.processes if p.gpu_uuid in (None, g.uuid)] if gpu else []
        add("homehub_gpu_processes", len(procs), idx)
    if ollama is not None:
        add("homehub_ollama_up", 0 if ollama.api_error else 1)
        if not ollama.api_error:
            add("homehub_ollama_models_installed", len(ollama.installed))
        for m in ollama.loaded or ():
            model = ("model", m.name)
            add("homehub_ollama_model_size_bytes", m.size, model)
            add("homehub_ollama_model_vram_bytes", m.size_vram, model)
            add("homehub_ollama_model_gpu_ratio", round(m.gpu_pct / 100, 4), model)
    lines: list[str] = []
    for name, (kind, text) in _FAMILIES.items():
        if not samples[name]:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {_number(value)}" for labels, value in samples[name]]
    return "\n".join(lines) + "\n"
