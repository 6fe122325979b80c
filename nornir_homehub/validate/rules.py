"""Rules for single values (names, addresses, ports, text) and the checker that places problems.

Shared by the config.yaml and the inventory checks: each ``*_problem`` function says why a
value is not valid (or None); `Checker` adds a problem at a key path of one YAML document, so
the message reads ``FILE:LINE: key.path: what is wrong``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nornir_homehub.problems import Problems, show, type_name, unknown
from nornir_homehub.yamlfile import YamlDoc

__all__ = ["address_problem", "count_problem", "name_problem", "port_problem"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NAME_MAX = 253


def name_problem(name: object, what: str) -> str | None:
    """Why ``name`` is not a valid host/group name, or None."""
    if isinstance(name, int | float):
        return (
            f"{what} name {name} is a number, not a name; quote it ('{name}') "
            "if that is really its name"
        )
    if not isinstance(name, str):
        return f"{what} name must be a string, got {type_name(name)}"
    if not name or len(name) > _NAME_MAX or not _NAME_RE.match(name):
        return (
            f"{what} name {show(name)} is not valid: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )
    return None


def address_problem(value: object) -> str | None:
    """Why ``value`` is not an IP address or DNS name, or None (nothing is resolved)."""
    if not isinstance(value, str):
        return f"must be an IP address or DNS name (a string), got {type_name(value)}"
    text = value.strip()
    if not text:
        return "is empty: give an IP address or DNS name"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return None
    labels = text.rstrip(".").split(".")
    if ":" in text:
        problem = "is not a valid IPv6 address"
    elif all(label.isdigit() for label in labels):
        problem = "is not a valid IP address"
    elif len(text) > _NAME_MAX or not all(_LABEL_RE.match(label) for label in labels):
        problem = (
            "is neither an IP address nor a DNS name (letters, digits and '-' in "
            "dot-separated labels)"
        )
    else:
        return None
    return f"{show(value)} {problem}"


def port_problem(value: object) -> str | None:
    """Why ``value`` is not a TCP port (1-65535), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        got = show(value) if isinstance(value, str | float) else type_name(value)
        return f"must be a port number 1-65535, got {got}"
    if not 1 <= value <= 65535:
        return f"port {value} is out of range (1-65535)"
    return None


def count_problem(value: object) -> str | None:
    """Why ``value`` is not a whole number of at least 1 (workers, backups to keep), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"must be a whole number of at least 1, got {show(value)}"
    return None


def text_problem(value: object, *, secret: bool = False) -> str | None:
    """Why ``value`` is not a non-empty string (a ``secret`` may be empty), or None."""
    if not isinstance(value, str):
        return f"must be a string, got {type_name(value)}"
    if not value.strip() and not secret:
        return "is empty"
    return None


def _key_path(keys: Sequence[object]) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


class Checker:
    """Helpers that add problems located in one YAML document."""

    def __init__(self, doc: YamlDoc, problems: Problems) -> None:
        self.doc = doc
        self.problems = problems

    def add(self, keys: Sequence[object], message: str) -> None:
        self.problems.add(self.doc.at(keys), _key_path(keys), message)

    def mapping(self, keys: Sequence[object], value: object, what: str) -> dict[Any, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(keys, f"{what} must be a mapping, got {type_name(value)}")
            return None
        return value

    def known_keys(
        self, keys: Sequence[object], body: Mapping[Any, Any], valid: Sequence[str]
    ) -> None:
        for key in body:
            if key not in valid:
                self.add([*keys, key], unknown("key", key, valid))

    def check(self, keys: Sequence[object], problem: str | None) -> None:
        if problem:
            self.add(keys, problem)

    def boolean(self, keys: Sequence[object], value: object) -> None:
        if value is not None and not isinstance(value, bool):
            self.add(keys, f"must be true or false, got {show(value)}")

    def text(self, keys: Sequence[object], value: object, *, optional: bool = True) -> None:
        if value is None and optional:
            return
        self.check(keys, text_problem(value))

    def str_list(self, keys: Sequence[object], value: object) -> list[str] | None:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(keys, f"must be a list of names, got {type_name(value)}")
            return None
        ok: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add([*keys, i], f"must be a non-empty name, got {show(item)}")
            else:
                ok.append(item)
        return ok
