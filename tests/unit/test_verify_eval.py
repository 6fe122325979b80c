"""``verify``'s pure evaluation: facts (docker inspect, HTTP answers, docker exec) -> checks.

Cases live in tests/unit/cases/verify/*.yaml: ``function`` names the evaluator, the inputs are
what the host would report, ``expect`` lists the checks in order (``evidence`` and ``remedy``
are substrings). The command builders are run for real against a loopback HTTP server.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from loopback_http import QuietHandler, serving

from nornir_homehub.checks.litellm import evaluate_backends
from nornir_homehub.checks.model import Check
from nornir_homehub.checks.stacks import (
    evaluate_containers,
    evaluate_fetch,
    evaluate_outpost,
    evaluate_probe,
    evaluate_public,
    evaluate_resolution,
)
from nornir_homehub.connection import CommandResult
from nornir_homehub.facts.containers import DockerFacts, ExecOutcome, parse_docker
from nornir_homehub.facts.docker import ContainerFact, inspect_line
from nornir_homehub.facts.http import (
    ProbeOutcome,
    container_http_command,
    http_command,
    parse_probe,
)
from nornir_homehub.facts.litellm import parse_health
from nornir_homehub.render import load_stack

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
CASES = sorted((Path(__file__).parent / "cases" / "verify").glob("*.yaml"))


def inspect_json(containers: list[dict[str, Any]]) -> str:
    """What `facts.docker.containers_command` prints for ``containers`` (one JSON line each)."""
    return "\n".join(
        inspect_line(
            ContainerFact(
                id=f"{i:064x}",
                name=c["name"],
                state=c["state"],
                exit_code=0,
                started_at="2025-10-13T10:00:00Z",
                health=c.get("health"),
                restart_count=0,
                image=f"example/{c['service']}:1",
                project=c["project"],
                service=c["service"],
                working_dir="",
                networks=dict.fromkeys(c.get("networks", []), f"172.18.0.{i + 2}"),
            )
        )
        for i, c in enumerate(containers)
    )


def docker_facts(case: dict[str, Any]) -> DockerFacts:
    if case.get("docker_error"):
        return parse_docker(CommandResult("docker", 1, "", case["docker_error"]))
    return parse_docker(CommandResult("docker", 0, inspect_json(case.get("containers", [])), ""))


def run_case(case: dict[str, Any]) -> list[Check]:  # noqa: PLR0911 - one return per evaluator
    host = case.get("host", "compute")
    fn = case["function"]
    if fn == "containers":
        specs = [load_stack(STACKS, s) for s in case["stacks"]]
        return evaluate_containers(host, specs, docker_facts(case))
    if fn == "outpost":
        return [evaluate_outpost(host, docker_facts(case))]
    if fn == "probe":
        spec = load_stack(STACKS, case["stack"])
        health, probe = next((h, p) for h in spec.health for p in h.http if p.name == case["probe"])
        r = case["response"]
        outcome = ProbeOutcome(
            f"http://127.0.0.1:{probe.port}{probe.path}",
            r.get("status", 0),
            r.get("body", ""),
            r.get("location", ""),
            r.get("error", ""),
        )
        return [evaluate_probe(host, spec, health, probe, outcome)]
    if fn == "litellm_backends":
        health = None if case.get("health") is None else parse_health(case["health"])
        return evaluate_backends(
            "trusted", case["backends"], health, error=case.get("health_error", "")
        )
    if fn == "public":
        r = case["response"]
        outcome = ProbeOutcome(
            "http://127.0.0.1:80/", r.get("status", 0), r.get("body", ""), r.get("location", "")
        )
        return [evaluate_public("trusted", case["fqdn"], outcome, auth_host="auth.homehub.test")]
    ex = case["exec"]
    outcome_ex = (
        None
        if ex is None
        else ExecOutcome("docker exec", ex["exit_code"], ex.get("stdout", ""), ex.get("stderr", ""))
    )
    if fn == "resolution":
        return [
            evaluate_resolution(
                "trusted",
                "open-webui",
                "ollama.homehub.test",
                "192.0.2.132",
                outcome_ex,
                stack="openwebui",
                servers=case.get("servers", ()),
            )
        ]
    assert fn == "fetch", fn
    return [
        evaluate_fetch(
            "trusted", "open-webui", "http://ollama.homehub.test:11434/api/tags", outcome_ex
        )
    ]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    checks = run_case(case)
    expected = [e for e in case["expect"] if "name" in e]
    assert [c.name for c in checks] == [e["name"] for e in expected]
    extra_remedies = [e["remedy"] for e in case["expect"] if "name" not in e]
    for c, e in zip(checks, expected, strict=True):
        assert str(c.layer) == e["layer"], c
        assert str(c.status) == e["status"], c
        assert e.get("evidence", "") in c.evidence, c
        assert e.get("remedy", "") in c.remedy, c
        if c.status == "pass":
            assert c.remedy == ""
        if c.status == "fail":
            assert c.remedy, f"{c.name} fails without a remedy"
        for extra in extra_remedies:
            assert extra in c.remedy
        json.dumps(c.to_dict())  # report-ready


def test_every_case_file_is_used() -> None:
    assert len(CASES) >= 20


def test_probe_evidence_never_holds_the_secret() -> None:
    spec = load_stack(STACKS, "qdrant")
    health, probe = spec.health[0], spec.health[0].http[0]
    check = evaluate_probe(
        "compute", spec, health, probe, ProbeOutcome("http://127.0.0.1:6333/readyz", 401)
    )
    assert "api-key" in check.evidence
    assert "vault_qdrant_api_key" in check.evidence
    assert check.data["url"] == "http://127.0.0.1:6333/readyz"


# --- command builders, run for real on loopback --------------------------------------------


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        if self.headers.get("Host", "").startswith("chat."):
            self.reply(302, b"", {"Location": "http://auth.homehub.test/flows/login/?rd=x"})
            return
        self.reply_json(200, {"models": [], "path": self.path})


@pytest.fixture
def server() -> Iterator[int]:
    with serving(_Handler) as port:
        yield port


def _sh(command: str, env: dict[str, str] | None = None) -> CommandResult:
    proc = subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)


needs_client = pytest.mark.skipif(
    not (shutil.which("curl") or shutil.which("wget")), reason="needs curl or wget"
)


@needs_client
def test_http_command_sends_host_header(server: int) -> None:
    url = f"http://127.0.0.1:{server}/"
    cmd = http_command(url, headers={"Host": "chat.homehub.test"})
    outcome = parse_probe(_sh(cmd), url, where="local")
    assert outcome.status == 302
    assert outcome.location.startswith("http://auth.homehub.test/")
    check = evaluate_public("local", "chat.homehub.test", outcome, auth_host="auth.homehub.test")
    assert check.status == "pass"


@needs_client
def test_http_command_refused_is_an_error_not_a_status() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as srv:
        port = srv.server_address[1]  # bound, then closed: nothing listens there any more
    url = f"http://127.0.0.1:{port}/readyz"
    outcome = parse_probe(_sh(http_command(url, timeout=2)), url, where="local")
    assert outcome.status == 0
    assert outcome.error


@needs_client
@pytest.mark.parametrize("path", ["/health/liveliness", "/health?x=1&y=2"])
def test_container_http_command_reaches_the_container_address(
    server: int, path: str, tmp_path: Path
) -> None:
    # A fake `docker` answering `docker inspect -f ...` with the loopback address.
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho '127.0.0.1 '\n")
    fake.chmod(0o755)
    cmd = container_http_command("litellm", server, path)
    res = _sh(cmd, env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    outcome = parse_probe(res, "http://<litellm>/", where="local")
    assert outcome.status == 200, res
    assert json.loads(outcome.body)["path"] == path


def test_container_http_command_without_address(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    res = _sh(
        container_http_command("litellm", 4000, "/x"),
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}"},
    )
    outcome = parse_probe(res, "http://<litellm>:4000/x", where="local")
    assert outcome.status == 0
    assert "container litellm has no address" in outcome.error


def test_parse_docker_networks() -> None:
    facts = parse_docker(
        CommandResult(
            "docker",
            0,
            inspect_json(
                [
                    {
                        "name": "authentik-outpost",
                        "project": "lab-edge",
                        "service": "authentik-outpost",
                        "state": "running",
                        "networks": ["frontend", "lab-edge_default"],
                    }
                ]
            ),
            "",
        )
    )
    assert set(facts.networks["authentik-outpost"]) == {"frontend", "lab-edge_default"}
    assert facts.for_service("lab-edge", "authentik-outpost") is not None


def test_network_checks_skip_when_the_container_does_not_run() -> None:
    from nornir_homehub.checks.model import Layer, Status
    from nornir_homehub.checks.stacks import evaluate_fetch, evaluate_resolution

    res = evaluate_resolution(
        "trusted", "open-webui", "ollama.homehub.test", "192.0.2.132", None, stack="openwebui"
    )
    fetch = evaluate_fetch("trusted", "litellm", "http://ollama.homehub.test:11434/api/tags", None)
    assert (res.name, res.status, res.layer) == (
        "network.open-webui.ollama",
        Status.SKIP,
        Layer.NETWORK,
    )
    assert (fetch.name, fetch.status) == ("network.litellm.ollama-api", Status.SKIP)
    assert res.evidence == "open-webui on trusted does not run (see its container check)"
    assert fetch.data == {
        "container": "litellm",
        "url": "http://ollama.homehub.test:11434/api/tags",
    }
