"""The Jinja environment stacks render with: filters, ``var()``, errors naming file and line."""

from __future__ import annotations

import functools
import re
import shlex
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes

from nornir_homehub.errors import ConfigError

__all__ = ["env_value"]

_ENV_SAFE_RE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")
_UNDEFINED_RE = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_ATTR_RE = re.compile(r"has no attribute '(?P<name>[^']+)'")


def env_value(value: Any) -> str:
    """Jinja filter: ``value`` written safely as a Compose env-file value.

    Plain values are written as they are; others single-quoted (literal: Compose does not
    interpolate ``$`` inside single quotes).

    Raises:
        ConfigError: the value holds a single quote or a newline (it cannot be written safely;
            the value itself is never shown).

    """
    text = "" if value is None else str(value)
    if _ENV_SAFE_RE.match(text):
        return text
    if "'" in text or "\n" in text or "\r" in text:
        raise ConfigError("a value holds a quote or newline and cannot go in an env file")
    return f"'{text}'"


@functools.lru_cache(maxsize=64)
def template_environment(directory: Path) -> jinja2.Environment:
    """The Jinja environment stacks render in, loading templates from ``directory``."""
    # One per stack folder, shared by every host's render: its template cache then compiles
    # each template once per run, not once per host (Jinja re-reads a file that changed).
    # The environment of nornir-jinja2's template_file (StrictUndefined, trim_blocks) plus the
    # whitespace settings YAML needs. Not through nornir-jinja2 itself: it only offers a Nornir
    # task, and stacks must render before and without any Nornir run (offline `render`, the
    # pre-flight render of `deploy`). Autoescape is off: the output is YAML and env files.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML and env files, not HTML
    )
    env.filters["env_value"] = env_value
    env.filters["quote"] = lambda v: shlex.quote(str(v))
    env.globals["var"] = _var
    return env


@jinja2.pass_context
def _var(context: jinja2.runtime.Context, name: str) -> Any:
    """Template function ``var(name)``: the variable called ``name`` (a secret named in data)."""
    value = context.resolve_or_missing(name)
    if value is jinja2.utils.missing:
        raise jinja2.UndefinedError(f"'{name}' is undefined")
    return value


def _template_line(exc: BaseException, filename: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename or frame.filename.endswith("/" + filename):
            return frame.lineno
    return None


def _render_error(exc: Exception, where: str, filename: str, host: str, stack: str) -> ConfigError:
    line = _template_line(exc, filename)
    loc = f"{where}" + (f" line {line}" if line else "")
    if isinstance(exc, jinja2.UndefinedError):
        msg = str(exc.message or exc)
        m = _UNDEFINED_RE.match(msg)
        a = _ATTR_RE.search(msg)
        if m:
            what = f"undefined variable '{m.group('name')}'"
        elif a:
            what = f"undefined variable (missing key '{a.group('name')}')"
        else:
            what = f"undefined variable ({msg})"
        return ConfigError(f"{loc}: {what} (host {host}, stack {stack})")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return ConfigError(f"{loc}: template syntax error: {exc.message} (stack {stack})")
    if isinstance(exc, ConfigError):
        return ConfigError(f"{loc}: {exc} (host {host}, stack {stack})")
    return ConfigError(f"{loc}: cannot render: {type(exc).__name__} (host {host}, stack {stack})")


def render_text(
    env: jinja2.Environment,
    source: str,
    variables: Mapping[str, Any],
    *,
    where: str,
    host: str,
    stack: str,
    from_file: bool,
) -> str:
    """Render ``source`` (a template file's name with ``from_file``, else template text).

    Raises:
        ConfigError: it cannot render; the message names ``where`` (and the template line),
            the host and the stack.
    """
    try:
        template = env.get_template(source) if from_file else env.from_string(source)
        return template.render(**variables)
    except (jinja2.TemplateError, ConfigError, TypeError, ValueError) as exc:
        raise _render_error(
            exc, where, source if from_file else "<template>", host, stack
        ) from None


# One template's own (variables, calls var(), referenced templates: None for a dynamic one),
# by its syntax and source text: every host renders the same templates, and parsing them is
# what costs (half the time of rendering 200 hosts).
_Refs = tuple[frozenset[str], bool, tuple[str | None, ...]]
_OWN_REFS: dict[tuple[str, ...], _Refs] = {}
_OWN_REFS_MAX = 512


def _own_refs(env: jinja2.Environment, source: str) -> _Refs:
    key = (
        env.block_start_string,
        env.variable_start_string,
        env.comment_start_string,
        str(env.line_statement_prefix),
        str(env.line_comment_prefix),
        source,
    )
    found = _OWN_REFS.get(key)
    if found is None:
        ast = env.parse(source)
        dynamic = any(
            isinstance(call.node, jinja2.nodes.Name) and call.node.name == "var"
            for call in ast.find_all(jinja2.nodes.Call)
        )
        found = (
            frozenset(jinja2.meta.find_undeclared_variables(ast)),
            dynamic,
            tuple(jinja2.meta.find_referenced_templates(ast)),
        )
        if len(_OWN_REFS) >= _OWN_REFS_MAX:
            _OWN_REFS.clear()
        _OWN_REFS[key] = found
    return found


def template_refs(env: jinja2.Environment, name: str, seen: set[str]) -> tuple[set[str], bool]:
    """Variables template ``name`` (and what it includes) uses, and whether it calls var()."""
    seen.add(name)
    assert env.loader is not None  # noqa: S101 - template_environment always sets a loader
    source = env.loader.get_source(env, name)[0]
    own, dynamic, refs = _own_refs(env, source)
    names = set(own)
    for ref in refs:
        if ref is None:
            dynamic = True
        elif ref not in seen:
            more, more_dynamic = template_refs(env, ref, seen)
            names |= more
            dynamic |= more_dynamic
    return names, dynamic
