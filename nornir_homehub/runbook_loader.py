"""Runbook loading: find a runbook by name, import it, read its declared options.

The site's ``runbooks_dir`` is searched first, then the built-in runbooks. What a runbook may
declare as options is in `nornir_homehub.runbook_options`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.problems import did_you_mean
from nornir_homehub.runbook_options import Option, check_values, declared_options, parse_cli

if TYPE_CHECKING:
    from nornir_homehub.config import Settings


_RUNBOOK_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Runbook:
    """A loaded runbook: its file, ``run`` function, declared options and summary line.

    ``read_only``: the runbook declares ``READ_ONLY = True`` (it changes nothing on a host),
    so its runs take no deploy lock and write no audit line.
    """

    name: str
    path: Path
    run: Callable[..., Any]
    options: tuple[Option, ...]
    summary: str
    read_only: bool = False

    def parse_cli(self, terms: Iterable[str]) -> dict[str, Any]:
        """``-o KEY=VALUE`` terms as typed keyword options (see `runbook_options.parse_cli`)."""
        return parse_cli(self.name, self.options, terms)

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword options from Python, checked (see `runbook_options.check_values`)."""
        return check_values(self.name, self.options, values)


def available_runbooks(settings: Settings) -> list[str]:
    """Names of the site's and the built-in runbooks (``_helpers.py`` excluded), sorted."""
    return sorted(
        {
            p.stem
            for folder in settings.runbooks_path
            if folder.is_dir()
            for p in folder.glob("*.py")
            if not p.stem.startswith("_") and _RUNBOOK_NAME_RE.match(p.stem)
        }
    )


def _import_error(path: Path, exc: BaseException) -> ConfigError:
    """A runbook that cannot be imported, as one message naming its file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return ConfigError(f"runbook {path}:{exc.lineno}: syntax error: {exc.msg}")
    line = None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename) == path:
            line = frame.lineno
            break
    where = f"{path}:{line}" if line else str(path)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return ConfigError(f"runbook {where}: cannot be loaded: {type(exc).__name__}: {text}")


def load_runbook_spec(settings: Settings, name: str) -> Runbook:
    """Import runbook ``name``: its ``run`` function, declared ``OPTIONS`` and ``READ_ONLY``.

    The site's ``runbooks_dir`` is searched first, then the built-in runbooks.

    Raises:
        ConfigError: the name is not a plain name (letters, digits, ``_``), there is no such
            runbook (the message lists the available ones, with a "did you mean"), the file
            cannot be imported (syntax error or an exception: file and line), it has no
            ``run``, or its ``OPTIONS`` or ``READ_ONLY`` are malformed.
    """
    if not isinstance(name, str) or not _RUNBOOK_NAME_RE.match(name):
        raise ConfigError(
            f"runbook name {name!r} is not a plain name (letters, digits and _ only, e.g. "
            "deploy); runbooks are the .py files of homehub.runbooks_dir"
        )
    found = [d / f"{name}.py" for d in settings.runbooks_path if (d / f"{name}.py").is_file()]
    if not found:
        avail = available_runbooks(settings)
        where = ", ".join(
            str(d) if d.is_dir() else f"{d} (the folder does not exist)"
            for d in settings.runbooks_path
        )
        raise ConfigError(
            f"no runbook {name!r} in {where}{did_you_mean(name, avail)}; "
            f"available: {', '.join(avail) or 'none'}"
        )
    path = found[0]
    spec = importlib.util.spec_from_file_location(f"homehub_runbook_{name}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ConfigError(f"cannot load runbook {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the runbook's own code failed: a config problem, not ours
        sys.modules.pop(spec.name, None)
        raise _import_error(path, exc) from None
    fn = getattr(module, "run", None)
    if not callable(fn):
        raise ConfigError(f"runbook {path} has no run(nr, ctx, **options) function")
    read_only = getattr(module, "READ_ONLY", False)
    if not isinstance(read_only, bool):
        raise ConfigError(
            f"runbook {path}: READ_ONLY must be True or False, not {type(read_only).__name__}"
        )
    doc = (module.__doc__ or "").strip().splitlines()
    options = declared_options(module, fn, str(path))
    return Runbook(name, path, fn, options, doc[0] if doc else "", read_only)


def load_runbook(settings: Settings, name: str) -> Callable[..., Any]:
    """Import ``<runbooks_dir>/<name>.py`` and return its ``run`` function.

    Raises:
        ConfigError: see `load_runbook_spec`.
    """
    return load_runbook_spec(settings, name).run
