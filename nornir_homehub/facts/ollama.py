"""Ollama facts from its HTTP API: installed models (/api/tags) and loaded ones (/api/ps).

Pure parsers only; the requests are made on the host by `nornir_homehub.facts.http`.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from nornir_homehub.errors import OllamaParseError
from nornir_homehub.secrets import redact_head

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
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
        return {
            "name": self.name,
            "size": self.size,
            "digest": self.digest,
            "modified_at": self.modified_at,
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


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
