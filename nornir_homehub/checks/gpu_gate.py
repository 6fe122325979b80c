"""The GPU as a deploy gate: after warm-up, is every model on the GPU the inventory declares.

`evaluate_gpu_gate` is pure: it reads the ``check ollama`` checks (after a warm-up), the
``check gpu`` checks and facts (nvidia-smi) and whether the ollama container requests a GPU
device, and returns one ``gpu.gate`` check whose remedy names the likely cause: the NVIDIA
driver (nvidia-smi unhealthy), the VRAM headroom, the compose device reservation (the container
asks for no GPU) or the NVIDIA Container Toolkit (it asks, yet the model runs on the CPU). The
Nornir task that runs it in the deploy's compute stage is `tasks.models.ensure_models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nornir_homehub.checks.model import Check, Layer, Status

if TYPE_CHECKING:
    from nornir_homehub.checks.gpu import GpuThresholds
    from nornir_homehub.facts.gpu import GpuFacts

GATE = "gpu.gate"
CAUSE_DRIVER = (
    "Likely cause: the NVIDIA driver. {remedy}. The rollout stopped before LiteLLM routes to "
    "this host; deploy again once `nvidia-smi` answers on it"
)
CAUSE_HEADROOM = (
    "Likely cause: too little free GPU memory. Stop the other GPU processes (`nvidia-smi`), use "
    "a smaller model, or lower `gpu_thresholds.headroom_mib` (now {limit} MiB) if the margin is "
    "too strict; then deploy again"
)
CAUSE_RESERVATION = (
    "Likely cause: the compose device reservation. The ollama container requests no GPU "
    "(`docker inspect ollama --format '{{{{json .HostConfig.DeviceRequests}}}}'` shows none): "
    "its compose.yaml needs `deploy.resources.reservations.devices` with `driver: nvidia` and "
    "`capabilities: [gpu]` (rendered when the host's inventory has `gpu:`"
    "{reservation_off}); then deploy again"
)
CAUSE_TOOLKIT = (
    "Likely cause: the NVIDIA Container Toolkit. The container requests the GPU but the model "
    "runs on the CPU: install nvidia-container-toolkit, run `nvidia-ctk runtime configure "
    "--runtime=docker` and restart Docker, check `docker run --rm --gpus all ubuntu "
    "nvidia-smi`; then deploy again"
)


def _placement_failures(ollama_checks: Sequence[Check]) -> list[Check]:
    """Loaded checks that show a model not fully on the GPU (CPU, split, or not loaded)."""
    return [
        c
        for c in ollama_checks
        if c.name.endswith(".loaded") and c.status in (Status.FAIL, Status.WARN)
    ]


def evaluate_gpu_gate(
    host: str,
    ollama_checks: Sequence[Check],
    gpu_checks: Sequence[Check],
    gpu_facts: GpuFacts | None,
    thresholds: GpuThresholds,
    *,
    gpu_requested: bool | None,
    reservation_rendered: bool = True,
) -> Check:
    """Judge a compute host that declares a GPU after its models were warmed up.

    Args:
        host: inventory name.
        ollama_checks: `checks.ollama.evaluate_ollama` after a warm-up.
        gpu_checks: `checks.gpu.evaluate_gpu` on the host's nvidia-smi facts.
        gpu_facts: those facts (None when nvidia-smi was not asked).
        thresholds: ``gpu_thresholds`` (``headroom_mib``: the free VRAM each GPU keeps).
        gpu_requested: whether the ollama container has a GPU device request (None: unknown).
        reservation_rendered: False when the inventory turned the reservation off
            (``gpu.compose_reservation: false``, the lab's stand-in GPU host).

    Returns:
        ``gpu.gate``: FAIL with the likely cause as its remedy, else PASS.

    """
    driver = next((c for c in gpu_checks if c.name == "gpu.driver" and c.failed), None)
    if driver is not None:
        remedy = CAUSE_DRIVER.format(remedy=driver.remedy.rstrip("."))
        return Check(
            GATE, host, Layer.GPU, Status.FAIL, driver.evidence, remedy, {"cause": "driver"}
        )
    for gpu in gpu_facts.gpus if gpu_facts else ():
        free = gpu.memory_free_mib
        if free is not None and free < thresholds.headroom_mib:
            seen = (
                f"GPU {gpu.index} ({gpu.name}): {free} MiB free after warm-up, below the "
                f"headroom of {thresholds.headroom_mib:.0f} MiB"
            )
            remedy = CAUSE_HEADROOM.format(limit=f"{thresholds.headroom_mib:.0f}")
            data = {"cause": "headroom", "free_mib": free, "headroom_mib": thresholds.headroom_mib}
            return Check(GATE, host, Layer.GPU, Status.FAIL, seen, remedy, data)
    broken = [c for c in ollama_checks if c.failed and not c.name.endswith(".loaded")]
    if broken:
        first = broken[0]
        data = {"cause": "ollama", "check": first.name}
        return Check(GATE, host, Layer.MODEL, Status.FAIL, first.evidence, first.remedy, data)
    off_cpu = _placement_failures(ollama_checks)
    if off_cpu:
        seen = "; ".join(c.evidence for c in off_cpu)
        if gpu_requested is False:
            note = (
                ", but its `gpu.compose_reservation` is false" if not reservation_rendered else ""
            )
            remedy, cause = CAUSE_RESERVATION.format(reservation_off=note), "compose reservation"
        else:
            remedy, cause = CAUSE_TOOLKIT, "container toolkit"
        data = {"cause": cause, "gpu_requested": gpu_requested}
        return Check(GATE, host, Layer.GPU, Status.FAIL, seen, remedy, data)
    loaded = [c.evidence for c in ollama_checks if c.name.endswith(".loaded")]
    seen = "; ".join(loaded) or "no model to warm up"
    return Check(GATE, host, Layer.GPU, Status.PASS, seen, "", {"gpu_requested": gpu_requested})
