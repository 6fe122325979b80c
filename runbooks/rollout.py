"""Runbook ``rollout``: the guide's full rollout, DNS -> compute -> trusted -> verify.

The same procedure as ``deploy`` without ``--filter``/``--stacks`` (each stage a gate); this
alias makes ``python -m nornir_homehub run rollout`` and ``HomeHub.run("rollout")`` read like
the operator's intent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornir_homehub.api import load_runbook
from nornir_homehub.runbook_options import Option

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.api import RunContext


# The options of ``deploy``, which this runbook runs.
OPTIONS = [
    Option("stacks", list, None, "only these stacks (skips the DNS stage), e.g. ollama,qdrant"),
    Option("force", bool, False, "run compose up even when nothing changed"),
    Option("verify", bool, True, "run the verify stage after deploying"),
]


def run(nr: Nornir, ctx: RunContext, **options: Any) -> None:
    """Run the ``deploy`` runbook of the same runbooks folder with ``options``."""
    load_runbook(ctx.settings, "deploy")(nr, ctx, **options)
