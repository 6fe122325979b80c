"""The edge diagnosis: a request through Traefik + Traefik's API view -> cause, layer, remedy.

Cases live in tests/unit/cases/edge/*.yaml: the route, the answer to the unauthenticated
request, Traefik's API view (real captures in tests/fixtures/traefik/, changed as each case's
description says, or null when ``traefik_api_url`` is not set) and the outpost's readiness;
``expect`` gives the cause, the layer and fragments of evidence and remedy (``remedy_lacks``:
fragments that must NOT be there, e.g. Authentik for a route that is simply not there yet).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from conftest import ROOT
from loopback_http import QuietHandler, serving

from nornir_homehub.checks.edge import EdgeCause, diagnose, route_check
from nornir_homehub.connection import CommandResult
from nornir_homehub.facts.http import ProbeOutcome
from nornir_homehub.facts.traefik import (
    Route,
    TraefikView,
    edge_request,
    hosts_in_rule,
    parse_traefik,
    routes_from_compose,
    traefik_api_commands,
)
from nornir_homehub.render import render_host

FIXTURES = ROOT / "tests" / "fixtures" / "traefik"
CASES = sorted((Path(__file__).parent / "cases" / "edge").glob("*.yaml"))


def _fixture(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _view(spec: Any) -> TraefikView | None:
    if spec is None:
        return None
    if "error" in spec:
        return TraefikView(error=spec["error"])
    routers = [
        r for r in _fixture(spec["routers"]) if r["name"] not in spec.get("drop_routers", [])
    ]
    services = [
        s for s in _fixture(spec["services"]) if s["name"] not in spec.get("drop_services", [])
    ]
    for r in routers:
        if r["name"] in spec.get("router_errors", {}):
            r["error"] = spec["router_errors"][r["name"]]
            r["status"] = "disabled"
    for s in services:
        for name, status in spec.get("server_status", {}).items():
            if s["name"] == name:
                s["serverStatus"] = dict.fromkeys(s["serverStatus"], status)
    return TraefikView(tuple(routers), tuple(_fixture(spec["middlewares"])), tuple(services))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    r = case["route"]
    route = Route(r["fqdn"], r.get("path", "/"), r.get("router"))
    resp = case["response"]
    outcome = ProbeOutcome(
        "http://127.0.0.1:80" + route.path,
        resp.get("status", 0),
        "",
        resp.get("location", ""),
        resp.get("error", ""),
    )
    d = diagnose(
        route,
        outcome,
        auth_host="auth.homehub.test",
        view=_view(case.get("traefik")),
        outpost_ready=case.get("outpost_ready"),
    )
    want = case["expect"]
    assert d.cause is EdgeCause(want["cause"]), d
    assert str(d.layer) == want["layer"], d
    for fragment in want.get("evidence", []):
        assert fragment in d.evidence, d.evidence
    for fragment in want.get("remedy", []):
        assert fragment in d.remedy, d.remedy
    for fragment in want.get("remedy_lacks", []):
        assert fragment not in d.remedy, d.remedy
        assert fragment not in d.evidence, d.evidence
    check = route_check("trusted", route, d)
    assert check.name == f"auth.{route.short}"
    assert (check.status == "pass") is (d.cause is EdgeCause.SERVED)
    assert bool(check.remedy) is not d.served
    json.dumps(check.to_dict())  # report-ready


def test_every_cause_has_a_case() -> None:
    seen = {yaml.safe_load(p.read_text())["expect"]["cause"] for p in CASES}
    assert seen >= {c.value for c in EdgeCause} - {"unexpected answer"}, seen


def _lab_rendered() -> dict[str, Any]:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.inventory import site_vars
    from nornir_homehub.render import masked_secrets, secret_names, stacks_for_host

    nr = load_nornir(ROOT / "inventory" / "lab" / "config.yaml")
    host = nr.inventory.hosts["trusted"]
    stacks_dir = ROOT / "stacks"
    names = secret_names(stacks_for_host(site_vars(nr, host), stacks_dir, None))
    return {s.name: s for s in render_host(nr, host, stacks_dir, masked_secrets(names), None)}


def test_routes_of_the_trusted_stacks() -> None:
    stacks = _lab_rendered()
    routes = {
        name: routes_from_compose(s.files[s.compose_file].content.decode(), stack=name)
        for name, s in stacks.items()
    }
    assert routes == {
        "litellm": [Route("openai.homehub.test", "/v1/models", "litellm", "litellm")],
        "openwebui": [Route("chat.homehub.test", "/", "openwebui", "openwebui")],
        # Prometheus is published on the host's loopback only, never routed by Traefik
        "monitoring": [],
    }
    url, headers = edge_request({"traefik_probe_url": None}, routes["litellm"][0])
    assert (url, headers) == ("http://127.0.0.1:80/v1/models", {"Host": "openai.homehub.test"})
    tls = edge_request({"traefik_certresolver": "le"}, routes["openwebui"][0])
    assert tls == ("https://chat.homehub.test/", {})


def test_compose_without_traefik_labels_has_no_route() -> None:
    assert routes_from_compose("services:\n  qdrant:\n    image: q\n") == []
    assert routes_from_compose("services: [unclosed") == []
    disabled = (
        "services:\n  x:\n    labels:\n      traefik.enable: 'false'\n"
        "      traefik.http.routers.x.rule: Host(`x.example`)\n"
    )
    assert routes_from_compose(disabled) == []


def test_hosts_in_rule() -> None:
    assert hosts_in_rule("Host(`a.example`) || Host(`b.example`, `c.example`)") == [
        "a.example",
        "b.example",
        "c.example",
    ]
    assert hosts_in_rule("PathPrefix(`/api`)") == []


# --- Traefik's API read for real on loopback (the fixtures served by a local HTTP server) ---


class _Api(QuietHandler):
    answers: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        what = self.path.split("?")[0].rsplit("/", 1)[-1]
        body = self.answers.get(what)
        self.reply(
            200 if body is not None else 404,
            body or b"404 page not found",
            {"Content-Type": "application/json"},
        )


@pytest.fixture
def api() -> Iterator[str]:
    _Api.answers = {
        "routers": (FIXTURES / "routers-outpost-stopped.json").read_bytes(),
        "services": (FIXTURES / "services-ok.json").read_bytes(),
        "middlewares": (FIXTURES / "middlewares-ok.json").read_bytes(),
    }
    with serving(_Api) as port:
        yield f"http://127.0.0.1:{port}"


def _sh(command: str) -> CommandResult:
    proc = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=30, check=False
    )
    return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.skipif(not (shutil.which("curl") or shutil.which("wget")), reason="curl or wget")
def test_the_api_commands_read_traefiks_view(api: str) -> None:
    view = parse_traefik({k: _sh(c) for k, c in traefik_api_commands(api).items()})
    assert view.error is None
    assert {r["name"] for r in view.routers} >= {"litellm@docker", "openwebui@docker"}
    d = diagnose(
        Route("openai.homehub.test", "/v1/models", "litellm"),
        ProbeOutcome("http://127.0.0.1:80/v1/models", 404),
        auth_host="auth.homehub.test",
        view=view,
    )
    assert d.cause is EdgeCause.MIDDLEWARE_MISSING


def test_an_unreadable_api_is_an_error_not_a_view() -> None:
    def answer(status: int, body: bytes) -> CommandResult:
        head = base64.b64encode(f"HTTP/1.1 {status} X\r\n\r\n".encode()).decode()
        out = f"homehub-http curl 0 {status}\n{head}\n{base64.b64encode(body).decode()}\n\n"
        return CommandResult("x", 0, out, "")

    ok = answer(200, b"[]")
    view = parse_traefik(
        {"traefik:routers": answer(404, b"no"), "traefik:middlewares": ok, "traefik:services": ok}
    )
    assert view.error is not None and "/api/http/routers answered 404" in view.error
    refused = CommandResult("x", 7, "", "curl: (7) Failed to connect\n")
    view = parse_traefik(
        {"traefik:routers": refused, "traefik:middlewares": ok, "traefik:services": ok}
    )
    assert view.error == "/api/http/routers: curl: (7) Failed to connect"
    assert parse_traefik({}).error is not None
