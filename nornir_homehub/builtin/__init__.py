"""The built-in stacks, runbooks and lab inventory, found inside the installed package.

The project keeps them at the top of the repository (``stacks/``, ``runbooks/``,
``inventory/lab/``); the wheel carries them as ``nornir_homehub.builtin.stacks``,
``.runbooks`` and ``.lab`` (a package-dir mapping in pyproject.toml), and an editable install
maps the same names onto the repository's folders. A user's own ``stacks_dir`` and
``runbooks_dir`` are searched first.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _folder(package: str) -> Path:
    return Path(str(files(package)))


def stacks_dir() -> Path:
    """The folder of the built-in stacks (``<name>/template.yaml``)."""
    return _folder("nornir_homehub.builtin.stacks")


def runbooks_dir() -> Path:
    """The folder of the built-in runbooks (``<name>.py``)."""
    return _folder("nornir_homehub.builtin.runbooks")


def lab_inventory_dir() -> Path:
    """The folder of the lab's inventory and config (hosts, groups, defaults, vault)."""
    return _folder("nornir_homehub.builtin.lab")
