"""``check gpu``: is the GPU the inventory promises visible, and how busy, full and hot is it.

`evaluate_gpu` is pure (facts + inventory -> checks); the Nornir task that gathers the facts
over the host's connection is `tasks.gpu.check_gpu`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nornir_homehub.checks.model import Check, Layer, Status, verdict
from nornir_homehub.errors import ConfigError
from nornir_homehub.facts.gpu import GpuFacts, GpuInfo, GpuProcess

# From the guide's Troubleshooting section ("Ollama Model Not Loading", "Slow Response Times").
REMEDY_MEMORY = (
    "Check GPU memory with `nvidia-smi`; ensure no other GPU processes are running (see the "
    "processes check); stop them or use a smaller model; verify what Ollama holds with "
    "`docker exec ollama ollama ps`"
)
REMEDY_TEMPERATURE = (
    "Check cooling and airflow (`nvidia-smi -q -d TEMPERATURE,PERFORMANCE` shows throttling); "
    "watch it under load with `watch -n1 nvidia-smi`"
)
REMEDY_UTILIZATION = (
    "Check what keeps the GPU busy: `watch -n1 nvidia-smi`; ensure no other GPU processes run "
    "next to Ollama"
)
REMEDY_NO_SMI = (
    "The inventory says this host has a GPU ({declared}) but nvidia-smi is missing: install the "
    "NVIDIA driver (it ships nvidia-smi) and the NVIDIA Container Toolkit, then run `nvidia-smi`;"
    " if the host really has no GPU, set `gpu: null` in its inventory"
)
REMEDY_NO_GPU = (
    "The inventory says this host has a GPU ({declared}) but the driver shows none: run "
    "`nvidia-smi` on the host, check `dmesg | grep -i nvidia` and that the kernel module is "
    "loaded (reboot after a driver or kernel update); if the host really has no GPU, set "
    "`gpu: null` in its inventory"
)
REMEDY_MODEL = (
    "Update `gpu.model` in the host's inventory, or check that the right card is installed"
)
REMEDY_COUNT = "Check that every card is seated and powered (`nvidia-smi -L`), or fix `gpu.count`"


@dataclass(frozen=True)
class GpuThresholds:
    """When a GPU reading becomes a warning (inventory ``gpu_thresholds``).

    Attributes:
        memory_pct: warn when used memory is above this percentage of total.
        temperature_c: warn when the GPU is hotter than this (degrees Celsius).
        utilization_pct: warn when utilisation is above this (None: never).
        headroom_mib: the deploy's GPU gate fails when a GPU has less free memory than this
            after the models were warmed up (MiB).

    """

    memory_pct: float = 90.0
    temperature_c: float = 85.0
    utilization_pct: float | None = None
    headroom_mib: float = 1024.0

    @classmethod
    def from_data(cls, host: str, data: Any) -> GpuThresholds:
        """Build thresholds from a host's ``gpu_thresholds`` mapping (missing keys: defaults).

        Raises:
            ConfigError: not a mapping, an unknown key, or a value that is not a number.

        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{host}: gpu_thresholds must be a mapping, got {type(data).__name__}"
            )
        known = {"memory_pct", "temperature_c", "utilization_pct", "headroom_mib"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{host}: gpu_thresholds has unknown key(s) {', '.join(map(str, unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values: dict[str, float | None] = {}
        for key, value in data.items():
            if value is None and key == "utilization_pct":
                values[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{host}: gpu_thresholds.{key} must be a number, got {value!r}")
            if value < 0:
                raise ConfigError(f"{host}: gpu_thresholds.{key} must be >= 0, got {value!r}")
            values[key] = float(value)
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "memory_pct": self.memory_pct,
            "temperature_c": self.temperature_c,
            "utilization_pct": self.utilization_pct,
            "headroom_mib": self.headroom_mib,
        }


def _spec(declared: Any) -> Mapping[str, Any]:
    """Return the ``gpu`` mapping; ``gpu: true`` (or any non-mapping truthy value) means NVIDIA."""
    return declared if isinstance(declared, Mapping) else {"vendor": "nvidia"}


def wants_smi(declared: Any) -> bool:
    """True when the inventory's ``gpu`` is an NVIDIA GPU, the one kind nvidia-smi is asked for."""
    return bool(declared) and str(_spec(declared).get("vendor", "nvidia")).lower() == "nvidia"


def _declared_text(declared: Mapping[str, Any]) -> str:
    parts = [str(declared.get("vendor", "nvidia"))]
    if declared.get("model"):
        parts.append(str(declared["model"]))
    return " ".join(parts)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{text}{unit}"


def _process_text(p: GpuProcess) -> str:
    mem = f", {p.used_memory_mib} MiB" if p.used_memory_mib is not None else ""
    kind = f", type {p.type}" if p.type else ""
    return f"{p.name or '?'} (pid {p.pid}{mem}{kind})"


def _warn_unless(
    ok: bool, name: str, host: str, evidence: str, remedy: str, data: dict[str, Any]
) -> Check:
    return verdict(name, host, Layer.GPU, ok, evidence, remedy, data, bad=Status.WARN)


def _gpu_checks(
    host: str,
    gpu: GpuInfo,
    processes: list[GpuProcess],
    declared: Mapping[str, Any],
    thresholds: GpuThresholds,
) -> list[Check]:
    prefix = f"gpu.{gpu.index}"
    info = gpu.to_dict()
    checks = []

    want_model = str(declared.get("model") or "")
    model_ok = not want_model or want_model.lower() in gpu.name.lower()
    evidence = f"{gpu.name} ({gpu.uuid}), driver {gpu.driver_version or 'n/a'}"
    if not model_ok:
        evidence += f"; inventory says {want_model!r}"
    checks.append(_warn_unless(model_ok, prefix, host, evidence, REMEDY_MODEL, info))

    pct = gpu.memory_pct
    over = pct is not None and pct > thresholds.memory_pct
    mem = (
        f"{gpu.name}: {_fmt(gpu.memory_used_mib, '')} / {_fmt(gpu.memory_total_mib, ' MiB')} used"
        f" ({_fmt(None if pct is None else round(pct, 1), ' %')})"
    )
    memory = {
        "used_mib": gpu.memory_used_mib,
        "total_mib": gpu.memory_total_mib,
        "free_mib": gpu.memory_free_mib,
        "pct": None if pct is None else round(pct, 1),
        "threshold_pct": thresholds.memory_pct,
    }
    if over:
        mem += f", above {_fmt(thresholds.memory_pct, ' %')}"
    checks.append(_warn_unless(not over, f"{prefix}.memory", host, mem, REMEDY_MEMORY, memory))

    hot = gpu.temperature_c is not None and gpu.temperature_c > thresholds.temperature_c
    limit_c = _fmt(thresholds.temperature_c, " C")
    temp = f"{gpu.name}: {_fmt(gpu.temperature_c, ' C')}"
    temp += f", above {limit_c}" if hot else f" (limit {limit_c})"
    readings = {"temperature_c": gpu.temperature_c, "threshold_c": thresholds.temperature_c}
    checks.append(
        _warn_unless(not hot, f"{prefix}.temperature", host, temp, REMEDY_TEMPERATURE, readings)
    )

    limit = thresholds.utilization_pct
    busy = (
        limit is not None
        and gpu.utilization_gpu_pct is not None
        and (gpu.utilization_gpu_pct > limit)
    )
    power = (
        f", {_fmt(gpu.power_draw_w, ' W')} / {_fmt(gpu.power_limit_w, ' W')}"
        if gpu.power_draw_w is not None
        else ""
    )
    util = (
        f"{gpu.name}: GPU {_fmt(gpu.utilization_gpu_pct, ' %')}, memory controller "
        f"{_fmt(gpu.utilization_memory_pct, ' %')}, {gpu.pstate or 'n/a'}{power}"
    )
    if busy:
        util += f", above {_fmt(limit, ' %')}"
    usage = {
        "gpu_pct": gpu.utilization_gpu_pct,
        "memory_pct": gpu.utilization_memory_pct,
        "pstate": gpu.pstate,
        "power_draw_w": gpu.power_draw_w,
        "power_limit_w": gpu.power_limit_w,
        "clock_sm_mhz": gpu.clock_sm_mhz,
    }
    checks.append(
        _warn_unless(not busy, f"{prefix}.utilization", host, util, REMEDY_UTILIZATION, usage)
    )

    mine = [p for p in processes if p.gpu_index == gpu.index or p.gpu_uuid == gpu.uuid]
    listing = "; ".join(_process_text(p) for p in mine)
    seen = f"{len(mine)} process(es): {listing}" if mine else "no processes"
    processes_data = {"processes": [p.to_dict() for p in mine]}
    checks.append(
        Check(f"{prefix}.processes", host, Layer.GPU, Status.PASS, seen, "", processes_data)
    )
    return checks


def evaluate_gpu(
    host: str,
    declared: Any,
    facts: GpuFacts | None,
    thresholds: GpuThresholds | None = None,
) -> list[Check]:
    """Turn GPU facts into checks, against what the inventory says the host has.

    Args:
        host: inventory name.
        declared: the host's ``gpu`` data: a mapping (``vendor``, optional ``model`` and
            ``count``) or None for a host without a GPU.
        facts: what nvidia-smi reported (None when not gathered: host without a GPU).
        thresholds: when readings become warnings (defaults: 90 % memory, 85 C).

    Returns:
        One skipped ``gpu`` check for a host without a GPU; otherwise ``gpu.driver`` (fail when
        no GPU is visible) and per GPU ``gpu.N`` (name), ``gpu.N.memory``,
        ``gpu.N.temperature``, ``gpu.N.utilization`` and ``gpu.N.processes``.

    """
    thresholds = thresholds or GpuThresholds()
    if not declared:
        return [Check("gpu", host, Layer.GPU, Status.SKIP, "no GPU in the inventory (gpu: null)")]
    spec = _spec(declared)
    vendor = str(spec.get("vendor", "nvidia")).lower()
    if vendor != "nvidia":
        why = f"GPU vendor {vendor!r}: only NVIDIA GPUs (nvidia-smi) are checked"
        return [Check("gpu", host, Layer.GPU, Status.SKIP, why)]
    declared_text = _declared_text(spec)
    if facts is None or not facts.answered:
        if facts is not None and not facts.smi_found:
            evidence = f"nvidia-smi not found on the host ({facts.error})"
            remedy = REMEDY_NO_SMI.format(declared=declared_text)
        else:
            detail = facts.error if facts else "not gathered"
            code = f" (exit {facts.exit_code})" if facts and facts.exit_code else ""
            evidence = f"no GPU visible: nvidia-smi{code}: {detail}"
            remedy = REMEDY_NO_GPU.format(declared=declared_text)
        data = {"declared": dict(spec), **(facts.to_dict() if facts else {})}
        return [Check("gpu.driver", host, Layer.GPU, Status.FAIL, evidence, remedy, data)]
    count = len(facts.gpus)
    want_count = spec.get("count")
    short = isinstance(want_count, int) and count < want_count
    cuda = f" (CUDA {facts.cuda_version})" if facts.cuda_version else ""
    evidence = f"nvidia-smi answers: driver {facts.driver_version or 'n/a'}{cuda}, {count} GPU(s)"
    if short:
        evidence += f", inventory says {want_count}"
    driver = {
        "driver_version": facts.driver_version,
        "cuda_version": facts.cuda_version,
        "gpu_count": count,
        "source": facts.source,
        "thresholds": thresholds.to_dict(),
    }
    checks = [verdict("gpu.driver", host, Layer.GPU, not short, evidence, REMEDY_COUNT, driver)]
    for gpu in facts.gpus:
        checks += _gpu_checks(host, gpu, list(facts.processes), spec, thresholds)
    return checks
