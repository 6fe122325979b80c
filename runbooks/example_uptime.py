"""Example user runbook ``example_uptime``: uptime, load and data-root disk usage per host.

Copy this file next to your own runbooks (``homehub.runbooks_dir`` in config.yaml) and run it
with ``python -m nornir_homehub run example_uptime [-o disk_warn_pct=70] [--filter ...]``.
It shows the pattern every runbook follows: one batched command per host (facts), pure
parsing and evaluation (checks with thresholds), one stage run in parallel, everything in the
report (``--report``, ``--junit``, ``history``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.connection import host_connection
from nornir_homehub.runbook_options import Option

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.api import RunContext

DISK_WARN_PCT = 80.0
DISK_FAIL_PCT = 95.0
LOAD_WARN_PER_CPU = 2.0

# What `-o` may set: `run example_uptime -o disk_warn_pct=70` (checked before any host is
# touched; `run example_uptime --help` lists them).
OPTIONS = [
    Option("disk_warn_pct", float, DISK_WARN_PCT, "warn at this disk usage (%)", minimum=0),
    Option("disk_fail_pct", float, DISK_FAIL_PCT, "fail at this disk usage (%)", minimum=0),
]
READ_ONLY = True  # changes nothing on a host: no deploy lock, no audit line


@dataclass(frozen=True)
class HostVitals:
    """What one command tells about a host."""

    uptime_s: float
    load1: float
    cpus: int
    path: str
    disk_used_pct: float
    disk_avail_kib: int


def parse_vitals(out: dict[str, str]) -> HostVitals:
    """Parse the outputs of `VITALS_COMMANDS` (pure; fact name -> stdout).

    Raises:
        ValueError: an output is not what its command prints.

    """
    df = out["df"].strip().splitlines()[-1].split()
    return HostVitals(
        uptime_s=float(out["uptime"].split()[0]),
        load1=float(out["loadavg"].split()[0]),
        cpus=int(out["nproc"].strip() or 1),
        path=out["path"].strip(),
        disk_used_pct=float(df[4].rstrip("%")),
        disk_avail_kib=int(df[3]),
    )


def evaluate_vitals(
    host: str, v: HostVitals, *, disk_warn_pct: float, disk_fail_pct: float
) -> list[Check]:
    """Checks of one host's vitals against the thresholds (pure)."""
    days, rest = divmod(int(v.uptime_s), 86400)
    uptime = Check(
        "uptime",
        host,
        Layer.SSH,  # read over the host's SSH connection; the model has no "host" layer
        Status.PASS,
        f"up {days}d {rest // 3600}h {rest % 3600 // 60}m",
        data={"uptime_s": v.uptime_s},
    )
    load_status = Status.WARN if v.load1 > LOAD_WARN_PER_CPU * v.cpus else Status.PASS
    load = Check(
        "load",
        host,
        Layer.SSH,
        load_status,
        f"load {v.load1:.2f} on {v.cpus} CPU(s)",
        remedy="" if load_status is Status.PASS else "See what is busy: `top -o %CPU`",
        data={"load1": v.load1, "cpus": v.cpus},
    )
    if v.disk_used_pct >= disk_fail_pct:
        disk_status = Status.FAIL
    elif v.disk_used_pct >= disk_warn_pct:
        disk_status = Status.WARN
    else:
        disk_status = Status.PASS
    disk = Check(
        "disk.data_root",
        host,
        Layer.SSH,
        disk_status,
        f"{v.path}: {v.disk_used_pct:.0f} % used, {v.disk_avail_kib // 1024} MiB free "
        f"(warn at {disk_warn_pct:.0f} %)",
        remedy=""
        if disk_status is Status.PASS
        else f"Free space under {v.path}: `docker system df`, `docker image prune`",
        data={"path": v.path, "used_pct": v.disk_used_pct, "avail_kib": v.disk_avail_kib},
    )
    return [uptime, load, disk]


def vitals_commands(data_root: str) -> dict[str, str]:
    """Fact name -> shell command; run together in one round trip (`run_batch`)."""
    # The data root may not exist yet (dns host, fresh server): measure its nearest parent.
    nearest = f'p={shlex.quote(data_root)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done'
    return {
        "uptime": "cat /proc/uptime",
        "loadavg": "cat /proc/loadavg",
        "nproc": "nproc",
        "path": f'{nearest}; echo "$p"',
        "df": f'{nearest}; df -Pk "$p"',
    }


def host_vitals(task: Task, disk_warn_pct: float, disk_fail_pct: float) -> Result:
    """Nornir task: one command on the host, then checks (``result`` = list of `Check`)."""
    data_root = str(task.host.get("data_root") or "/")
    facts = host_connection(task).run_batch(vitals_commands(data_root), timeout=30)
    broken = [f"{name} exited {r.exit_code}" for name, r in facts.items() if not r.ok]
    if broken:
        raise RuntimeError(f"{task.host.name}: {', '.join(broken)}")
    checks = evaluate_vitals(
        task.host.name,
        parse_vitals({name: r.stdout for name, r in facts.items()}),
        disk_warn_pct=disk_warn_pct,
        disk_fail_pct=disk_fail_pct,
    )
    return Result(host=task.host, result=checks, failed=any(c.failed for c in checks))


def run(
    nr: Nornir,
    ctx: RunContext,
    *,
    disk_warn_pct: float | str = DISK_WARN_PCT,
    disk_fail_pct: float | str = DISK_FAIL_PCT,
    **_: Any,
) -> None:
    """Check uptime, load and data-root disk usage on every selected host (stage ``vitals``).

    Args:
        nr: the selected hosts (``--filter``).
        ctx: the run context (stages, report).
        disk_warn_pct: warn at this disk usage (``-o disk_warn_pct=70``; strings accepted).
        disk_fail_pct: fail at this disk usage.
    """
    ctx.stage(
        "vitals",
        nr,
        host_vitals,
        disk_warn_pct=float(disk_warn_pct),
        disk_fail_pct=float(disk_fail_pct),
    )
