"""``models.litellm.<model>@<host>`` through the scripted double: each backend through LiteLLM.

The trusted host is a `ScriptedHost` answering verify's batch (as in test_verify_task) plus
LiteLLM's ``GET /health`` at the litellm container's address; two compute hosts (compute, which
holds Qdrant and is reached as ``ollama.<domain>``, and node01, reached by address) make two
backends. The master key must reach the host on stdin only and appear in no check.
"""

from __future__ import annotations

import json
from typing import Any

from test_verify_task import (
    LITELLM_KEY,
    SITE,
    STACKS,
    http_answer,
    on_stdin,
    secrets,
    trusted_host,
)

from nornir_homehub.checks.model import Layer, Status
from nornir_homehub.secrets import SecretStore
from nornir_homehub.tasks.verify import verify_stacks
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

MODEL = "qwen2.5-coder:14b"
PRIMARY = "http://ollama.homehub.test:11434"
NODE01 = "http://192.0.2.140:11434"
HEALTH_URL = "http://172.20.0.2:4000/health"


def _endpoint(base: str, error: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"model": f"ollama_chat/{MODEL}", "api_base": base}
    if error is not None:
        item["error"] = error
    return item


def health_answer(*, node01_error: str | None = None) -> str:
    """LiteLLM's /health body for the two backends; node01 unhealthy when an error is given."""
    healthy = [_endpoint(PRIMARY)]
    unhealthy = []
    if node01_error is None:
        healthy.append(_endpoint(NODE01))
    else:
        unhealthy.append(_endpoint(NODE01, node01_error))
    return json.dumps(
        {
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
        }
    )


def trusted_with_health(status: int, body: str) -> ScriptedHost:
    """The healthy trusted host of test_verify_task, whose LiteLLM also answers /health."""
    host = trusted_host()
    host.script.insert(
        0,
        Command(
            HEALTH_URL,
            match="contains",
            out=http_answer(status, body),
            check=on_stdin("Authorization", f"Bearer {LITELLM_KEY}"),
        ),
    )
    return host


def verify(trusted: ScriptedHost, store: SecretStore | None) -> tuple[bool, dict[str, Any]]:
    """Run `verify_stacks` on ``trusted`` with compute and node01 in the inventory."""
    base = {**SITE, "ollama_models": [MODEL]}
    hosts = {
        "trusted": (
            {
                **base,
                "role": "trusted",
                "fqdn": "trusted.homehub.test",
                "hostname": "192.0.2.131",
                "stacks": ["litellm", "openwebui"],
            },
            trusted,
        ),
        "compute": (
            {
                **base,
                "role": "compute",
                "fqdn": "compute.homehub.test",
                "hostname": "192.0.2.132",
                "stacks": ["ollama", "qdrant"],
            },
            ScriptedHost("compute"),
        ),
        "node01": (
            {
                **base,
                "role": "compute",
                "fqdn": "node01.homehub.test",
                "hostname": "192.0.2.140",
                "stacks": ["ollama"],
            },
            ScriptedHost("node01"),
        ),
    }
    nr = scripted_nornir(hosts)
    agg = nr.filter(name="trusted").run(task=verify_stacks, stacks_dir=STACKS, secrets=store)
    return agg.failed, {c.name: c for c in agg["trusted"][0].result}


def _no_key_anywhere(trusted: ScriptedHost, checks: dict[str, Any]) -> None:
    assert not any(LITELLM_KEY in c for c in trusted.ran)
    assert not any(LITELLM_KEY in json.dumps(c.to_dict()) for c in checks.values())


def test_each_backend_passes_through_litellm() -> None:
    trusted = trusted_with_health(200, health_answer())
    failed, checks = verify(trusted, secrets())
    assert not failed, [c.to_dict() for c in checks.values() if c.failed]
    for host, base in (("compute", PRIMARY), ("node01", NODE01)):
        check = checks[f"models.litellm.{MODEL}@{host}"]
        assert check.status is Status.PASS and check.layer is Layer.MODEL
        assert check.host == "trusted"
        assert check.data == {
            "backend": host,
            "api_base": base,
            "model": MODEL,
            "deployment": f"{MODEL}@{host}",
        }
    # The batch, the keyed /v1/models probe, then /health with the key on stdin.
    assert trusted.commands_run == 3 and trusted.unused() == []
    _no_key_anywhere(trusted, checks)


def test_a_backend_down_fails_naming_its_host_api_base_and_litellm_error() -> None:
    error = "litellm.APIConnectionError: OllamaException - Cannot connect to host 192.0.2.140"
    trusted = trusted_with_health(200, health_answer(node01_error=error))
    failed, checks = verify(trusted, secrets())
    assert failed
    assert checks[f"models.litellm.{MODEL}@compute"].status is Status.PASS
    down = checks[f"models.litellm.{MODEL}@node01"]
    assert down.status is Status.FAIL
    assert f"({NODE01}): unhealthy: {error}" in down.evidence
    assert f"Ollama backend on node01 ({NODE01}): {error}" in down.remedy
    assert "Check that Ollama runs on node01" in down.remedy
    assert "reachable from the trusted host's containers" in down.remedy
    assert [c.name for c in checks.values() if c.failed] == [down.name]
    _no_key_anywhere(trusted, checks)


def test_a_wrong_master_key_fails_every_backend_and_says_so() -> None:
    trusted = trusted_with_health(401, '{"error":{"message":"Authentication Error"}}')
    failed, checks = verify(trusted, secrets())
    assert failed
    for host in ("compute", "node01"):
        check = checks[f"models.litellm.{MODEL}@{host}"]
        assert check.status is Status.FAIL
        assert "/health unavailable: HTTP 401" in check.evidence
        assert "vault_litellm_master_key" in check.remedy
    _no_key_anywhere(trusted, checks)


def test_an_answer_that_is_not_health_json_is_a_failure_not_a_traceback() -> None:
    trusted = trusted_with_health(200, "<html>502 Bad Gateway</html>")
    failed, checks = verify(trusted, secrets())
    assert failed
    check = checks[f"models.litellm.{MODEL}@node01"]
    assert "/health unavailable: LiteLLM /health answer is not JSON" in check.evidence


def test_without_a_secret_store_the_backends_are_skipped_not_asked_without_the_key() -> None:
    trusted = trusted_with_health(200, health_answer())
    _, checks = verify(trusted, None)
    assert checks["models.litellm"].status is Status.SKIP
    assert "vault_litellm_master_key" in checks["models.litellm"].evidence
    assert not any(HEALTH_URL in c for c in trusted.ran)
