"""``check ollama``: the API answers, the configured models are installed and load on the GPU.

`evaluate_ollama` is pure (facts + inventory -> checks); `check_ollama` is the Nornir task
that asks Ollama's HTTP API on the host itself (``http://127.0.0.1:11434`` over the host's
connection), warms each installed model up, then reads where it was loaded (/api/ps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import OllamaParseError, TransportError
from nornir_homehub.facts.ollama import (
    DEFAULT_BASE_URL,
    InstalledModel,
    LoadedModel,
    Placement,
    find_model,
    parse_error,
    parse_ps,
    parse_tags,
)

if TYPE_CHECKING:
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import HostConnection

DEFAULT_WARMUP_TIMEOUT = 300.0
KEEP_ALIVE = "5m"

# From the guide's Troubleshooting section ("Ollama Model Not Loading", "Slow Response Times").
REMEDY_API = (
    "Check the container: `docker ps | grep ollama`, `docker logs ollama`; redeploy the ollama "
    "stack; the API must answer on {url} on the host"
)
REMEDY_PULL = "Pull the model manually: `docker exec ollama ollama pull {model}`"
REMEDY_NOT_LOADED = (
    "Ollama Model Not Loading: check GPU memory with `nvidia-smi` (or `check gpu`); ensure no "
    "other GPU processes are running; pull the model manually: "
    "`docker exec ollama ollama pull {model}`"
)
REMEDY_NOT_ON_GPU = (
    "Slow Response Times: verify Ollama uses the GPU: `docker exec ollama ollama ps`; check GPU "
    "utilisation: `watch -n1 nvidia-smi`; ensure the model is loaded: "
    "`docker exec ollama ollama list`; free GPU memory (no other GPU processes) or use a "
    "smaller model; check the compose file's GPU reservation and the NVIDIA Container Toolkit"
)
REMEDY_NO_MODELS = "List the models Ollama must serve in the inventory: `ollama_models: [...]`"
REMEDY_GPU_UNDECLARED = (
    "The model runs on a GPU: describe it in the inventory (`gpu: {vendor: nvidia}`)"
)


@dataclass(frozen=True)
class OllamaFacts:
    """What the Ollama API answered on one host.

    Attributes:
        base_url: the API's URL as seen from the host.
        api_error: why /api/tags gave no usable answer ("" when it did).
        installed: models from /api/tags (empty when the API failed).
        loaded: models from /api/ps after the warm-up (None when not asked).
        warmup: model -> "" when the warm-up request succeeded, else Ollama's error message;
            empty when no warm-up was made.
        ps_error: why /api/ps gave no usable answer.

    """

    base_url: str = DEFAULT_BASE_URL
    api_error: str = ""
    installed: tuple[InstalledModel, ...] = ()
    loaded: tuple[LoadedModel, ...] | None = None
    warmup: Mapping[str, str] = field(default_factory=dict)
    ps_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "base_url": self.base_url,
            "api_error": self.api_error,
            "installed": [m.to_dict() for m in self.installed],
            "loaded": None if self.loaded is None else [m.to_dict() for m in self.loaded],
            "warmup": dict(self.warmup),
            "ps_error": self.ps_error,
        }


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"


def _placement(loaded: LoadedModel, *, has_gpu: bool) -> tuple[Status, str, str]:
    where = loaded.placement
    sizes = f"size {_gib(loaded.size)}, in GPU memory {_gib(loaded.size_vram)}"
    if has_gpu:
        if where is Placement.GPU:
            return Status.PASS, f"loaded fully on the GPU ({sizes})", ""
        if where is Placement.SPLIT:
            pct = f"{loaded.gpu_pct:.0f} %"
            return (
                Status.WARN,
                f"split: only {pct} on the GPU, the rest on CPU ({sizes})",
                (REMEDY_NOT_ON_GPU),
            )
        return Status.FAIL, f"loaded on the CPU, not the GPU ({sizes})", REMEDY_NOT_ON_GPU
    if where is Placement.CPU:
        return Status.PASS, f"loaded on the CPU, as expected: no GPU in the inventory ({sizes})", ""
    return (
        Status.WARN,
        f"loaded {where} ({sizes}) although the inventory says no GPU (gpu: null)",
        REMEDY_GPU_UNDECLARED,
    )


def evaluate_ollama(
    host: str,
    models: Sequence[str],
    facts: OllamaFacts,
    *,
    has_gpu: bool,
) -> list[Check]:
    """Turn Ollama API facts into checks.

    Args:
        host: inventory name.
        models: the configured models (inventory ``ollama_models``).
        facts: what the API answered.
        has_gpu: whether the inventory gives the host a GPU (then a model must load on it;
            without one, a CPU-loaded model passes).

    Returns:
        ``ollama.api``, then per model ``ollama.model.<m>.installed`` and, for installed
        models, ``ollama.model.<m>.loaded``.

    """
    if facts.api_error:
        return [
            Check(
                name="ollama.api",
                host=host,
                layer=Layer.MODEL,
                status=Status.FAIL,
                evidence=f"{facts.base_url}/api/tags: {facts.api_error}",
                remedy=REMEDY_API.format(url=facts.base_url),
            )
        ]
    names = ", ".join(m.name for m in facts.installed) or "none"
    checks = [
        Check(
            name="ollama.api",
            host=host,
            layer=Layer.MODEL,
            status=Status.PASS if models else Status.WARN,
            evidence=f"{facts.base_url} answers; installed models: {names}"
            + ("" if models else "; no ollama_models in the inventory"),
            remedy="" if models else REMEDY_NO_MODELS,
            data={"installed": [m.to_dict() for m in facts.installed]},
        )
    ]
    for model in models:
        installed = find_model(list(facts.installed), model)
        if installed is None:
            checks.append(
                Check(
                    name=f"ollama.model.{model}.installed",
                    host=host,
                    layer=Layer.MODEL,
                    status=Status.FAIL,
                    evidence=f"{model} is not installed (installed: {names})",
                    remedy=REMEDY_PULL.format(model=model),
                )
            )
            continue
        detail = ", ".join(x for x in (installed.parameter_size, installed.quantization_level) if x)
        checks.append(
            Check(
                name=f"ollama.model.{model}.installed",
                host=host,
                layer=Layer.MODEL,
                status=Status.PASS,
                evidence=f"{installed.name} installed ({_gib(installed.size)}"
                + (f", {detail})" if detail else ")"),
                data=installed.to_dict(),
            )
        )
        checks.append(_loaded_check(host, model, facts, has_gpu=has_gpu))
    return checks


def _loaded_check(host: str, model: str, facts: OllamaFacts, *, has_gpu: bool) -> Check:
    name = f"ollama.model.{model}.loaded"
    if facts.loaded is None:
        reason = facts.ps_error or "not asked"
        return Check(
            name=name,
            host=host,
            layer=Layer.MODEL,
            status=Status.FAIL if facts.ps_error else Status.SKIP,
            evidence=f"/api/ps: {reason}",
            remedy=REMEDY_API.format(url=facts.base_url) if facts.ps_error else "",
        )
    loaded = find_model(list(facts.loaded), model)
    if loaded is None:
        warm = facts.warmup.get(model)
        if warm is None:
            return Check(
                name=name,
                host=host,
                layer=Layer.MODEL,
                status=Status.WARN,
                evidence=f"{model} is not loaded (no warm-up request was made)",
                remedy=REMEDY_NOT_LOADED.format(model=model),
            )
        why = f": warm-up failed: {warm}" if warm else " after a warm-up request"
        return Check(
            name=name,
            host=host,
            layer=Layer.MODEL,
            status=Status.FAIL,
            evidence=f"{model} is not loaded{why}",
            remedy=REMEDY_NOT_LOADED.format(model=model),
        )
    status, evidence, remedy = _placement(loaded, has_gpu=has_gpu)
    return Check(
        name=name,
        host=host,
        layer=Layer.GPU if has_gpu else Layer.MODEL,
        status=status,
        evidence=f"{loaded.name} {evidence}",
        remedy=remedy,
        data=loaded.to_dict(),
    )


def gather_ollama(
    conn: HostConnection,
    models: Sequence[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    warmup: bool = True,
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
    timeout: float = 10,
) -> OllamaFacts:
    """Ask the Ollama API on the host: /api/tags, a warm-up per installed model, /api/ps.

    Args:
        conn: the host's connection (requests run on the host).
        models: the configured models to warm up (only those installed are).
        base_url: the API as seen from the host.
        warmup: send ``POST /api/generate {"model": m, "prompt": "", "keep_alive": "5m"}``.
        warmup_timeout: seconds to wait for one model to load.
        timeout: seconds for the other requests.

    Returns:
        The facts; an unreachable API is recorded in ``api_error``, not raised.

    """
    from nornir_homehub.facts.http import http_get

    base = base_url.rstrip("/")
    try:
        tags = http_get(conn, f"{base}/api/tags", timeout=timeout)
    except TransportError as exc:
        return OllamaFacts(base_url=base, api_error=_strip_host(str(exc), conn.name))
    if not tags.ok:
        return OllamaFacts(base_url=base, api_error=f"HTTP {tags.status}: {parse_error(tags.text)}")
    try:
        installed = tuple(parse_tags(tags.text))
    except OllamaParseError as exc:
        return OllamaFacts(base_url=base, api_error=str(exc))
    warm: dict[str, str] = {}
    if warmup:
        for model in models:
            if find_model(list(installed), model) is None:
                continue
            body = json.dumps({"model": model, "prompt": "", "keep_alive": KEEP_ALIVE})
            try:
                res = http_get(
                    conn,
                    f"{base}/api/generate",
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/json"},
                    timeout=warmup_timeout,
                )
                warm[model] = "" if res.ok else f"HTTP {res.status}: {parse_error(res.text)}"
            except TransportError as exc:
                warm[model] = _strip_host(str(exc), conn.name)
    try:
        ps = http_get(conn, f"{base}/api/ps", timeout=timeout)
        if not ps.ok:
            raise OllamaParseError(f"HTTP {ps.status}: {parse_error(ps.text)}")
        loaded: tuple[LoadedModel, ...] | None = tuple(parse_ps(ps.text))
        ps_error = ""
    except (TransportError, OllamaParseError) as exc:
        loaded, ps_error = None, _strip_host(str(exc), conn.name)
    return OllamaFacts(
        base_url=base, installed=installed, loaded=loaded, warmup=warm, ps_error=ps_error
    )


def _strip_host(message: str, host: str) -> str:
    """Drop a leading ``host: `` from an error message (the check already names the host)."""
    return message.removeprefix(f"{host}: ")


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
    models = [str(m) for m in host.get("ollama_models") or []]
    facts = gather_ollama(
        host_connection(task),
        models,
        base_url=str(host.get("ollama_url") or DEFAULT_BASE_URL),
        warmup=warmup,
        warmup_timeout=warmup_timeout,
    )
    checks = evaluate_ollama(host.name, models, facts, has_gpu=bool(host.get("gpu")))
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)
