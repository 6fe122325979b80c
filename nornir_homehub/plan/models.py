"""Ollama models as desired state: the inventory's ``ollama_models`` entries and their plans.

Pure code. An entry is a name, an optional digest pin and an optional ``keep_loaded``; the
plain string form (``qwen2.5-coder:14b``) is the entry ``{name: qwen2.5-coder:14b}``.
`parse_model_entries` reads the inventory value (validation at load uses its problems),
`plan_model_pulls` says which entries a compute host must pull, `plan_model_prune` which
installed models are not desired, and `present_model_names` which models LiteLLM may route to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_homehub.problems import show, type_name

ENTRY_KEYS = ("name", "digest", "keep_loaded")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
_DIGEST = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class ModelEntry:
    """One desired model.

    Attributes:
        name: the model reference (``qwen2.5-coder:14b``; ``:latest`` when no tag).
        digest: a sha256 (hex, optionally ``sha256:``-prefixed, 12-64 digits) the installed
            model must have; "" when not pinned.
        keep_loaded: keep the model in memory (warmed up on deploy with ``keep_alive: -1``).

    """

    name: str
    digest: str = ""
    keep_loaded: bool = False

    @property
    def pull_ref(self) -> str:
        """What ``ollama pull`` gets: ``name@sha256:<digest>`` when pinned, else the name."""
        return f"{self.name}@sha256:{self.bare_digest}" if self.digest else self.name

    @property
    def bare_digest(self) -> str:
        """The pin's hex digits, without ``sha256:``."""
        return self.digest.removeprefix("sha256:")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the inventory's mapping form)."""
        return {"name": self.name, "digest": self.digest, "keep_loaded": self.keep_loaded}


def normalize_name(name: str) -> str:
    """``name`` with ``:latest`` when it has no tag, as Ollama lists it."""
    tail = name.rsplit("/", 1)[-1]
    return name if ":" in tail else f"{name}:latest"


def entry_problems(value: object) -> list[tuple[list[object], str]]:
    """Why ``value`` is not a valid ``ollama_models`` list: (key path below it, message) pairs."""
    if value is None:
        return []
    if not isinstance(value, list):
        forms = "model names or {name, digest, keep_loaded} mappings"
        return [([], f"must be a list of {forms}, got {type_name(value)}")]
    problems: list[tuple[list[object], str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        item = {"name": raw} if isinstance(raw, str) else raw
        if not isinstance(item, Mapping):
            problems.append(([i], f"must be a model name or a mapping, got {type_name(item)}"))
            continue
        unknown = sorted(str(k) for k in item if k not in ENTRY_KEYS)
        if unknown:
            problems.append(
                ([i], f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(ENTRY_KEYS)}")
            )
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(
                ([i, "name"], f"must be a model name like qwen2.5-coder:14b, got {show(name)}")
            )
        elif normalize_name(name) in seen:
            problems.append(([i, "name"], f"model {name} is listed twice"))
        else:
            seen.add(normalize_name(name))
        digest = item.get("digest")
        if digest is not None and (not isinstance(digest, str) or not _DIGEST.match(digest)):
            problems.append(
                (
                    [i, "digest"],
                    f"must be a sha256 digest (12-64 lowercase hex digits), got {show(digest)}",
                )
            )
        keep = item.get("keep_loaded")
        if keep is not None and not isinstance(keep, bool):
            problems.append(([i, "keep_loaded"], f"must be true or false, got {show(keep)}"))
    return problems


def parse_model_entries(value: object) -> list[ModelEntry]:
    """The entries of an ``ollama_models`` value (validated at load; bad items are skipped)."""
    if not isinstance(value, list):
        return []
    entries = []
    for item in value:
        spec: Mapping[str, Any] = {"name": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            continue
        entries.append(
            ModelEntry(
                name=str(spec["name"]),
                digest=str(spec.get("digest") or ""),
                keep_loaded=bool(spec.get("keep_loaded") or False),
            )
        )
    return entries


@dataclass(frozen=True)
class ModelPull:
    """A planned model action on one host, with its reason."""

    entry: ModelEntry
    pull: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"model": self.entry.name, "pull": self.pull, "reason": self.reason}


def _digest_matches(pin: str, digest: str) -> bool:
    have = digest.removeprefix("sha256:")
    return bool(have) and (have.startswith(pin) or pin.startswith(have))


def plan_model_pulls(
    entries: Sequence[ModelEntry], installed: Mapping[str, str]
) -> list[ModelPull]:
    """Which desired models a host must pull, each with why (or why not).

    Args:
        entries: the inventory's entries.
        installed: the host's installed models, normalised name -> digest.

    """
    plans = []
    for e in entries:
        have = installed.get(normalize_name(e.name))
        if have is None:
            plans.append(ModelPull(e, True, "not installed"))
        elif e.digest and not _digest_matches(e.bare_digest, have):
            plans.append(
                ModelPull(
                    e, True, f"installed digest {have[:12]} is not the pin {e.bare_digest[:12]}"
                )
            )
        else:
            why = "installed, digest matches the pin" if e.digest else "installed"
            plans.append(ModelPull(e, False, why))
    return plans


def plan_model_prune(entries: Sequence[ModelEntry], installed: Iterable[str]) -> list[str]:
    """Installed models (normalised names) that no entry asks for, in the order given."""
    wanted = {normalize_name(e.name) for e in entries}
    return [name for name in installed if normalize_name(name) not in wanted]


def present_model_names(
    entries: Sequence[ModelEntry], installed: Mapping[str, Iterable[str]] | None, host: str
) -> list[str]:
    """The entries' names that LiteLLM may route to on ``host``.

    Args:
        entries: the inventory's entries.
        installed: host -> installed model names, as gathered after the compute stage; None
            when no facts were gathered (``render``, a dry run): every entry, as declared.
        host: the compute host.

    """
    names = [e.name for e in entries]
    if installed is None or host not in installed:
        return names
    have = {normalize_name(n) for n in installed[host]}
    return [n for n in names if normalize_name(n) in have]
