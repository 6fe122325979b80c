"""The ``check ollama`` task: ask Ollama's API on the host, warm the models up, evaluate.

The facts are `facts.ollama.gather_ollama` (requests made on the host itself, over its
connection), the checks `checks.ollama.evaluate_ollama`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.checks.ollama import evaluate_ollama
from nornir_homehub.facts.ollama import DEFAULT_BASE_URL, DEFAULT_WARMUP_TIMEOUT, gather_ollama

if TYPE_CHECKING:
    from nornir.core.task import Result, Task


def check_ollama(
    task: Task,
    warmup: bool = True,
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
) -> Result:
    """Nornir task: check Ollama on a host that runs the ``ollama`` stack.

    Host data used: ``stacks`` (must contain ``ollama``, else one skipped check),
    ``ollama_models``, ``gpu`` (None: CPU placement is expected), ``ollama_url`` (default
    ``http://127.0.0.1:11434``).

    Returns:
        Result with ``result`` = list of `Check`, ``failed`` when a check failed,
        ``changed`` False (a warm-up loads a model but changes no configuration).

    Raises:
        TransportError: the host cannot be reached over SSH.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection

    host = task.host
    stacks = host.get("stacks") or []
    if "ollama" not in stacks:
        checks = [
            Check(
                name="ollama",
                host=host.name,
                layer=Layer.MODEL,
                status=Status.SKIP,
                evidence="ollama is not deployed on this host "
                f"(stacks: {', '.join(stacks) or 'none'})",
            )
        ]
        return Result(host=host, result=checks, failed=False, changed=False)
    from nornir_homehub.plan.models import parse_model_entries

    models = [e.name for e in parse_model_entries(host.get("ollama_models"))]
    facts = gather_ollama(
        host_connection(task),
        models,
        base_url=str(host.get("ollama_url") or DEFAULT_BASE_URL),
        warmup=warmup,
        warmup_timeout=warmup_timeout,
    )
    checks = evaluate_ollama(host.name, models, facts, has_gpu=bool(host.get("gpu")))
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)
