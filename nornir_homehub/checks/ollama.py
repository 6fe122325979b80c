"""``check ollama``: the API answers, the configured models are installed and load on the GPU.

`evaluate_ollama` is pure (facts + inventory -> checks). The facts come from Ollama's HTTP API
on the host itself (`facts.ollama.gather_ollama`); the Nornir task is
`tasks.ollama.check_ollama`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nornir_homehub.checks.model import Check, Layer, Status, verdict
from nornir_homehub.facts.ollama import Placement, find_model

if TYPE_CHECKING:
    from nornir_homehub.facts.ollama import LoadedModel, OllamaFacts

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
        seen = f"{facts.base_url}/api/tags: {facts.api_error}"
        remedy = REMEDY_API.format(url=facts.base_url)
        return [Check("ollama.api", host, Layer.MODEL, Status.FAIL, seen, remedy)]
    names = ", ".join(m.name for m in facts.installed) or "none"
    seen = f"{facts.base_url} answers; installed models: {names}"
    if not models:
        seen += "; no ollama_models in the inventory"
    listing = {"installed": [m.to_dict() for m in facts.installed]}
    api = verdict(
        "ollama.api",
        host,
        Layer.MODEL,
        bool(models),
        seen,
        REMEDY_NO_MODELS,
        listing,
        bad=Status.WARN,
    )
    checks = [api]
    for model in models:
        name = f"ollama.model.{model}.installed"
        installed = find_model(list(facts.installed), model)
        if installed is None:
            seen = f"{model} is not installed (installed: {names})"
            pull = REMEDY_PULL.format(model=model)
            checks.append(Check(name, host, Layer.MODEL, Status.FAIL, seen, pull))
            continue
        detail = ", ".join(x for x in (installed.parameter_size, installed.quantization_level) if x)
        seen = f"{installed.name} installed ({_gib(installed.size)}" + (
            f", {detail})" if detail else ")"
        )
        checks.append(Check(name, host, Layer.MODEL, Status.PASS, seen, "", installed.to_dict()))
        checks.append(_loaded_check(host, model, facts, has_gpu=has_gpu))
    return checks


def _loaded_check(host: str, model: str, facts: OllamaFacts, *, has_gpu: bool) -> Check:
    name = f"ollama.model.{model}.loaded"
    if facts.loaded is None:
        seen = f"/api/ps: {facts.ps_error or 'not asked'}"
        if not facts.ps_error:
            return Check(name, host, Layer.MODEL, Status.SKIP, seen)
        return Check(
            name, host, Layer.MODEL, Status.FAIL, seen, REMEDY_API.format(url=facts.base_url)
        )
    loaded = find_model(list(facts.loaded), model)
    if loaded is None:
        warm = facts.warmup.get(model)
        remedy = REMEDY_NOT_LOADED.format(model=model)
        if warm is None:
            seen = f"{model} is not loaded (no warm-up request was made)"
            return Check(name, host, Layer.MODEL, Status.WARN, seen, remedy)
        why = f": warm-up failed: {warm}" if warm else " after a warm-up request"
        return Check(name, host, Layer.MODEL, Status.FAIL, f"{model} is not loaded{why}", remedy)
    status, evidence, remedy = _placement(loaded, has_gpu=has_gpu)
    layer = Layer.GPU if has_gpu else Layer.MODEL
    return Check(name, host, layer, status, f"{loaded.name} {evidence}", remedy, loaded.to_dict())
