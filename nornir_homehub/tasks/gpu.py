"""The ``check gpu`` task: gather nvidia-smi facts on a host and evaluate them.

The facts are `facts.gpu` (commands and parsers), the checks `checks.gpu.evaluate_gpu`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nornir_homehub.checks.gpu import GpuThresholds, evaluate_gpu, wants_smi
from nornir_homehub.facts.gpu import SMI, gather_gpu

if TYPE_CHECKING:
    from nornir.core.task import Result, Task


def check_gpu(task: Task, smi: str = SMI) -> Result:
    """Nornir task: gather nvidia-smi facts on the host and evaluate them.

    A host whose inventory has no GPU (``gpu: null``) is not contacted.

    Args:
        task: the Nornir task (host data: ``gpu``, ``gpu_thresholds``, ``connection``).
        smi: the nvidia-smi program on the host.

    Returns:
        Result with ``result`` = list of `Check`, ``failed`` when a check failed,
        ``changed`` False.

    Raises:
        ConfigError: bad ``gpu_thresholds`` in the inventory.
        TransportError: the host cannot be reached.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection

    host = task.host
    declared = host.get("gpu")
    thresholds = GpuThresholds.from_data(host.name, host.get("gpu_thresholds"))
    facts = gather_gpu(host_connection(task), smi=smi) if wants_smi(declared) else None
    checks = evaluate_gpu(host.name, declared, facts, thresholds)
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)
