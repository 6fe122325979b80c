"""The layers, read from the imports themselves (``ast``): facts -> plan -> checks -> tasks ->
engine -> cli.

- facts/, plan/ and checks/ import no transport (the connection package, paramiko, the lab)
  and no Nornir runtime (anything of ``nornir`` at run time) and no tasks: they are pure code
  that tests feed with data;
- cli/ imports only the public library: no transport, no tasks, no facts, plans or checks
  (it parses, calls the engine/commands and prints; `lab` is public: its CLI drives the lab).

Imports under ``if TYPE_CHECKING:`` are not run and do not count; imports inside functions
(lazy) do. A planted violation proves the check can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nornir_homehub"

TRANSPORT = ("nornir_homehub.connection", "nornir_homehub.lab", "paramiko")
NORNIR_RUNTIME = ("nornir",)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "facts": (*TRANSPORT, *NORNIR_RUNTIME, "nornir_homehub.tasks", "nornir_homehub.engine"),
    "plan": (*TRANSPORT, *NORNIR_RUNTIME, "nornir_homehub.tasks", "nornir_homehub.engine"),
    "checks": (*TRANSPORT, *NORNIR_RUNTIME, "nornir_homehub.tasks", "nornir_homehub.engine"),
    "cli": (
        "nornir_homehub.connection",
        "paramiko",
        "nornir",
        "nornir_homehub.tasks",
        "nornir_homehub.facts",
        "nornir_homehub.plan",
        "nornir_homehub.checks",
    ),
}


def runtime_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import that runs (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return sorted(found)


def violations(layer: str, source: str, name: str) -> list[str]:
    """The imports of ``source`` (a module of ``layer``) that break the layer's rule."""
    bad = []
    for line, module in runtime_imports(source):
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
            bad.append(f"{name}:{line}: {layer}/ imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad += violations(layer, path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert bad == []


def test_a_planted_violation_is_found() -> None:
    planted = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from nornir_homehub.connection import HostConnection\n"  # fine: never runs
        "def gather(conn):\n"
        "    from nornir_homehub.connection import host_connection\n"  # a lazy import runs
        "    import paramiko\n"
        "    from nornir.core.task import Result\n"
    )
    assert violations("facts", planted, "facts/planted.py") == [
        "facts/planted.py:6: facts/ imports nornir_homehub.connection",
        "facts/planted.py:7: facts/ imports paramiko",
        "facts/planted.py:8: facts/ imports nornir.core.task",
    ]
    assert violations("cli", "from nornir_homehub.tasks.gpu import check_gpu\n", "cli/x.py")
    assert violations("cli", "from nornir_homehub.lab import Lab\n", "cli/lab.py") == []
