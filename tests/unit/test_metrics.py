"""The GPU/Ollama metrics textfile, from data cases: real nvidia-smi captures in, text out.

``tests/unit/cases/metrics/*.yaml``: ``gpu_expected`` (the inventory declares a GPU), ``gpu``
(nvidia-smi outputs as the parser cases give them, captures from tests/fixtures/gpu; null: not
asked), ``ollama`` (``tags``/``ps`` bodies, or ``api_error``; null: no Ollama), ``expect``
(sample lines the text must hold) and ``absent`` (families it must not list). Every text is
also checked by the real ``promtool check metrics`` (Debian's prometheus package).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.facts.gpu import parse_gpu_facts
from nornir_homehub.facts.ollama import OllamaFacts, parse_ps, parse_tags
from nornir_homehub.render.metrics import render_metrics

CASES = sorted((Path(__file__).parent / "cases" / "metrics").glob("*.yaml"))
FIXTURES = Path(__file__).parents[1] / "fixtures" / "gpu"
PROMTOOL = shutil.which("promtool")


def _smi(spec: dict[str, Any]) -> tuple[int, str, str]:
    stdout = str(spec.get("stdout", ""))
    if "fixture" in spec:
        lines = (FIXTURES / spec["fixture"]).read_text().splitlines()
        first, last = spec.get("lines", (1, len(lines)))
        stdout = "\n".join(lines[first - 1 : last]) + "\n"
    return int(spec.get("exit", 0)), stdout, str(spec.get("stderr", ""))


def _ollama(spec: dict[str, Any] | None) -> OllamaFacts | None:
    if spec is None:
        return None
    if "api_error" in spec:
        return OllamaFacts(api_error=spec["api_error"])
    return OllamaFacts(
        installed=tuple(parse_tags(spec["tags"])), loaded=tuple(parse_ps(spec["ps"]))
    )


def _render(case: dict[str, Any]) -> str:
    gpu = case["gpu"]
    facts = parse_gpu_facts({k: _smi(v) for k, v in gpu.items()}) if gpu is not None else None
    return render_metrics(
        gpu_expected=case["gpu_expected"], gpu=facts, ollama=_ollama(case["ollama"]), now=1.5e9
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_metrics_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert case.get("description"), path
    text = _render(case)
    lines = text.splitlines()
    for want in case["expect"]:
        assert want in lines, f"{path.name}: missing {want!r} in\n{text}"
    for name in case["absent"]:
        assert not any(line.startswith(name) for line in lines), f"{path.name}: {name} listed"
    assert "homehub_metrics_timestamp_seconds 1500000000" in lines
    assert text.endswith("\n")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_promtool_accepts_the_metrics(path: Path) -> None:
    assert PROMTOOL is not None
    text = _render(yaml.safe_load(path.read_text()))
    proc = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == ""  # no lint finding either
