"""Lab stand-in images and the lab edge, on the real lab hosts.

Each stand-in runs as a throw-away container (label ``org.homehub.test=standins``, port
published on the host's loopback) and is queried from the host with curl (exact status lines
and headers, no redirect following) or busybox ``wget`` (many concurrent clients).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import LAB_CONFIG

from nornir_homehub.config import load_nornir
from nornir_homehub.connection import HostConnection, close_all
from nornir_homehub.connection_options import SSH_PLUGIN
from nornir_homehub.lab.edge import LAB_AUTH_COOKIE, LAB_AUTH_HEADER, LAB_AUTH_TOKEN, ensure_edge
from nornir_homehub.lab.images import (
    BUILT_ON_HOST,
    HASH_LABEL,
    ROLE_IMAGES,
    STANDIN_LABEL,
    context_files,
    context_hash,
    ensure_images,
    image_name,
)

TEST_LABEL = "org.homehub.test=standins"
MODEL = "qwen2.5-coder:14b"


@pytest.fixture(scope="module")
def hosts(lab: Any) -> Iterator[dict[str, HostConnection]]:
    """Connections to trusted and compute with their images built; test containers removed after."""
    nr = load_nornir(LAB_CONFIG)
    conns: dict[str, HostConnection] = {}
    for role in ("trusted", "compute"):
        conn = nr.inventory.hosts[role].get_connection(SSH_PLUGIN, nr.config)
        assert isinstance(conn, HostConnection)
        ensure_images(conn, role)
        conns[role] = conn
    yield conns
    for conn in conns.values():
        conn.run(
            f"docker ps -aq --filter label={TEST_LABEL} | xargs -r docker rm -f >/dev/null; "
            "docker volume rm -f hh-test-ollama >/dev/null 2>&1; rm -rf /tmp/hh-test"
        )
    close_all(nr)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str


def run_container(
    conn: HostConnection, name: str, image: str, port: int, *args: str, command: str = ""
) -> int:
    """Start a test container publishing ``port`` on 127.0.0.1; return the host port."""
    conn.run(f"docker rm -f {name} >/dev/null 2>&1")
    extra = " ".join(args)
    conn.run(
        f"docker run -d --init --name {name} --label {TEST_LABEL} -p 127.0.0.1::{port} "
        f"{extra} {image} {command}",
        check=True,
    )
    host_port = int(conn.run(f"docker port {name} {port}/tcp", check=True).stdout.split(":")[-1])
    # ready when it answers anything at all
    probe = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc 127.0.0.1 {host_port}"
    conn.run(
        f"for i in $(seq 50); do {probe} 2>/dev/null | grep -q '^HTTP/' && exit 0; "
        "sleep 0.2; done; exit 1",
        check=True,
    )
    return host_port


def http(
    conn: HostConnection,
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> Response:
    """One HTTP request from the host (curl -i: exact status and headers, no redirects)."""
    args = ["curl", "-sS", "-i", "--max-time", "15", "-X", method]
    for key, value in {"Host": "standin.test", **(headers or {})}.items():
        args += ["-H", f"{key}: {value}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    args.append(f"http://127.0.0.1:{port}{path}")
    command = " ".join(shlex.quote(a) for a in args)
    res = conn.run(command, stdin=body.encode() if body is not None else None, timeout=30)
    head, _, payload = res.stdout.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    assert status_line.startswith("HTTP/"), res.stdout + res.stderr
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), parsed, payload)


# -- images ----------------------------------------------------------------------------------


def test_images_are_built_labelled_and_skipped_when_current(
    hosts: dict[str, HostConnection],
) -> None:
    for role, names in ROLE_IMAGES.items():
        conn = hosts[role]
        for name in names:
            image = image_name(name)
            raw = conn.run(f"docker image inspect {image}", check=True).stdout
            config = json.loads(raw)[0]["Config"]
            labels = config["Labels"]
            assert labels[HASH_LABEL] == context_hash(context_files(name))
            if name in BUILT_ON_HOST:  # the real binaries: Traefik, Prometheus, node-exporter
                assert image == f"homehub-lab/{name}:lab"
                assert STANDIN_LABEL not in labels
            else:
                assert image == f"homehub-standin/{name}:lab"
                assert labels[STANDIN_LABEL] == "true"
            if name in ("qdrant", "prometheus", "node-exporter"):
                # No shell in these images (qdrant: like the vendor's): the deploy probes HTTP.
                assert "Healthcheck" not in config
            else:
                assert config["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")
        assert ensure_images(conn, role) == []


# -- Ollama ----------------------------------------------------------------------------------


def test_ollama_standin_pulls_loads_and_persists_models(hosts: dict[str, HostConnection]) -> None:
    conn = hosts["compute"]
    image = image_name("ollama")
    volume = "-v hh-test-ollama:/root/.ollama"
    port = run_container(conn, "hh-test-ollama", image, 11434, volume)

    assert json.loads(http(conn, port, "/api/tags").body) == {"models": []}
    assert http(conn, port, "/api/version").status == 200
    missing = http(conn, port, "/api/generate", method="POST", body=json.dumps({"model": MODEL}))
    assert missing.status == 404
    assert "not found" in missing.body

    pulled = http(
        conn, port, "/api/pull", method="POST", body=json.dumps({"model": MODEL, "stream": False})
    )
    assert (pulled.status, json.loads(pulled.body)) == (200, {"status": "success"})
    tags = json.loads(http(conn, port, "/api/tags").body)
    assert [m["name"] for m in tags["models"]] == [MODEL]
    assert json.loads(http(conn, port, "/api/ps").body) == {"models": []}

    warm = http(conn, port, "/api/generate", method="POST", body=json.dumps({"model": MODEL}))
    assert warm.status == 200
    assert json.loads(warm.body)["done"] is True
    (loaded,) = json.loads(http(conn, port, "/api/ps").body)["models"]
    assert (loaded["name"], loaded["size_vram"]) == (MODEL, 0)

    listing = conn.run("docker exec hh-test-ollama ollama list", check=True).stdout
    assert listing.splitlines()[0].split()[:2] == ["NAME", "ID"]
    assert listing.splitlines()[1].split()[0] == MODEL
    assert "100% CPU" in conn.run("docker exec hh-test-ollama ollama ps", check=True).stdout
    cli_pull = conn.run("docker exec hh-test-ollama ollama pull llama3.1:8b", check=True)
    assert cli_pull.stdout.strip().endswith("success")

    # installed models live in the data volume; loaded ones do not survive a restart
    port = run_container(conn, "hh-test-ollama", image, 11434, volume)
    tags = json.loads(http(conn, port, "/api/tags").body)
    assert [m["name"] for m in tags["models"]] == [MODEL, "llama3.1:8b"]
    assert json.loads(http(conn, port, "/api/ps").body) == {"models": []}


# -- Qdrant ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/healthz", {}, 200),
        ("/readyz", {}, 401),
        ("/readyz", {"api-key": "wrong"}, 401),
        ("/readyz", {"api_key": "lab-qdrant-key"}, 401),
        ("/readyz", {"api-key": "lab-qdrant-key"}, 200),
        ("/readyz", {"Authorization": "Bearer lab-qdrant-key"}, 200),
        ("/collections", {}, 401),
        ("/collections", {"api-key": "lab-qdrant-key"}, 200),
    ],
)
def test_qdrant_standin_requires_the_api_key(
    hosts: dict[str, HostConnection], path: str, headers: dict[str, str], status: int
) -> None:
    conn = hosts["compute"]
    port = _qdrant(conn)
    assert http(conn, port, path, headers=headers).status == status


_started: dict[str, int] = {}


def _started_once(conn: HostConnection, standin: str, port: int, env: str) -> int:
    """The stand-in's container ``hh-test-<standin>``, started on first use; its host port."""
    if standin not in _started:
        name = f"hh-test-{standin}"
        _started[standin] = run_container(conn, name, image_name(standin), port, env)
    return _started[standin]


def _qdrant(conn: HostConnection) -> int:
    return _started_once(conn, "qdrant", 6333, "-e QDRANT__SERVICE__API_KEY=lab-qdrant-key")


# -- LiteLLM ---------------------------------------------------------------------------------

LITELLM_CONFIG = f"""\
model_list:
  - model_name: "{MODEL}"
    litellm_params:
      model: "ollama_chat/{MODEL}"
      api_base: "http://ollama.homehub.test:11434"
  - model_name: llama3.1:8b  # second
    litellm_params:
      model: ollama_chat/llama3.1:8b
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


def test_litellm_standin_lists_configured_models_behind_the_master_key(
    hosts: dict[str, HostConnection],
) -> None:
    conn = hosts["trusted"]
    conn.put_file("/tmp/hh-test/litellm.yaml", LITELLM_CONFIG.encode())
    port = run_container(
        conn,
        "hh-test-litellm",
        image_name("litellm"),
        4000,
        "-e LITELLM_MASTER_KEY=sk-lab-test -v /tmp/hh-test/litellm.yaml:/app/config.yaml:ro",
        command="--config /app/config.yaml --port 4000",  # the real image's arguments
    )
    alive = http(conn, port, "/health/liveliness")
    assert (alive.status, json.loads(alive.body)) == (200, "I'm alive!")
    assert http(conn, port, "/v1/models").status == 401
    assert http(conn, port, "/v1/models", headers={"Authorization": "Bearer nope"}).status == 401
    ok = http(conn, port, "/v1/models", headers={"Authorization": "Bearer sk-lab-test"})
    assert ok.status == 200
    assert [m["id"] for m in json.loads(ok.body)["data"]] == [MODEL, "llama3.1:8b"]


# -- Open WebUI, concurrency, guide's tools --------------------------------------------------


def test_openwebui_standin_health_and_the_guides_tools(hosts: dict[str, HostConnection]) -> None:
    conn = hosts["trusted"]
    port = run_container(
        conn,
        "hh-test-openwebui",
        image_name("openwebui"),
        8080,
        "--add-host ollama.homehub.test:192.0.2.132",
    )
    res = http(conn, port, "/health")
    assert (res.status, json.loads(res.body)) == (200, {"status": True})
    got = conn.run("docker exec hh-test-openwebui getent hosts ollama.homehub.test")
    assert (got.exit_code, got.stdout.split()) == (0, ["192.0.2.132", "ollama.homehub.test"])
    assert conn.run("docker exec hh-test-openwebui getent hosts nowhere.invalid").exit_code == 2
    curl = conn.run("docker exec hh-test-openwebui curl -s http://127.0.0.1:8080/health")
    assert json.loads(curl.stdout) == {"status": True}


def test_standin_serves_concurrent_clients_while_others_idle(
    hosts: dict[str, HostConnection],
) -> None:
    conn = hosts["trusted"]
    port = run_container(conn, "hh-test-concurrency", image_name("openwebui"), 8080)
    script = (
        # three clients connect and send nothing; twenty others must still be served
        f"for i in 1 2 3; do (sleep 8 | busybox nc 127.0.0.1 {port} >/dev/null) & done; sleep 0.3; "
        f"for i in $(seq 20); do timeout 10 busybox wget -q -O- http://127.0.0.1:{port}/health & done; "
        "wait"
    )
    t0 = time.monotonic()
    res = conn.run(f"sh -c {shlex.quote(script)}", timeout=60)
    assert res.stdout.count('{"status":true}') == 20, res.stderr
    assert time.monotonic() - t0 < 30


# -- Authentik forward-auth ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 302),
        ({"Cookie": f"other=1; {LAB_AUTH_COOKIE}={LAB_AUTH_TOKEN}"}, 200),
        ({"Cookie": f"{LAB_AUTH_COOKIE}=wrong"}, 302),
        ({LAB_AUTH_HEADER: LAB_AUTH_TOKEN}, 200),
        ({"X_Lab_Auth": LAB_AUTH_TOKEN}, 302),
    ],
)
def test_authentik_standin_forward_auth(
    hosts: dict[str, HostConnection], headers: dict[str, str], status: int
) -> None:
    conn = hosts["trusted"]
    port = _started_once(
        conn, "authentik", 9000, f"-e AUTH_DOMAIN=homehub.test -e AUTH_TOKEN={LAB_AUTH_TOKEN}"
    )
    forwarded = {
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "chat.homehub.test",
        "X-Forwarded-Uri": "/c/1?x=y",
    }
    res = http(
        conn,
        port,
        "/outpost.goauthentik.io/auth/traefik",
        headers={**forwarded, **headers},
    )
    assert res.status == status
    if status == 302:
        assert res.headers["location"] == (
            "http://auth.homehub.test/flows/login/?rd=http%3A%2F%2Fchat.homehub.test%2Fc%2F1%3Fx%3Dy"
        )
    else:
        assert res.headers["x-authentik-username"] == "lab-user"


# -- the lab edge: real Traefik + the Authentik stand-in -------------------------------------


def test_edge_routes_through_authentik_like_production(hosts: dict[str, HostConnection]) -> None:
    conn = hosts["trusted"]
    ensure_edge(conn, "homehub.test")
    ensure_edge(conn, "homehub.test")  # idempotent
    states = conn.run(
        "docker inspect -f '{{.Name}} {{.State.Health.Status}}' traefik authentik-outpost",
        check=True,
    ).stdout.split()
    assert states == ["/traefik", "healthy", "/authentik-outpost", "healthy"]
    args = conn.run("docker inspect -f '{{json .Args}}' traefik", check=True).stdout
    # The README's advice, followed by the lab: new routes within 200 ms, not Traefik's 2 s.
    assert "--providers.providersThrottleDuration=200ms" in json.loads(args)
    rule = "Host(`hh-test.homehub.test`)"
    labels = " ".join(
        f"--label {shlex.quote(label)}"
        for label in (
            "traefik.enable=true",
            f"traefik.http.routers.hhtest.rule={rule}",
            "traefik.http.routers.hhtest.entrypoints=web",
            "traefik.http.routers.hhtest.middlewares=authentik@docker",
            "traefik.http.services.hhtest.loadbalancer.server.port=8080",
        )
    )
    run_container(
        conn, "hh-test-routed", image_name("openwebui"), 8080, f"--network frontend {labels}"
    )

    def through_edge(headers: dict[str, str], host: str = "hh-test.homehub.test") -> Response:
        return http(conn, 80, "/health", headers={"Host": host, **headers})

    deadline = time.monotonic() + 15
    while through_edge({}).status == 404 and time.monotonic() < deadline:
        time.sleep(0.3)  # Traefik picks the new container up from Docker events
    denied = through_edge({})
    assert denied.status == 302
    assert denied.headers["location"] == (
        "http://auth.homehub.test/flows/login/?rd=http%3A%2F%2Fhh-test.homehub.test%2Fhealth"
    )
    allowed = through_edge({"Cookie": f"{LAB_AUTH_COOKIE}={LAB_AUTH_TOKEN}"})
    assert (allowed.status, json.loads(allowed.body)) == (200, {"status": True})
    assert through_edge({LAB_AUTH_HEADER: LAB_AUTH_TOKEN}).status == 200
    assert through_edge({"X_Lab_Auth": LAB_AUTH_TOKEN}).status == 302
    assert through_edge({}, host="nothing.homehub.test").status == 404
