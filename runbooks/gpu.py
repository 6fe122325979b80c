"""Runbook ``gpu``: the GPU checks of every selected host as one stage.

Replaces the guide's "run ``nvidia-smi`` on the compute host" step: driver answers, the cards
the inventory promises are present, memory/utilisation/temperature under the inventory's
``gpu_thresholds``, which processes hold the GPU. Hosts whose inventory says ``gpu: null`` are
skipped with that reason. Used by ``HomeHub.check_gpu()`` and ``python -m nornir_homehub run
gpu``; ``check gpu`` prints the same checks one line each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornir_homehub.facts.gpu import SMI
from nornir_homehub.runbook_options import Option
from nornir_homehub.tasks.gpu import check_gpu

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.api import RunContext


OPTIONS = [Option("smi", str, SMI, "the nvidia-smi command on the hosts")]
READ_ONLY = True  # changes nothing on a host: no deploy lock, no audit line


def run(nr: Nornir, ctx: RunContext, *, smi: str = SMI, **_: Any) -> None:
    """Check the GPU of every selected host (stage ``gpu``).

    Args:
        nr: the selected hosts.
        ctx: the run context (stages, report).
        smi: the ``nvidia-smi`` command on the hosts.

    A failed check fails the run (exit 1) but every host is still checked: the stage records
    its failures instead of stopping at the first host. A host that cannot be checked gets a
    failed ``gpu.host`` check, as with ``check gpu``.
    """
    ctx.check_stage("gpu", nr, check_gpu, host_check="gpu.host", smi=smi)
