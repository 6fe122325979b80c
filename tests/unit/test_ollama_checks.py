"""`check ollama`: facts -> checks (pure cases), then the task and the CLI through a local host
against a STAND-IN Ollama API (a small HTTP server in this test, not Ollama)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from click.testing import CliRunner
from loopback_http import QuietHandler, serving

from nornir_homehub.checks.model import Status
from nornir_homehub.checks.ollama import evaluate_ollama
from nornir_homehub.facts.ollama import InstalledModel, LoadedModel, OllamaFacts

ROOT = Path(__file__).parents[2]
LAB_CONFIG = ROOT / "inventory" / "lab" / "config.yaml"
M = "qwen2.5-coder:14b"
SIZE = 9_000_000_000
QWEN = InstalledModel(name=M, size=8988124069, parameter_size="14.8B", quantization_level="Q4_K_M")


def loaded(vram: int) -> tuple[LoadedModel, ...]:
    return (LoadedModel(name=M, size=SIZE, size_vram=vram),)


def loaded_check(status: str, evidence: str, remedy: str) -> dict[str, tuple[str, str, str]]:
    """The expected checks of an answering API with the model installed: its ``loaded`` one."""
    return {
        "ollama.api": ("pass", "", ""),
        f"ollama.model.{M}.installed": ("pass", "", ""),
        f"ollama.model.{M}.loaded": (status, evidence, remedy),
    }


# (id, has_gpu, facts, {check name: (status, evidence substring, remedy substring)})
CASES: list[tuple[str, bool, OllamaFacts, dict[str, tuple[str, str, str]]]] = [
    (
        "api_down",
        True,
        OllamaFacts(api_error="GET http://127.0.0.1:11434/api/tags: no HTTP answer: refused"),
        {"ollama.api": ("fail", "no HTTP answer", "docker logs ollama")},
    ),
    (
        "on_gpu",
        True,
        OllamaFacts(installed=(QWEN,), loaded=loaded(SIZE), warmup={M: ""}),
        {
            "ollama.api": ("pass", f"installed models: {M}", ""),
            f"ollama.model.{M}.installed": ("pass", "14.8B, Q4_K_M", ""),
            f"ollama.model.{M}.loaded": ("pass", "loaded fully on the GPU", ""),
        },
    ),
    (
        "not_installed",
        True,
        OllamaFacts(installed=(InstalledModel("llama3:latest", 1),), loaded=(), warmup={}),
        {
            "ollama.api": ("pass", "llama3:latest", ""),
            f"ollama.model.{M}.installed": (
                "fail",
                "is not installed",
                f"docker exec ollama ollama pull {M}",
            ),
        },
    ),
    (
        "split",
        True,
        OllamaFacts(installed=(QWEN,), loaded=loaded(SIZE * 6 // 10), warmup={M: ""}),
        loaded_check("warn", "only 60 % on the GPU", "docker exec ollama ollama ps"),
    ),
    (
        "cpu_on_gpu_host",
        True,
        OllamaFacts(installed=(QWEN,), loaded=loaded(0), warmup={M: ""}),
        loaded_check("fail", "on the CPU, not the GPU", "watch -n1 nvidia-smi"),
    ),
    (
        "cpu_on_host_without_gpu",
        False,
        OllamaFacts(installed=(QWEN,), loaded=loaded(0), warmup={M: ""}),
        loaded_check("pass", "as expected: no GPU in the inventory", ""),
    ),
    (
        "warmup_failed",
        True,
        OllamaFacts(
            installed=(QWEN,),
            loaded=(),
            warmup={M: "HTTP 500: model requires more system memory (12.1 GiB) than is available"},
        ),
        loaded_check(
            "fail",
            "warm-up failed: HTTP 500: model requires more system memory",
            "check GPU memory with `nvidia-smi`",
        ),
    ),
    (
        "no_warmup_not_loaded",
        True,
        OllamaFacts(installed=(QWEN,), loaded=(), warmup={}),
        loaded_check("warn", "no warm-up request was made", "ollama pull"),
    ),
    (
        "ps_unreadable",
        True,
        OllamaFacts(installed=(QWEN,), loaded=None, ps_error="HTTP 502: bad gateway", warmup={}),
        loaded_check("fail", "/api/ps: HTTP 502", "docker logs ollama"),
    ),
]


@pytest.mark.parametrize(
    ("has_gpu", "facts", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_evaluate_ollama(
    has_gpu: bool, facts: OllamaFacts, expect: dict[str, tuple[str, str, str]]
) -> None:
    checks = evaluate_ollama("compute", [M], facts, has_gpu=has_gpu)
    assert [c.name for c in checks] == list(expect)
    for c in checks:
        status, evidence, remedy = expect[c.name]
        assert str(c.status) == status, (c.name, c.evidence)
        assert evidence in c.evidence, (c.name, c.evidence)
        assert remedy in c.remedy, (c.name, c.remedy)
        assert bool(c.remedy) is (c.status is not Status.PASS), c.name
        json.dumps(c.to_dict())


def test_no_models_configured_warns() -> None:
    [api] = evaluate_ollama("compute", [], OllamaFacts(installed=(QWEN,)), has_gpu=True)
    assert api.status is Status.WARN
    assert "ollama_models" in api.remedy


# -- a STAND-IN Ollama API ------------------------------------------------------------------


class StandinOllama(QuietHandler):
    """STAND-IN (not Ollama): /api/tags, /api/generate (loads a model), /api/ps."""

    installed: ClassVar[list[str]] = [M]
    vram_fraction: ClassVar[float] = 1.0
    loaded: ClassVar[dict[str, int]] = {}
    requests: ClassVar[list[tuple[str, str, Any]]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        self.requests.append(("GET", self.path, None))
        if self.path == "/api/tags":
            models = [{"name": m, "model": m, "size": SIZE, "details": {}} for m in self.installed]
            self.reply_json(200, {"models": models})
        elif self.path == "/api/ps":
            models = [
                {"name": m, "model": m, "size": SIZE, "size_vram": v, "expires_at": "x"}
                for m, v in self.loaded.items()
            ]
            self.reply_json(200, {"models": models})
        else:
            self.reply_json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        if body["model"] not in self.installed:
            self.reply_json(404, {"error": f"model '{body['model']}' not found"})
            return
        self.loaded[body["model"]] = int(SIZE * self.vram_fraction)
        self.reply_json(
            200, {"model": body["model"], "response": "", "done": True, "done_reason": "load"}
        )


@pytest.fixture
def standin_ollama() -> Iterator[str]:
    StandinOllama.loaded = {}
    StandinOllama.requests = []
    StandinOllama.vram_fraction = 1.0
    with serving(StandinOllama) as port:
        yield f"http://127.0.0.1:{port}"


def local_inventory(tmp_path: Path, url: str, *, gpu: Any) -> Path:
    """One local host running the ollama stack, its API at ``url``."""
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "config.yaml").write_text(
        yaml.safe_dump(
            {"inventory": {"plugin": "SimpleInventory", "options": {"host_file": "hosts.yaml"}}}
        )
    )
    host = {
        "hostname": "localhost",
        "data": {
            "role": "compute",
            "connection": "local",
            "stacks": ["ollama", "qdrant"],
            "ollama_models": [M],
            "ollama_url": url,
            "gpu": gpu,
        },
    }
    (inv / "hosts.yaml").write_text(yaml.safe_dump({"box": host}))
    return inv / "config.yaml"


def test_task_warms_up_then_reads_placement(standin_ollama: str, tmp_path: Path) -> None:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all
    from nornir_homehub.tasks.ollama import check_ollama

    nr = load_nornir(local_inventory(tmp_path, standin_ollama, gpu={"vendor": "nvidia"}))
    try:
        result = nr.run(task=check_ollama)["box"][0]
    finally:
        close_all(nr)
    assert not result.failed, result.exception
    assert {c.name: str(c.status) for c in result.result} == {
        "ollama.api": "pass",
        f"ollama.model.{M}.installed": "pass",
        f"ollama.model.{M}.loaded": "pass",
    }
    # The documented warm-up request, made before /api/ps.
    assert StandinOllama.requests == [
        ("GET", "/api/tags", None),
        ("POST", "/api/generate", {"model": M, "prompt": "", "keep_alive": "5m"}),
        ("GET", "/api/ps", None),
    ]


def test_cli_check_ollama_split_and_missing(standin_ollama: str, tmp_path: Path) -> None:
    from nornir_homehub.cli import cli

    StandinOllama.vram_fraction = 0.5
    config = local_inventory(tmp_path, standin_ollama, gpu={"vendor": "nvidia"})
    hosts = yaml.safe_load((config.parent / "hosts.yaml").read_text())
    hosts["box"]["data"]["ollama_models"] = [M, "llama3"]
    (config.parent / "hosts.yaml").write_text(yaml.safe_dump(hosts))

    res = CliRunner().invoke(cli, ["--config", str(config), "check", "ollama"])
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    assert (
        f"WARN box ollama.model.{M}.loaded: {M} split: only 50 % on the GPU, the rest on CPU "
        "(size 8.4 GiB, in GPU memory 4.2 GiB)" in lines
    )
    assert (
        f"FAIL box ollama.model.llama3.installed: llama3 is not installed (installed: {M})" in lines
    )
    assert "     remedy: Pull the model manually: `docker exec ollama ollama pull llama3`" in lines


def test_cli_check_ollama_json_api_down(tmp_path: Path) -> None:
    from nornir_homehub.cli import cli

    config = local_inventory(tmp_path, "http://127.0.0.1:9", gpu=None)
    res = CliRunner().invoke(cli, ["--config", str(config), "check", "ollama", "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    [api] = doc["checks"]
    assert (api["name"], api["status"], api["host"]) == ("ollama.api", "fail", "box")
    assert "http://127.0.0.1:9/api/tags" in api["evidence"]


def test_cli_check_ollama_skips_hosts_without_the_stack() -> None:
    from nornir_homehub.cli import cli

    res = CliRunner().invoke(
        cli, ["--config", str(LAB_CONFIG), "check", "ollama", "--filter", "role=trusted"]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "SKIP trusted ollama: ollama is not deployed on this host (stacks: litellm, openwebui, monitoring)"
    ]


# -- the task through the scripted double (no server, no lab) --------------------------------


def _answer(status: int, doc: Any) -> str:
    """What the request script prints for a curl answer with a JSON body."""
    parts = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n", json.dumps(doc), "")
    encoded = [base64.b64encode(p.encode()).decode() for p in parts]
    return "\n".join([f"homehub-http curl 0 {status}", *encoded]) + "\n"


def _warm_up_body(command: str, stdin: bytes | None) -> None:
    assert stdin is not None
    body = json.loads(base64.b64decode(stdin.split(b"\n")[1]))
    assert body == {"model": M, "prompt": "", "keep_alive": "5m"}


def test_task_through_the_double_warms_up_and_reads_a_cpu_placement() -> None:
    from nornir_homehub.tasks.ollama import check_ollama
    from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

    tags = {"models": [{"name": M, "size": 8988124069, "details": {"parameter_size": "14.8B"}}]}
    ps = {"models": [{"name": M, "size": 8988124069, "size_vram": 0}]}
    base = "http://127.0.0.1:11434"
    host = ScriptedHost(
        "compute",
        [
            Command(f"{base}/api/tags", match="contains", out=_answer(200, tags)),
            Command(
                f"{base}/api/generate", match="contains", out=_answer(200, {}), check=_warm_up_body
            ),
            Command(f"{base}/api/ps", match="contains", out=_answer(200, ps)),
        ],
    )
    data = {
        "role": "compute",
        "stacks": ["ollama"],
        "ollama_models": [M],
        "gpu": {"vendor": "nvidia"},
    }
    agg = scripted_nornir({"compute": (data, host)}).run(task=check_ollama)
    checks = {c.name: c for c in agg["compute"][0].result}
    assert agg.failed  # the inventory promises a GPU, the model sits in system memory
    loaded = checks[f"ollama.model.{M}.loaded"]
    assert (loaded.status, loaded.layer) == (Status.FAIL, "gpu")
    assert "loaded on the CPU, not the GPU" in loaded.evidence
    assert "Slow Response Times" in loaded.remedy
    assert checks["ollama.api"].status is Status.PASS
    # /api/tags, the warm-up, then /api/ps: three requests, in that order.
    endpoints = [e for c in host.ran for e in ("/api/tags", "/api/generate", "/api/ps") if e in c]
    assert endpoints == ["/api/tags", "/api/generate", "/api/ps"]
    assert host.unused() == []


def test_task_through_the_double_skips_a_host_without_the_stack() -> None:
    from nornir_homehub.tasks.ollama import check_ollama
    from nornir_homehub.testing import ScriptedHost, scripted_nornir

    host = ScriptedHost("trusted")
    data = {"role": "trusted", "stacks": ["litellm"]}
    agg = scripted_nornir({"trusted": (data, host)}).run(task=check_ollama)
    [check] = agg["trusted"][0].result
    assert (check.name, check.status) == ("ollama", Status.SKIP)
    assert host.ran == []
