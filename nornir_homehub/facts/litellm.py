"""LiteLLM facts: the proxy's own view of each deployment, from ``GET /health``.

LiteLLM answers ``/health`` (master key required) by calling every deployment of its config and
listing each under ``healthy_endpoints`` or ``unhealthy_endpoints``: the deployment's
``litellm_params`` without secrets (``model``, ``api_base``, ...) and, for an unhealthy one, the
``error`` the provider gave. `parse_health` is pure; the request is made by `tasks.verify`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from nornir_homehub.errors import LiteLLMParseError
from nornir_homehub.secrets import redact_head

HEALTH_PATH = "/health"
# LiteLLM's error text can hold a whole traceback: only its head goes into a check.
_ERROR_LIMIT = 400


@dataclass(frozen=True)
class Endpoint:
    """One deployment as ``/health`` lists it."""

    model: str
    api_base: str
    healthy: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LiteLLMHealth:
    """The answer of ``GET /health``: every deployment, healthy ones first."""

    endpoints: tuple[Endpoint, ...]

    def find(self, model: str, api_base: str) -> Endpoint | None:
        """The deployment calling ``model`` at ``api_base`` (a trailing ``/`` ignored)."""
        base = api_base.rstrip("/")
        for e in self.endpoints:
            if e.model == model and e.api_base.rstrip("/") == base:
                return e
        return None


def _endpoints(doc: dict[str, Any], key: str, *, healthy: bool) -> list[Endpoint]:
    raw = doc.get(key, [])
    if not isinstance(raw, list):
        raise LiteLLMParseError(f'LiteLLM /health answer: "{key}" is not a list')
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("model"), str):
            raise LiteLLMParseError(
                f'LiteLLM /health answer: an entry of "{key}" has no model: {item!r:.200}'
            )
        error = item.get("error")
        out.append(
            Endpoint(
                model=item["model"],
                api_base=str(item.get("api_base") or ""),
                healthy=healthy,
                error="" if error is None else redact_head(str(error).strip(), _ERROR_LIMIT),
            )
        )
    return out


def parse_health(text: str) -> LiteLLMHealth:
    """Parse the JSON of LiteLLM's ``GET /health``.

    Raises:
        LiteLLMParseError: not JSON, not an object, or neither endpoint list present; an entry
            without a ``model``.

    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LiteLLMParseError(f"LiteLLM /health answer is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not (
        "healthy_endpoints" in doc or "unhealthy_endpoints" in doc
    ):
        raise LiteLLMParseError(
            'LiteLLM /health answer has neither "healthy_endpoints" nor "unhealthy_endpoints"'
        )
    return LiteLLMHealth(
        (
            *_endpoints(doc, "healthy_endpoints", healthy=True),
            *_endpoints(doc, "unhealthy_endpoints", healthy=False),
        )
    )
