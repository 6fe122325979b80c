"""The ``gpu_metrics`` task: GPU and Ollama facts of a compute host, written for node-exporter.

Gathers what ``check gpu`` and ``check ollama`` gather (`facts.gpu.gather_gpu` when the
inventory declares an NVIDIA GPU; `facts.ollama.gather_ollama` without a warm-up, so no model
is loaded by asking), renders it with `render.metrics.render_metrics` and writes it atomically
to ``<data_root>/node-exporter/textfile/homehub_gpu.prom``, which the host's node-exporter
(stack node-exporter or monitoring) serves with its own metrics. Run it on a schedule (cron or
a systemd timer running ``python -m nornir_homehub run gpu_metrics``): alert GpuMetricsStale
fires when the file is not rewritten for 15 minutes.
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from nornir_homehub.checks.gpu import wants_smi
from nornir_homehub.errors import TransportError
from nornir_homehub.facts.gpu import gather_gpu
from nornir_homehub.facts.ollama import DEFAULT_BASE_URL, gather_ollama
from nornir_homehub.render.metrics import METRICS_FILE, render_metrics

if TYPE_CHECKING:
    from nornir.core.task import Result, Task

TEXTFILE_DIR = "node-exporter/textfile"
EXPORTER_STACKS = ("node-exporter", "monitoring")


def metrics_path(data_root: str) -> str:
    """Where the textfile goes: ``<data_root>/node-exporter/textfile/homehub_gpu.prom``."""
    return str(PurePosixPath(data_root) / TEXTFILE_DIR / METRICS_FILE)


def write_gpu_metrics(task: Task, *, dry_run: bool = False) -> Result:
    """Nornir task: write the host's GPU and Ollama metrics for its node-exporter.

    Host data used: ``stacks`` (needs node-exporter or monitoring: else nothing is written and
    the result says why), ``gpu``, ``ollama_url``, ``data_root``.

    Returns:
        Result with ``result`` = the metrics text written (or that would be), ``changed``
        True when written, ``failed`` when the upload was refused (the textfile folder is
        missing until stack node-exporter is deployed).

    Raises:
        TransportError: the host cannot be reached over SSH.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection

    host = task.host
    stacks = [str(s) for s in host.get("stacks") or []]
    if not any(s in stacks for s in EXPORTER_STACKS):
        why = f"no node-exporter on this host (stacks: {', '.join(stacks) or 'none'})"
        return Result(host=host, result=why, changed=False)
    conn = host_connection(task)
    declared = host.get("gpu")
    gpu = gather_gpu(conn) if wants_smi(declared) else None
    ollama = None
    if "ollama" in stacks:
        base = str(host.get("ollama_url") or DEFAULT_BASE_URL)
        ollama = gather_ollama(conn, [], base_url=base, warmup=False)
    text = render_metrics(gpu_expected=wants_smi(declared), gpu=gpu, ollama=ollama, now=time.time())
    path = metrics_path(str(host.get("data_root") or "/srv/docker"))
    if dry_run:
        return Result(host=host, result=text, changed=False)
    try:
        conn.put_file(path, text.encode(), mode=0o644)
    except TransportError as exc:
        return Result(
            host=host,
            result=f"{exc}; deploy stack node-exporter first (it creates {path})",
            failed=True,
            changed=False,
        )
    return Result(host=host, result=text, changed=True)
