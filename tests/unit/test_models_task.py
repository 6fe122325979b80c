"""`ensure_models` (the deploy's compute-models stage) through the scripted double, from cases.

``tests/unit/cases/models_task/*.yaml``: the host's ``data`` (``ollama_models`` defaults to
the lab's one model), what Ollama answers (``tags``, ``ps``), which REAL nvidia-smi capture the
host prints (``smi: idle``) or that nvidia-smi is missing, the ollama container's device
requests (``docker inspect``), the warm-up bodies expected (``warmups``), and per check its
status, evidence/remedy fragments and, for ``gpu.gate``, the cause. Every scripted command must
be used or left unused as the case implies: an unscripted command fails the task.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.facts.gpu import CMD_QUERY_APPS, CMD_QUERY_GPU, CMD_XML
from nornir_homehub.tasks.models import ModelsOutcome, ensure_models
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

CASES = sorted((Path(__file__).parent / "cases" / "models_task").glob("*.yaml"))
FIX = Path(__file__).parents[1] / "fixtures" / "gpu"
BASE = "http://127.0.0.1:11434"


def _answer(status: int, doc: Any) -> str:
    """What the request script prints for a curl answer with a JSON body."""
    parts = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n", json.dumps(doc), "")
    encoded = [base64.b64encode(p.encode()).decode() for p in parts]
    return "\n".join([f"homehub-http curl 0 {status}", *encoded]) + "\n"


def _smi(kind: str) -> list[Command]:
    if kind == "missing":
        err = "sh: 1: nvidia-smi: not found"
        return [Command(c, exit=127, err=err) for c in (CMD_QUERY_GPU, CMD_QUERY_APPS, CMD_XML)]
    csv = (FIX / "query-gpu-idle.csv").read_text().splitlines()[1] + "\n"
    return [
        Command(CMD_QUERY_GPU, out=csv),
        Command(CMD_QUERY_APPS, out=""),
        Command(CMD_XML, out=(FIX / "nvidia-smi-q-idle.xml").read_text()),
    ]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_ensure_models_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    data = {"role": "compute", "stacks": ["ollama"], "ollama_models": ["qwen2.5-coder:14b"]}
    data.update(case["data"])
    bodies: list[Any] = []

    def warm_up(_command: str, stdin: bytes | None) -> None:
        assert stdin is not None
        bodies.append(json.loads(base64.b64decode(stdin.split(b"\n")[1])))

    script = [
        Command(f"{BASE}/api/tags", match="contains", out=_answer(200, {"models": case["tags"]})),
        Command(f"{BASE}/api/generate", match="contains", out=_answer(200, {}), check=warm_up),
        Command(
            f"{BASE}/api/ps", match="contains", out=_answer(200, {"models": case.get("ps", [])})
        ),
    ]
    if "smi" in case:
        script += _smi(case["smi"])
    if "device_requests" in case:
        script.append(
            Command("docker inspect --format", match="prefix", out=case["device_requests"])
        )
    host = ScriptedHost("compute", script)
    agg = scripted_nornir({"compute": (data, host)}).run(task=ensure_models)
    result = agg["compute"][0]
    assert result.exception is None, result.exception
    outcome = result.result
    assert isinstance(outcome, ModelsOutcome)
    assert outcome.installed == tuple(m["name"] for m in case["tags"])
    assert bool(result.failed) is case["failed"]
    checks = {c.name: c for c in outcome.checks}
    assert list(checks) == list(case["expect"])
    for name, want in case["expect"].items():
        check = checks[name]
        assert str(check.status) == want["status"], (name, check.evidence)
        for text in want.get("evidence", []):
            assert text in check.evidence, (name, check.evidence)
        for text in want.get("remedy", []):
            assert text in check.remedy, (name, check.remedy)
        if "cause" in want:
            assert check.data["cause"] == want["cause"]
        if check.failed:
            assert check.remedy, f"{name} failed without a remedy"
    if "warmups" in case:
        assert bodies == case["warmups"]
    if data.get("gpu") is None:
        # A CPU host: no nvidia-smi, no docker inspect.
        assert not any("nvidia-smi" in c or "docker inspect" in c for c in host.ran)
    json.dumps(outcome.to_dict())


def test_a_host_without_the_ollama_stack_is_not_contacted() -> None:
    host = ScriptedHost("trusted", [])
    data = {"role": "trusted", "stacks": ["litellm"], "ollama_models": ["qwen2.5-coder:14b"]}
    agg = scripted_nornir({"trusted": (data, host)}).run(task=ensure_models)
    assert not agg.failed
    assert agg["trusted"][0].result == ModelsOutcome("trusted", ())
    assert host.ran == []


def test_without_a_warm_up_tags_and_ps_are_one_round_trip() -> None:
    tags = {"models": [{"name": "qwen2.5-coder:14b", "digest": "d" * 64}]}
    script = [
        Command(f"{BASE}/api/tags", match="contains", out=_answer(200, tags)),
        Command(f"{BASE}/api/ps", match="contains", out=_answer(200, {"models": []})),
    ]
    host = ScriptedHost("compute", script)
    data = {"role": "compute", "stacks": ["ollama"], "ollama_models": ["qwen2.5-coder:14b"]}
    agg = scripted_nornir({"compute": (data, host)}).run(task=ensure_models)
    assert agg["compute"][0].exception is None and not agg.failed
    assert host.unused() == [] and host.commands_run == 1
    # A model kept loaded is warmed up between the two: three round trips.
    host = ScriptedHost(
        "compute",
        [*script, Command(f"{BASE}/api/generate", match="contains", out=_answer(200, {}))],
    )
    data["ollama_models"] = [{"name": "qwen2.5-coder:14b", "keep_loaded": True}]
    agg = scripted_nornir({"compute": (data, host)}).run(task=ensure_models)
    assert agg["compute"][0].exception is None
    assert host.unused() == [] and host.commands_run == 3


def _ahead_script(digest: str) -> list[Command]:
    tags = {"models": [{"name": "qwen2.5-coder:14b", "digest": digest, "size": 9}]}
    return [
        Command(f"{BASE}/api/tags", match="contains", out=_answer(200, tags)),
        Command(f"{BASE}/api/ps", match="contains", out=_answer(200, {"models": []})),
    ]


def test_the_models_check_takes_the_answers_read_ahead_while_fresh() -> None:
    from nornir_homehub.tasks import models as models_task

    data = {"role": "compute", "stacks": ["ollama"], "ollama_models": ["qwen2.5-coder:14b"]}
    nr = scripted_nornir({"compute": (data, ScriptedHost("compute", []))})
    ahead = models_task.ModelsAhead(nr.inventory.hosts.values())
    reads = ahead.commands("compute")
    assert sorted(reads) == [f"models {BASE}/api/ps", f"models {BASE}/api/tags"]
    # What the compute stage's batch returned (with its own facts beside these reads).
    reader = ScriptedHost("compute", [*_ahead_script("a" * 64), Command("true")])
    results = reader.run_parallel({"files": "true", **reads})
    ahead.keep("compute", results, time.monotonic())
    # The check itself asks nothing: its host answers no request at all.
    agg = nr.run(task=ensure_models, ahead=ahead)
    result = agg["compute"][0]
    assert result.exception is None, result.exception
    assert result.result.installed == ("qwen2.5-coder:14b",) and not result.failed
    # Taken once: a second check asks the host (here unscripted, so the task fails).
    again = nr.run(task=ensure_models, ahead=ahead)["compute"][0]
    assert again.exception is not None and "unscripted" in str(again.exception).lower()
    # Older than MODELS_AHEAD_FRESH: not taken.
    ahead.keep("compute", results, time.monotonic() - models_task.MODELS_AHEAD_FRESH - 0.01)
    assert ahead.take("compute") is None


def test_a_host_that_warms_models_up_is_not_read_ahead() -> None:
    from nornir_homehub.tasks.models import ModelsAhead

    base = {"role": "compute", "stacks": ["ollama"]}
    hosts = {
        "gpu": ({**base, "gpu": {"count": 1}, "ollama_models": ["m:1"]}, ScriptedHost("gpu", [])),
        "kept": (
            {**base, "ollama_models": [{"name": "m:1", "keep_loaded": True}]},
            ScriptedHost("kept", []),
        ),
        "qdrant": ({"role": "compute", "stacks": ["qdrant"]}, ScriptedHost("qdrant", [])),
        "plain": ({**base, "ollama_models": ["m:1"]}, ScriptedHost("plain", [])),
    }
    ahead = ModelsAhead(scripted_nornir(hosts).inventory.hosts.values())
    assert [h for h in hosts if ahead.commands(h)] == ["plain"]
