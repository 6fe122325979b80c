"""What the CLI, runbooks and notebooks share (one import path for all of it).

The pieces live in modules of their own; this module re-exports them so that runbooks,
notebooks and scripts keep ``from nornir_homehub.api import RunContext``:

- `nornir_homehub.engine`: `execute`, `RunContext` (stages and gates), `StageStopped`;
- `nornir_homehub.runbook_loader`: `load_runbook_spec`, `Runbook`, `available_runbooks`;
- `nornir_homehub.commands`: `exec_command`;
- `nornir_homehub.views`: `InventoryTable`, `ExecResults`, `ExecRow`;
- `nornir_homehub.hub`: `HomeHub`, the notebook-friendly face.
"""

from __future__ import annotations

from nornir_homehub.commands import exec_command
from nornir_homehub.engine import RunContext, StageStopped, execute
from nornir_homehub.hub import HomeHub
from nornir_homehub.runbook_loader import (
    Runbook,
    available_runbooks,
    load_runbook,
    load_runbook_spec,
)
from nornir_homehub.views import ExecResults, ExecRow, InventoryTable

__all__ = [
    "ExecResults",
    "ExecRow",
    "HomeHub",
    "InventoryTable",
    "RunContext",
    "Runbook",
    "StageStopped",
    "available_runbooks",
    "exec_command",
    "execute",
    "load_runbook",
    "load_runbook_spec",
]
