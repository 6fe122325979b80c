"""No module of the package imports another module's private (``_name``) helper.

A helper another module needs is public: it has a public name and a docstring, so a change to
it is seen as a change to an interface. Imports inside functions count (they run); imports
under ``if TYPE_CHECKING:`` count too (they name the helper all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "nornir_homehub"


def private_imports(source: str, name: str) -> list[str]:
    """``name:line: from MODULE import _helper`` for each private name imported from the package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 0 and not module.startswith("nornir_homehub"):
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                dots = "." * node.level
                found.append(f"{name}:{node.lineno}: from {dots}{module} import {alias.name}")
    return found


def test_no_module_imports_a_private_helper_of_another() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        bad += private_imports(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert bad == []


def test_a_planted_private_import_is_found() -> None:
    source = (
        "from __future__ import annotations\n"
        "from nornir_homehub.views import text_table\n"  # public: fine
        "from nornir_homehub.operate import __doc__\n"  # dunder: not a helper
        "def f():\n"
        "    from nornir_homehub.views import _hidden\n"
        "    from .runtime import _parse\n"
    )
    assert private_imports(source, "x.py") == [
        "x.py:5: from nornir_homehub.views import _hidden",
        "x.py:6: from .runtime import _parse",
    ]
