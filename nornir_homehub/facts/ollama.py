"""Ollama facts from its HTTP API: installed models (/api/tags) and loaded ones (/api/ps).

The parsers are pure; `gather_ollama` makes the requests on the host itself, over its
connection, with `nornir_homehub.facts.http` (a warm-up per configured model, then /api/ps).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from nornir_homehub.errors import OllamaParseError, TransportError
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.facts.http import HttpResponse

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
DEFAULT_WARMUP_TIMEOUT = 300.0
KEEP_ALIVE = "5m"
_LIBRARY_PREFIX = "registry.ollama.ai/library/"


class Placement(enum.StrEnum):
    """Where a loaded model's weights are: GPU memory, system memory, or both."""

    GPU = "gpu"
    CPU = "cpu"
    SPLIT = "split"


@dataclass(frozen=True)
class InstalledModel:
    """One model from ``GET /api/tags``."""

    name: str
    size: int
    digest: str = ""
    modified_at: str = ""
    parameter_size: str = ""
    quantization_level: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LoadedModel:
    """One model from ``GET /api/ps``: its size and how much of it sits in GPU memory."""

    name: str
    size: int
    size_vram: int
    expires_at: str = ""

    @property
    def placement(self) -> Placement:
        """GPU when all of it is in VRAM, CPU when none is, SPLIT otherwise."""
        if self.size_vram <= 0:
            return Placement.CPU
        if self.size_vram >= self.size:
            return Placement.GPU
        return Placement.SPLIT

    @property
    def gpu_pct(self) -> float:
        """Percentage of the model held in GPU memory."""
        return 100.0 if self.size <= 0 else min(100.0, 100.0 * self.size_vram / self.size)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with placement and GPU percentage)."""
        return {
            "name": self.name,
            "size": self.size,
            "size_vram": self.size_vram,
            "expires_at": self.expires_at,
            "placement": str(self.placement),
            "gpu_pct": round(self.gpu_pct, 1),
        }


_M = TypeVar("_M", InstalledModel, LoadedModel)


def normalize_model(name: str) -> str:
    """Return the canonical form of a model name: ``qwen2.5-coder`` -> ``qwen2.5-coder:latest``.

    The default registry's ``registry.ollama.ai/library/`` prefix is dropped.
    """
    name = name.strip()
    name = name.removeprefix(_LIBRARY_PREFIX)
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _load(text: str, endpoint: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OllamaParseError(f"Ollama {endpoint} answer is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        raise OllamaParseError(f'Ollama {endpoint} answer has no "models" list')
    models: list[dict[str, Any]] = doc["models"]
    for m in models:
        if not isinstance(m, dict) or not isinstance(m.get("name") or m.get("model"), str):
            raise OllamaParseError(f"Ollama {endpoint} lists a model without a name: {m!r:.200}")
    return models


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_tags(text: str) -> list[InstalledModel]:
    """Parse the JSON of ``GET /api/tags`` (the installed models).

    Raises:
        OllamaParseError: not JSON, or no ``models`` list.

    """
    out = []
    for m in _load(text, "/api/tags"):
        raw_details = m.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        out.append(
            InstalledModel(
                name=str(m.get("name") or m.get("model")),
                size=_int(m.get("size")),
                digest=str(m.get("digest", "")),
                modified_at=str(m.get("modified_at", "")),
                parameter_size=str(details.get("parameter_size", "")),
                quantization_level=str(details.get("quantization_level", "")),
            )
        )
    return out


def parse_ps(text: str) -> list[LoadedModel]:
    """Parse the JSON of ``GET /api/ps`` (the models loaded in memory).

    Raises:
        OllamaParseError: not JSON, or no ``models`` list.

    """
    return [
        LoadedModel(
            name=str(m.get("name") or m.get("model")),
            size=_int(m.get("size")),
            size_vram=_int(m.get("size_vram")),
            expires_at=str(m.get("expires_at", "")),
        )
        for m in _load(text, "/api/ps")
    ]


def parse_error(text: str) -> str:
    """Return Ollama's ``{"error": "..."}`` message from a failed request, else the text's start."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return redact_head(text.strip(), 200)
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return redact_head(str(doc["error"]), 300)
    return redact_head(text.strip(), 200)


def find_model(models: list[_M], wanted: str) -> _M | None:
    """Return the model named ``wanted`` (compared in `normalize_model` form), or None."""
    key = normalize_model(wanted)
    for m in models:
        if normalize_model(m.name) == key:
            return m
    return None


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


def gather_ollama(
    conn: HostConnection,
    models: Sequence[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    warmup: bool = True,
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
    timeout: float = 10,
    keep_alive: Mapping[str, str | int] | None = None,
    read: Mapping[str, CommandResult] | None = None,
) -> OllamaFacts:
    """Ask the Ollama API on the host: /api/tags, a warm-up per installed model, /api/ps.

    Args:
        conn: the host's connection (requests run on the host).
        models: the configured models to warm up (only those installed are).
        base_url: the API as seen from the host.
        warmup: send ``POST /api/generate {"model": m, "prompt": "", "keep_alive": "5m"}``.
        warmup_timeout: seconds to wait for one model to load.
        timeout: seconds for the other requests.
        keep_alive: model -> the warm-up's ``keep_alive`` (``-1``: keep it loaded) instead of
            the default 5 minutes.
        read: the results of `read_commands` run already (without a warm-up only): the
            answers are taken from them instead of asking again.

    Returns:
        The facts; an unreachable API is recorded in ``api_error``, not raised.

    """
    from nornir_homehub.facts.http import http_get

    base = base_url.rstrip("/")
    urls = (f"{base}/api/tags", f"{base}/api/ps")
    tags: HttpResponse | TransportError
    early: HttpResponse | TransportError | None
    if read is not None and set(urls) <= set(read) and not (warmup and models):
        from nornir_homehub.facts.http import get_answers

        got = get_answers(conn, {u: read[u] for u in urls})
        tags, early = got[urls[0]], got[urls[1]]
    else:
        tags, early = _tags(conn, base, timeout, ps_too=not (warmup and models))
    if isinstance(tags, TransportError):
        return OllamaFacts(base_url=base, api_error=_strip_host(str(tags), conn.name))
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
            alive: str | int = (keep_alive or {}).get(model, KEEP_ALIVE)
            body = json.dumps({"model": model, "prompt": "", "keep_alive": alive})
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
        ps = early or http_get(conn, f"{base}/api/ps", timeout=timeout)
        if isinstance(ps, TransportError):
            raise ps
        if not ps.ok:
            raise OllamaParseError(f"HTTP {ps.status}: {parse_error(ps.text)}")
        loaded: tuple[LoadedModel, ...] | None = tuple(parse_ps(ps.text))
        ps_error = ""
    except (TransportError, OllamaParseError) as exc:
        loaded, ps_error = None, _strip_host(str(exc), conn.name)
    return OllamaFacts(
        base_url=base, installed=installed, loaded=loaded, warmup=warm, ps_error=ps_error
    )


def read_commands(base_url: str = DEFAULT_BASE_URL, timeout: float = 10) -> dict[str, str]:
    """The batch commands that read /api/tags and /api/ps (url -> script; `gather_ollama`)."""
    from nornir_homehub.facts.http import get_commands

    base = base_url.rstrip("/")
    return get_commands([f"{base}/api/tags", f"{base}/api/ps"], timeout=timeout)


def _tags(
    conn: HostConnection, base: str, timeout: float, *, ps_too: bool
) -> tuple[HttpResponse | TransportError, HttpResponse | TransportError | None]:
    """``GET /api/tags``; with ``ps_too`` (no warm-up in between) ``/api/ps`` in the same trip."""
    from nornir_homehub.facts.http import http_get, http_get_many

    if ps_too:
        both = http_get_many(conn, [f"{base}/api/tags", f"{base}/api/ps"], timeout=timeout)
        return both[f"{base}/api/tags"], both[f"{base}/api/ps"]
    try:
        return http_get(conn, f"{base}/api/tags", timeout=timeout), None
    except TransportError as exc:
        return exc, None


def _strip_host(message: str, host: str) -> str:
    """Drop a leading ``host: `` from an error message (the check already names the host)."""
    return message.removeprefix(f"{host}: ")
