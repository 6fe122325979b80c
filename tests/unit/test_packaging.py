"""The package carries its built-in stacks, runbooks and lab inventory."""

from __future__ import annotations

import tomllib
from pathlib import Path

from nornir_homehub import builtin
from nornir_homehub.render import available_stacks

ROOT = Path(__file__).resolve().parents[2]


def test_the_explicit_package_list_names_every_package() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "nornir_homehub").rglob("__init__.py")
    }
    mapped = set(cfg["package-dir"])
    assert found | mapped == listed


def test_built_ins_resolve_to_the_project_folders() -> None:
    assert builtin.stacks_dir().resolve() == (ROOT / "stacks").resolve()
    assert builtin.runbooks_dir().resolve() == (ROOT / "runbooks").resolve()
    assert builtin.lab_inventory_dir().resolve() == (ROOT / "inventory" / "lab").resolve()
    assert available_stacks(builtin.stacks_dir()) == [
        "litellm",
        "monitoring",
        "node-exporter",
        "ollama",
        "openwebui",
        "qdrant",
    ]
