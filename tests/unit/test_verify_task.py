"""`verify_stacks` through the scripted double, without the lab: its gather step and its checks.

The stack hosts are `ScriptedHost`s answering the task's one batch (docker inspect of every
container, the template probes, the in-container name resolution and Ollama fetch, the
unauthenticated requests through Traefik) with what a healthy or a broken host prints; probes
that carry an API key answer on their own, and the test checks the key reached the host on
stdin, never in a command line.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from compute_double import container as double_container

from nornir_homehub.checks.model import Layer, Status
from nornir_homehub.facts.containers import fetch_command, getent_command
from nornir_homehub.facts.docker import containers_command, inspect_line
from nornir_homehub.facts.http import container_http_command, http_command
from nornir_homehub.secrets import SecretStore
from nornir_homehub.tasks.verify import verify_stacks
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
QDRANT_KEY = "qdrant-key-for-the-double-123"
LITELLM_KEY = "sk-litellm-master-for-the-double"
SITE = {
    "domain": "homehub.test",
    "public_services": ["chat", "openai"],
    "internal_services": ["ollama", "qdrant"],
    "stacks_root": "/opt/stacks",
    "edge_settle_timeout": 1,
}


def http_answer(status: int, body: str = "", headers: str = "") -> str:
    """What the request script prints for a curl answer (marker line + three base64 lines)."""
    head = f"HTTP/1.1 {status} X\r\n{headers}\r\n"
    parts = [base64.b64encode(p.encode()).decode() for p in (head, body, "")]
    return "\n".join([f"homehub-http curl 0 {status}", *parts]) + "\n"


def container(
    name: str, project: str, service: str, *, health: str | None, address: str, **kw: Any
) -> str:
    networks = dict.fromkeys(kw.get("networks", [f"{project}_default"]), address)
    fact = double_container(
        name,
        health,
        project=project,
        service=service,
        state=kw.get("state", "running"),
        networks=networks,
    )
    return inspect_line(fact)


def verify(host: ScriptedHost, store: SecretStore | None) -> tuple[bool, dict[str, Any]]:
    """Run `verify_stacks` on the trusted or compute ``host``: (failed, checks by name)."""
    role = host.name
    data = {
        "role": role,
        "fqdn": f"{role}.homehub.test",
        "hostname": "192.0.2.131" if role == "trusted" else "192.0.2.132",
        "stacks": ["litellm", "openwebui"] if role == "trusted" else ["ollama", "qdrant"],
        **SITE,
    }
    other = "compute" if role == "trusted" else "trusted"
    other_data = {**data, "role": other, "fqdn": f"{other}.homehub.test", "stacks": []}
    other_data["hostname"] = "192.0.2.132" if other == "compute" else "192.0.2.131"
    nr = scripted_nornir({role: (data, host), other: (other_data, ScriptedHost(other))})
    agg = nr.filter(name=role).run(task=verify_stacks, stacks_dir=STACKS, secrets=store)
    return agg.failed, {c.name: c for c in agg[role][0].result}


def secrets() -> SecretStore:
    return SecretStore.from_mapping(
        {"vault_qdrant_api_key": QDRANT_KEY, "vault_litellm_master_key": LITELLM_KEY}
    )


def on_stdin(header: str, value: str) -> Any:
    """A script check: the secret header arrived on stdin (base64 header lines), not in argv."""

    def check(command: str, stdin: bytes | None) -> None:
        assert value not in command
        assert stdin is not None
        headers = base64.b64decode(stdin.split(b"\n")[0]).decode()
        assert f"{header}: {value}" in headers.splitlines()

    return check


def compute_host(*, ollama_up: bool = True) -> ScriptedHost:
    docker = "\n".join(
        [
            container("ollama", "ollama", "ollama", health="healthy", address="172.18.0.2"),
            container("qdrant", "qdrant", "qdrant", health=None, address="172.19.0.2"),
        ]
    )
    tags = "http://127.0.0.1:11434/api/tags"
    ollama = (
        Command(http_command(tags, timeout=10), out=http_answer(200, '{"models":[]}'))
        if ollama_up
        else Command(http_command(tags, timeout=10), err="curl: (7) Failed to connect\n", exit=7)
    )
    return ScriptedHost(
        "compute",
        [
            Command(containers_command(), out=docker + "\n"),
            ollama,
            Command(
                "http://127.0.0.1:6333/readyz",
                match="contains",
                out=http_answer(200, "all shards are ready"),
                check=on_stdin("api-key", QDRANT_KEY),
            ),
        ],
    )


def test_compute_is_gathered_in_one_batch_and_the_key_goes_on_stdin() -> None:
    compute = compute_host()
    failed, checks = verify(compute, secrets())
    assert not failed, [c.to_dict() for c in checks.values() if c.failed]
    assert set(checks) == {
        "container.ollama",
        "container.qdrant",
        "http.ollama.tags",
        "http.qdrant.readyz",
    }
    assert all(c.status is Status.PASS for c in checks.values())
    assert "GET http://127.0.0.1:6333/readyz -> 200" in checks["http.qdrant.readyz"].evidence
    # One batch (docker, the keyless probe) plus the keyed probe on its own.
    assert compute.commands_run == 2 and compute.unused() == []
    assert not any(QDRANT_KEY in c for c in compute.ran)


def test_a_down_api_fails_its_probe_with_the_remedy() -> None:
    compute = compute_host(ollama_up=False)
    failed, checks = verify(compute, None)
    assert failed
    tags = checks["http.ollama.tags"]
    assert tags.status is Status.FAIL and tags.layer is Layer.HTTP
    assert "no answer: curl: (7) Failed to connect" in tags.evidence
    assert "docker logs ollama" in tags.remedy
    # Without a secret store the keyed probe is skipped, not sent without its key.
    assert checks["http.qdrant.readyz"].status is Status.SKIP
    assert checks["container.ollama"].status is Status.PASS


def trusted_host(
    *, qdrant_resolves_to: str = "192.0.2.132", chat_status: int = 302
) -> ScriptedHost:
    docker = "\n".join(
        [
            container("litellm", "litellm", "litellm", health="healthy", address="172.20.0.2"),
            container(
                "open-webui", "openwebui", "open-webui", health="healthy", address="172.21.0.2"
            ),
            container(
                "authentik-outpost",
                "lab-edge",
                "authentik-outpost",
                health="healthy",
                address="172.22.0.3",
                networks=["frontend", "lab-edge_default"],
            ),
        ]
    )
    login = "Location: http://auth.homehub.test/flows/login/?rd=http://chat.homehub.test/\r\n"
    chat = http_answer(chat_status, headers=login if chat_status == 302 else "")
    script = [
        Command(containers_command(), out=docker + "\n"),
        Command(
            container_http_command("litellm", 4000, "/health/liveliness", timeout=10),
            out=http_answer(200, '"I\'m alive!"'),
        ),
        Command(
            container_http_command("open-webui", 8080, "/health", timeout=10),
            out=http_answer(200, '{"status":true}'),
        ),
        Command(
            "http://172.20.0.2:4000/v1/models",
            match="contains",
            out=http_answer(200, json.dumps({"data": [{"id": "qwen2.5-coder:14b"}]})),
            check=on_stdin("Authorization", f"Bearer {LITELLM_KEY}"),
        ),
        Command(
            http_command("http://127.0.0.1:80/", headers={"Host": "chat.homehub.test"}, timeout=10),
            out=chat,
        ),
        Command(
            http_command(
                "http://127.0.0.1:80/v1/models", headers={"Host": "openai.homehub.test"}, timeout=10
            ),
            out=http_answer(401),
        ),
    ]
    for c in ("litellm", "open-webui"):
        script += [
            Command(
                getent_command(c, "ollama.homehub.test"),
                out="192.0.2.132     ollama.homehub.test\n",
            ),
            Command(
                getent_command(c, "qdrant.homehub.test"),
                out=f"{qdrant_resolves_to}     qdrant.homehub.test\n",
            ),
            Command(
                fetch_command(c, "http://ollama.homehub.test:11434/api/tags"),
                out='{"models":[]}',
            ),
        ]
    return ScriptedHost("trusted", script)


def test_trusted_network_and_edge_in_one_batch() -> None:
    trusted = trusted_host()
    failed, checks = verify(trusted, secrets())
    assert not failed, [c.to_dict() for c in checks.values() if c.failed]
    assert {
        "network.litellm.ollama",
        "network.open-webui.qdrant",
        "network.litellm.ollama-api",
        "auth.chat",
        "auth.openai",
        "auth.outpost",
        "http.litellm.models",
    } <= set(checks)
    assert "-> 302 to http://auth.homehub.test/flows/login/" in checks["auth.chat"].evidence
    assert checks["auth.outpost"].status is Status.PASS
    # The batch, then the keyed /v1/models probe: the routes were served at once, no retry.
    assert trusted.commands_run == 2 and trusted.unused() == []
    assert not any(LITELLM_KEY in c for c in trusted.ran)


def test_extra_hosts_not_applied_and_an_open_route_are_named() -> None:
    trusted = trusted_host(qdrant_resolves_to="172.17.0.1", chat_status=200)
    failed, checks = verify(trusted, secrets())
    assert failed
    net = checks["network.open-webui.qdrant"]
    assert net.status is Status.FAIL and net.layer is Layer.NETWORK
    assert "-> 172.17.0.1, expected 192.0.2.132 (extra_hosts not applied)" in net.evidence
    assert "extra_hosts" in net.remedy
    chat = checks["auth.chat"]
    assert chat.status is Status.FAIL and chat.layer is Layer.AUTH
    assert "open without authentication" in chat.evidence
    assert "authentik@docker" in chat.remedy
    assert checks["auth.openai"].status is Status.PASS
