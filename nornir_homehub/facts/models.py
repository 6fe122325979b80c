"""Model facts of a compute host: the ``models`` table rows and the ollama container's GPU request.

Pure parsers beside their commands: `device_requests_command` / `parse_device_requests` (does
the ollama container ask Docker for a GPU?) and `model_rows` (hosts x models, from the Ollama
API facts of `facts.ollama` and the inventory's entries).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.facts.ollama import find_model, normalize_model

if TYPE_CHECKING:
    from nornir_homehub.facts.ollama import OllamaFacts
    from nornir_homehub.plan.models import ModelEntry


def device_requests_command(container: str = "ollama") -> str:
    """``docker inspect`` of the container's device requests, as JSON (exit 1: no container)."""
    fmt = "{{json .HostConfig.DeviceRequests}}"
    return f"docker inspect --format {shlex.quote(fmt)} {shlex.quote(container)}"


def parse_device_requests(exit_code: int, stdout: str) -> bool | None:
    """True when a device request asks for a GPU, False when none does, None when unknown.

    A GPU request is one with the ``nvidia`` driver or a ``gpu`` capability (what Compose's
    ``deploy.resources.reservations.devices`` and ``docker run --gpus`` create).
    """
    if exit_code != 0:
        return None
    try:
        doc = json.loads(stdout.strip() or "null")
    except json.JSONDecodeError:
        return None
    if doc is None:
        return False
    if not isinstance(doc, list):
        return None
    for req in doc:
        if not isinstance(req, dict):
            continue
        caps = [c for group in req.get("Capabilities") or [] for c in group or []]
        if str(req.get("Driver") or "").lower() == "nvidia" or "gpu" in caps:
            return True
    return False


@dataclass(frozen=True)
class ModelRow:
    """One host x model cell of the ``models`` table.

    Attributes:
        host: inventory name.
        model: the model's name (as the inventory or Ollama lists it).
        desired: the inventory lists it.
        installed: Ollama lists it in /api/tags.
        digest: its digest ("" when not installed); ``pin`` the inventory's pin ("" none).
        size: bytes on disk (0 when not installed).
        loaded: it is in /api/ps; ``placement`` gpu/cpu/split ("" when not loaded).
        size_vram: bytes of it in GPU memory (0 when not loaded or on the CPU).
        keep_loaded: the inventory asks to keep it in memory.

    """

    host: str
    model: str
    desired: bool
    installed: bool
    digest: str = ""
    pin: str = ""
    size: int = 0
    loaded: bool = False
    placement: str = ""
    size_vram: int = 0
    keep_loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def model_rows(host: str, entries: Sequence[ModelEntry], facts: OllamaFacts) -> list[ModelRow]:
    """The host's rows: every desired entry first (inventory order), then the extra installed."""
    rows = []
    seen = set()
    installed = list(facts.installed)
    loaded = list(facts.loaded or ())
    for e in entries:
        seen.add(normalize_model(e.name))
        rows.append(_row(host, e.name, installed, loaded, entry=e))
    for m in installed:
        if normalize_model(m.name) not in seen:
            rows.append(_row(host, m.name, installed, loaded, entry=None))
    return rows


def _row(
    host: str, name: str, installed: list[Any], loaded: list[Any], *, entry: ModelEntry | None
) -> ModelRow:
    inst = find_model(installed, name)
    run = find_model(loaded, name)
    return ModelRow(
        host=host,
        model=name,
        desired=entry is not None,
        installed=inst is not None,
        digest=inst.digest if inst else "",
        pin=entry.digest if entry else "",
        size=inst.size if inst else 0,
        loaded=run is not None,
        placement=str(run.placement) if run else "",
        size_vram=run.size_vram if run else 0,
        keep_loaded=entry.keep_loaded if entry else False,
    )
