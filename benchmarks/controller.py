"""Workload 7 of ``benchmarks/run.py``: the controller alone, at 50, 100 and 200 hosts.

The hosts are light lab nodes (``lab up --hosts N --light``): network namespaces with their own
sshd and nothing else (no Docker Engine), on 203.0.113.0/24 beside the lab's /26. They cost
the machine little, so what grows with N is the controller's own work: N SSH handshakes (kex,
host key check, public key auth), N sessions, N results and the report. Two commands are
measured, each ``--reps`` times, from the interpreter's own bin folder:

* ``exec -- true``: one connection and one command per host;
* ``run facts_round_trip``: every host's stacks rendered offline, then one batched facts
  command per host, parsed (``benchmarks/runbooks/facts_round_trip.py``: a deploy's facts
  gathering without its plan).

Per run: wall time, controller CPU (user + sys of the command and its children), peak RSS
(``ru_maxrss``) and peak PSS of the process tree, and each host's latency (its task's duration
in the report: connect + command) as percentiles. The goal at 200 hosts is <= 3 s and
<= 200 MiB. No timing is asserted: a benchmark, not a test.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SIZES = (50, 100, 200)
QUICK_SIZES = (10,)
GOAL_HOSTS = 200
GOAL_WALL_S = 3.0
GOAL_RSS_MIB = 200.0
RUNBOOKS = Path(__file__).resolve().parent / "runbooks"
COMMANDS = {"exec": "exec -- true", "facts": "run facts_round_trip"}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``values`` (nearest rank); empty when there are none."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))], 3)

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": round(ordered[-1], 3)}


def host_latencies(report: dict[str, Any]) -> list[float]:
    """Each host's top-level task duration in a report (connect + its command)."""
    out = []
    for host in report.get("hosts", {}).values():
        for task in host.get("tasks", ()):
            if task.get("level") == 0 and task.get("duration_s") is not None:
                out.append(float(task["duration_s"]))
    return out


def light_inventory(lab: Any, nodes: list[Any], dest: Path, make_inventory: Any) -> Path:
    """A copy of the lab inventory naming only ``nodes`` (as compute hosts running qdrant).

    The runbooks folder is this benchmark's, so ``run facts_round_trip`` finds its runbook.
    """
    hosts = {
        h.name: {
            "hostname": h.address,
            "groups": ["node"],
            "data": {"role": "compute", "fqdn": f"{h.name}.lab", "gpu": None},
        }
        for h in nodes
    }
    config = make_inventory(dest, hosts=hosts, groups={"node": {"data": {"stacks": ["qdrant"]}}})
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["runbooks_dir"] = str(RUNBOOKS)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config


def measure_size(
    n: int,
    reps: int,
    config: Path,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    """Measure both commands ``reps`` times on ``n`` hosts (alternating which goes first)."""
    measure: Callable[..., Any] = ctx["measure"]
    state: Path = ctx["state"]
    env = {**os.environ, "HOMEHUB_ALLOWED_NETWORKS": ctx["allowed"]}
    out: dict[str, Any] = {"hosts": n, "load_avg_before": [round(x, 2) for x in os.getloadavg()]}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in COMMANDS}
    for rep in range(reps):
        order = list(COMMANDS) if rep % 2 == 0 else list(COMMANDS)[::-1]
        for name in order:
            report_path = state / f"controller-{name}.json"
            report_path.unlink(missing_ok=True)
            cmd = [ctx["python"], "-m", "nornir_homehub", "--config", str(config)]
            cmd += _command(name, report_path)
            run = measure(cmd, env)
            report = json.loads(report_path.read_text()) if report_path.exists() else {}
            lat = host_latencies(report)
            ok = run.rc == 0 and len(lat) == n
            runs[name].append(
                {
                    "rep": rep,
                    "ok": ok,
                    "rc": run.rc,
                    "wall_s": round(run.wall_s, 3),
                    "cpu_s": round(run.cpu_s, 3),
                    "max_rss_mib": round(run.max_rss_mib, 1),
                    "peak_pss_mib": round(run.peak_pss_mib, 1),
                    "machine_busy": round(run.machine_busy, 3),
                    "hosts_answered": len(lat),
                    "latency_s": percentiles(lat),
                    "error": "" if ok else run.stderr[-600:],
                }
            )
            ctx["log"](
                f"  {n} hosts {name:<6} rep {rep}: {run.wall_s:6.2f} s  cpu {run.cpu_s:5.2f} s  "
                f"rss {run.max_rss_mib:6.1f} MiB  hosts {len(lat)}/{n}" + ("" if ok else "  FAILED")
            )
    for name, rs in runs.items():
        good = [r for r in rs if r["ok"]]
        out[name] = {
            "runs": rs,
            "failed": len(rs) - len(good),
            "wall_s": _median(good, "wall_s"),
            "cpu_s": _median(good, "cpu_s"),
            "max_rss_mib": _median(good, "max_rss_mib"),
            "peak_pss_mib": _median(good, "peak_pss_mib"),
            "latency_p50_s": _median_in(good, "p50"),
            "latency_p99_s": _median_in(good, "p99"),
        }
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _command(name: str, report_path: Path) -> list[str]:
    """The command line after ``--config``: the subcommand with its own ``--report``."""
    if name == "exec":
        return ["exec", "--json", "--report", str(report_path), "--", "true"]
    return ["run", "facts_round_trip", "--json", "--report", str(report_path)]


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    return round(statistics.median(r[key] for r in rows), 3) if rows else None


def _median_in(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r["latency_s"][key] for r in rows if r["latency_s"]]
    return round(statistics.median(vals), 3) if vals else None


def targets(by_size: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goal at 200 hosts (<= 3 s, <= 200 MiB), per command, met or missed."""
    rows = []
    size = by_size.get(str(GOAL_HOSTS))
    for name in COMMANDS:
        res = (size or {}).get(name) or {}
        wall, rss = res.get("wall_s"), res.get("max_rss_mib")
        met = None if wall is None or rss is None else wall <= GOAL_WALL_S and rss <= GOAL_RSS_MIB
        rows.append(
            {
                "target": f"controller, {name} on {GOAL_HOSTS} hosts",
                "required": f"<= {GOAL_WALL_S} s and <= {GOAL_RSS_MIB:.0f} MiB",
                "measured": None if met is None else f"{wall} s, {rss} MiB",
                "met": met,
                "gap": "" if met or met is None else f"{wall} s / {rss} MiB",
            }
        )
    return rows


def run_controller(reps: int, sizes: list[int], ctx: dict[str, Any]) -> dict[str, Any]:
    """Bring up the light lab at each size (largest last) and measure; return by host count.

    ``ctx``: what run.py lends (``measure``, ``log``, ``lab_up``, ``wait_quiet``,
    ``make_inventory``, ``state``, ``python``, ``allowed``, ``workers``). The caller holds the
    lab lock and brings the lab back to its base hosts afterwards.
    """
    out: dict[str, Any] = {}
    for n in sorted(sizes):
        ctx["log"](f"lab up --hosts {n + 3} --light ({n} sshd-only nodes)")
        t0 = time.perf_counter()
        lab = ctx["lab_up"](n + 3, light=True)
        up_s = round(time.perf_counter() - t0, 1)
        nodes = [h for h in lab.hosts if h.role == "node"][:n]
        config = light_inventory(
            lab, nodes, ctx["state"] / "inv" / f"light-{n}", ctx["make_inventory"]
        )
        _set_workers(config, ctx.get("workers"))
        waited, busy = ctx["wait_quiet"]()
        ctx["log"](f"  settled after {waited} s ({busy:.0%} of the CPUs busy)")
        res = measure_size(n, reps, config, ctx)
        res["settle_s"], res["busy_before"] = waited, busy
        res["lab_up_s"] = up_s
        res["num_workers"] = _workers(config)
        out[str(n)] = res
    return out


def _set_workers(config: Path, workers: int | None) -> None:
    if workers is None:
        return
    cfg = yaml.safe_load(config.read_text())
    cfg["runner"]["options"]["num_workers"] = workers
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _workers(config: Path) -> int | None:
    cfg = yaml.safe_load(config.read_text())
    return (cfg.get("runner") or {}).get("options", {}).get("num_workers")


def merge_previous(result: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Keep earlier controller results by host count in ``result`` (latest.json).

    A run without workload 7 carries the previous ``controller`` section on; a run at some
    sizes replaces only those sizes.
    """
    old = (previous or {}).get("controller") or {}
    new = result.get("controller") or {}
    if not old and not new:
        return
    merged = {**old, **new}
    result["controller"] = dict(sorted(merged.items(), key=lambda kv: int(kv[0])))
    result["controller_targets"] = targets(result["controller"])


def latest(
    result: dict[str, Any], previous: dict[str, Any] | None, workloads: set[int]
) -> dict[str, Any]:
    """What latest.json becomes after this run.

    A run of workload 7 alone keeps the previous file's other workloads and replaces only the
    controller sizes it measured (with when and on what it ran, under ``controller_run``);
    any other run is the new file, the previous controller sizes carried on.
    """
    if workloads != {7} or not previous:
        merge_previous(result, previous)
        return result
    out = dict(previous)
    out["controller"] = result.get("controller") or {}
    merge_previous(out, previous)
    out["controller_run"] = {
        k: result[k]
        for k in ("started", "finished", "machine", "load_avg_start", "load_avg_end", "notes")
        if k in result
    }
    return out


def markdown(by_size: dict[str, Any]) -> str:
    """The controller table for latest.md and the README."""
    lines = [
        "| hosts (light) | command | wall s | controller CPU s | peak RSS MiB | "
        "host latency p50 / p99 s | num_workers | load avg before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, res in by_size.items():
        for name, command in COMMANDS.items():
            r = res.get(name) or {}
            lines.append(
                f"| {n} | `{command}` "
                f"| {r.get('wall_s')} | {r.get('cpu_s')} | {r.get('max_rss_mib')} | "
                f"{r.get('latency_p50_s')} / {r.get('latency_p99_s')} | {res.get('num_workers')} | "
                f"{res.get('load_avg_before', ['?'])[0]} |"
            )
    return "\n".join(lines) + "\n"
