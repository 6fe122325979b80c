"""``models.litellm.<model>@<host>``: each Ollama backend as LiteLLM itself sees it.

`evaluate_backends` is pure: the compute hosts' backends LiteLLM's config lists
(`inventory.site_vars`' ``ollama_backends``) and the proxy's ``GET /health`` answer
(`facts.litellm.parse_health`) -> one check per backend and model. The request is made from the
trusted host by `tasks.verify.verify_stacks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check, Layer, Status

if TYPE_CHECKING:
    from nornir_homehub.facts.litellm import LiteLLMHealth

REMEDY_UNHEALTHY = (
    "LiteLLM cannot use the Ollama backend on {backend} ({api_base}): {error}. Check that Ollama "
    "runs on {backend} (`docker ps | grep ollama`, `docker logs ollama` there; redeploy it: "
    "`deploy --filter name={backend}`) and that {api_base} is reachable from the trusted "
    "host's containers (`docker exec litellm curl -s {api_base}/api/tags`: address, firewall, "
    "extra_hosts)"
)
REMEDY_NOT_LISTED = (
    "LiteLLM's config has no deployment {model} at {api_base} for {backend}: a deploy lists "
    "only the models installed on each compute host; run `deploy` (it pulls {model} on "
    "{backend}, then renders LiteLLM's config again)"
)
REMEDY_NO_HEALTH = (
    "LiteLLM's /health did not answer ({error}): check the litellm container (`docker logs "
    "litellm`) and the master key in .env.litellm (vault_litellm_master_key); then the "
    "backend on {backend} ({api_base})"
)


def evaluate_backends(
    host: str,
    backends: Sequence[Mapping[str, Any]],
    health: LiteLLMHealth | None,
    *,
    error: str = "",
) -> list[Check]:
    """One check per Ollama backend and model: healthy in LiteLLM's ``/health``.

    Args:
        host: the trusted host (where LiteLLM runs and the request was made).
        backends: ``{name, api_base, models}`` per compute host (``ollama_backends``).
        health: the parsed ``/health`` answer; None when it could not be had.
        error: why there is no answer (HTTP status, transport or parse error); no secret.

    Returns:
        ``models.litellm.<model>@<backend>`` checks (layer model), in backend then model order.

    """
    checks = []
    for backend in backends:
        name = str(backend["name"])
        api_base = str(backend["api_base"])
        for model in backend.get("models") or []:
            deployment = f"{model}@{name}"
            data: dict[str, Any] = {
                "backend": name,
                "api_base": api_base,
                "model": str(model),
                "deployment": deployment,
            }
            where = f"LiteLLM on {host}: deployment {deployment} ({api_base})"
            fmt = {"backend": name, "api_base": api_base, "model": model, "error": error}
            if health is None:
                status, evidence = Status.FAIL, f"{where}: /health unavailable: {error}"
                remedy = REMEDY_NO_HEALTH.format(**fmt)
            else:
                found = health.find(f"ollama_chat/{model}", api_base)
                if found is None:
                    status, evidence = Status.FAIL, f"{where}: not in LiteLLM's /health"
                    remedy = REMEDY_NOT_LISTED.format(**fmt)
                elif found.healthy:
                    status, evidence, remedy = Status.PASS, f"{where}: healthy", ""
                else:
                    why = found.error or "no error given"
                    data["error"] = why
                    status, evidence = Status.FAIL, f"{where}: unhealthy: {why}"
                    remedy = REMEDY_UNHEALTHY.format(**{**fmt, "error": why})
            checks.append(
                Check(
                    f"models.litellm.{deployment}",
                    host,
                    Layer.MODEL,
                    status,
                    evidence,
                    remedy,
                    data,
                )
            )
    return checks
