"""Bounded, safe YAML loading that keeps line numbers for messages.

Every YAML file nornir_homehub reads (config.yaml, the inventory files, stacks' template.yaml)
goes through `load_yaml` first:

* safe loading only (no Python tags);
* a size limit, and a limit on what aliases expand to (an "alias bomb" of nested ``*a`` lists is
  a few hundred bytes that expand to billions of values: one ``--filter`` took 45 s of CPU);
* a depth limit (deep nesting, directly or through aliases, ends in RecursionError later);
* strict UTF-8, duplicate keys refused (PyYAML keeps the last one silently, ruamel raises);
* every problem as a `ConfigError` naming ``FILE:LINE``.

The result keeps the line of every key and list item, so validation can name ``FILE:LINE`` for a
key path. The inventory files are read with YAML 1.2 core-schema scalars, as Nornir's
SimpleInventory (ruamel) reads them: ``yes`` stays a string and ``0750`` is 750.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.errors import ConfigError

MAX_BYTES = 4 * 1024 * 1024
MAX_VALUES = 200_000
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"


# libyaml's parser where PyYAML was built with it: the same nodes and marks, about five times
# faster (every command reads the config, the inventory and each stack's template.yaml).
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader11(_SafeBase):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader (YAML 1.1 scalars), as config.yaml has always been read."""


class _Loader12(_SafeBase):  # type: ignore[misc,valid-type]
    """Safe loader with YAML 1.2 core-schema scalars (ruamel's, hence Nornir's, reading)."""


_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float"))
_Loader12.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader12.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader12.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader12.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int12(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text.startswith("0o"):
        return sign * int(text[2:], 8)
    if text.startswith("0x"):
        return sign * int(text[2:], 16)
    return sign * int(text, 10)


_Loader12.add_constructor(_INT, _construct_int12)


@dataclass(frozen=True)
class YamlDoc:
    """A loaded YAML file: its data and the line of every key and list item.

    Attributes:
        path: the file.
        data: the parsed document (None for an empty file).
    """

    path: Path
    data: Any
    _lines: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False)

    def line(self, keys: Sequence[object]) -> int | None:
        """The line of ``keys`` (a key path), else of its nearest ancestor that has one."""
        path = tuple(str(k) for k in keys)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def at(self, keys: Sequence[object] = ()) -> str:
        """``FILE:LINE`` of ``keys`` (``FILE`` alone when no line is known)."""
        line = self.line(keys) if keys else None
        return f"{self.path}:{line}" if line else str(self.path)


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _decode(raw: bytes, path: Path, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise ConfigError(
            f"{path}:{line}: not {encoding.upper()} text (byte 0x{byte:02x} at column {column}); "
            f"save the file as {encoding.upper()}"
        ) from None
    except LookupError:
        raise ConfigError(f"{path}: unknown text encoding {encoding!r}") from None


class _Walk:
    """Checks a composed node graph: duplicate keys, depth, expanded size; records lines."""

    def __init__(self, path: Path, max_values: int, max_depth: int) -> None:
        self.path = path
        self.max_values = max_values
        self.max_depth = max_depth
        self.lines: dict[tuple[str, ...], int] = {}
        # id(node) -> (expanded values, height): an aliased node is measured once.
        self.sizes: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()

    def error(self, node: yaml.Node, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {problem}")

    def visit(self, node: yaml.Node, keys: tuple[str, ...], depth: int) -> tuple[int, int]:
        nid = id(node)
        if nid in self.sizes:
            return self.sizes[nid]
        if nid in self.open:
            raise self.error(node, "recursive alias: a value contains itself")
        if depth > self.max_depth:
            raise self.error(node, f"nested more than {self.max_depth} levels deep")
        self.open.add(nid)
        total, height = 1, 1
        for child_keys, child in self._children(node, keys):
            size, child_height = self.visit(child, child_keys, depth + 1)
            total += size
            height = max(height, child_height + 1)
            if total > self.max_values:
                raise self.error(
                    node,
                    f"aliases expand to more than {self.max_values} values (an alias bomb?); "
                    "use fewer nested aliases",
                )
            if height > self.max_depth:
                raise self.error(
                    node, f"nested more than {self.max_depth} levels deep (through aliases)"
                )
        self.open.discard(nid)
        self.sizes[nid] = (total, height)
        return total, height

    def _children(
        self, node: yaml.Node, keys: tuple[str, ...]
    ) -> list[tuple[tuple[str, ...], yaml.Node]]:
        out: list[tuple[tuple[str, ...], yaml.Node]] = []
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*keys, str(i))
                self.lines.setdefault(child, item.start_mark.line + 1)
                out.append((child, item))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                out.append((keys, key_node))
                if key_node.tag == _MERGE_TAG:
                    out.append((keys, value_node))
                    continue
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode):
                    ident = (key_node.tag, str(key_node.value))
                    if ident in seen:
                        raise ConfigError(
                            f"{self.path}:{line}: duplicate key '{key_node.value}' "
                            f"(first at line {seen[ident]})"
                        )
                    seen[ident] = line
                    child = (*keys, str(key_node.value))
                else:
                    child = (*keys, "?")
                self.lines.setdefault(child, line)
                out.append((child, value_node))
        return out


def load_yaml(
    path: Path,
    *,
    what: str = "YAML file",
    yaml12: bool = False,
    encoding: str = "utf-8",
    max_bytes: int = MAX_BYTES,
    max_values: int = MAX_VALUES,
    max_depth: int = MAX_DEPTH,
) -> YamlDoc:
    """Read one YAML file safely, within limits, keeping line numbers.

    Args:
        path: the file.
        what: how messages name it (``config file``, ``inventory host file``).
        yaml12: YAML 1.2 core-schema scalars (the inventory files, read by Nornir with ruamel);
            default YAML 1.1 (PyYAML's reading).
        encoding: the file's text encoding.
        max_bytes: size limit of the file.
        max_values: limit of values after alias expansion.
        max_depth: limit of nesting, aliases expanded.

    Returns:
        The document (``data`` None when the file is empty or holds only comments).

    Raises:
        ConfigError: the file is missing, a directory, unreadable, too big, not valid text in
            ``encoding``, not valid YAML, has a duplicate key, an unsupported tag, more than
            one document, or goes over a limit. The message names the file and line.

    """
    try:
        if path.is_dir():
            raise ConfigError(f"{what} {path} is a directory, not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{what} {path} is {size} bytes, over the limit of {max_bytes} bytes")
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{what} {path} is over the limit of {max_bytes} bytes")
    text = _decode(raw, path, encoding)
    loader = (_Loader12 if yaml12 else _Loader11)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(path, None)
        walk = _Walk(path, max_values, max_depth)
        walk.visit(node, (), 0)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line = _mark_line(exc)
        where = f"{path}:{line}" if line else str(path)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    finally:
        loader.dispose()
    return YamlDoc(path, data, walk.lines)
