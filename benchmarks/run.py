"""Side-by-side benchmark: nornir_homehub vs ansible-playbook on the local lab (issue 7).

Runs each workload with both tools, alternating which goes first, ``--reps`` times each, and
writes ``benchmarks/results/latest.{json,md}`` plus timestamped copies. A benchmark, not a test:
nothing here asserts timings. Holds the machine-wide lab lock for the whole run, so it never
races a test session.

    python benchmarks/run.py                    # full run: workloads 1-4, 5 repetitions
    python benchmarks/run.py --quick            # CI smoke run: workloads 2 and 6, 1 repetition
    python benchmarks/run.py --workloads 7      # the controller at 50, 100, 200 light hosts
    python benchmarks/run.py --workloads 8      # the no-op vs `exec -- true`, 5 runs each
    python benchmarks/run.py --workloads 2,3 --reps 3 --readme

Workloads: 1 first deploy of litellm, openwebui, ollama, qdrant onto emptied hosts; 2 no-op
re-deploy; 3 one env value changed (Ollama's OLLAMA_KEEP_ALIVE: only ollama restarts); 4 no-op
deploy of the qdrant stack on N compute-like lab nodes (``lab up --hosts``); 5 (opt-in) a changed
Open WebUI secret deployed while a request loop asks Traefik for chat: failed requests and the
longest gap per run (``benchmarks/edge_load.py``); 6 (opt-in) the stateful services: Ollama's
keep-alive and Qdrant's API key changed, each deployed alone while a loop asks the service's
published port, so the table shows the gap a recreate leaves (both tools recreate them); 7
(opt-in) the controller alone: ``exec -- true`` and the facts round trip on 50, 100 and 200
sshd-only lab nodes (``lab up --light``, ``benchmarks/controller.py``), nornir_homehub only; 8
(opt-in) the no-op re-deploy and ``exec -- true`` on the same three hosts, alternating, at
least 5 runs each: how far the no-op is above the floor of any run (start, connect, one
command).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import ipaddress
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import controller
import yaml
from edge_load import RequestLoop, edge_table, gap_table

ROOT = Path(__file__).resolve().parents[1]
LAB_CONFIG = ROOT / "inventory" / "lab" / "config.yaml"
STATE = ROOT / ".homehub" / "bench"  # git-ignored: rendered files (with secrets), inventories
RESULTS = ROOT / "benchmarks" / "results"
ANSIBLE_DIR = ROOT / "benchmarks" / "ansible"
CP_DIR = ROOT / ".homehub" / "bench-cp"  # Ansible's ControlPath sockets (short path: 108 chars)
PY = sys.executable
BIN = Path(PY).parent  # console scripts beside the interpreter (no pyenv shim in the timing)
ALL_STACKS = ("litellm", "openwebui", "ollama", "qdrant")
LAB_NET = ipaddress.ip_network("192.0.2.128/26")
ALLOWED = "192.0.2.128/26,203.0.113.0/24,127.0.0.0/8,::1/128"  # lab, light lab nodes
TOOLS = ("nornir_homehub", "ansible")
SELECTED = list(TOOLS)  # --tools narrows this (diagnostic runs)
RESET = (
    'for d in /opt/stacks/*/; do [ -f "$d/compose.yaml" ] && (cd "$d" && docker compose -p '
    '"$(basename "$d")" down -v --remove-orphans >/dev/null 2>&1); done; '
    "rm -rf /opt/stacks /srv/docker"
)
COPY_TASK = "Stack files (compose, env, config)"
COMPOSE_TASKS = ("Compose up, wait until running and healthy",)
RUN_TIMEOUT = 900.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the lab -------------------------------------------------------------------------------------
@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """Hold the machine-wide lab lock that test sessions take, for the whole benchmark."""
    from nornir_homehub.lab import lab_lock as _lock

    with _lock(wait_message=log):
        yield


def cli(
    *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nornir_homehub`` (unmeasured helper calls); ``env`` adds variables."""
    proc = subprocess.run(
        [PY, "-m", "nornir_homehub", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {}), "HOMEHUB_ALLOWED_NETWORKS": ALLOWED},
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"nornir_homehub {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc


def get_lab() -> Any:
    """The lab object (reads the saved number of extra nodes)."""
    from nornir_homehub.config import load_settings
    from nornir_homehub.lab import Lab

    settings = load_settings(LAB_CONFIG)
    assert settings.lab_dir is not None
    return Lab(settings.lab_dir, LAB_CONFIG.parent / "hosts.yaml")


def lab_up(total: int | None = None, *, light: bool = False) -> Any:
    args = ["--config", str(LAB_CONFIG), "lab", "up"]
    if total:
        args += ["--hosts", str(total)]
    if light:
        args.append("--light")
    cli(*args, timeout=1800)
    return get_lab()


def ssh_counts(lab: Any, names: list[str]) -> dict[str, int]:
    """Accepted SSH connections so far, per host, from the hosts' sshd logs."""
    out = {}
    for name in names:
        text = (lab.host_dir(name) / "sshd.log").read_text(errors="replace")
        out[name] = text.count("Accepted publickey")
    return out


def reset_hosts(lab: Any, names: list[str]) -> None:
    """Empty hosts (compose down every project, rm /opt/stacks /srv/docker); images stay."""
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda n: lab.host_exec(n, RESET, timeout=180), names))


def ensure_qdrant_image(lab: Any, names: list[str]) -> None:
    """Build the qdrant stand-in on lab nodes that lack it (kept in their docker data dirs)."""
    from nornir_homehub.connection import HomehubSSH
    from nornir_homehub.facts.docker import image_label_command
    from nornir_homehub.lab import images

    files = images.context_files("qdrant")
    digest = images.context_hash(files)
    image = images.image_name("qdrant")

    def one(name: str) -> None:
        have = lab.host_exec(name, image_label_command(image, images.HASH_LABEL)).stdout
        if have.strip() == digest:
            return
        host = next(h for h in lab.hosts if h.name == name)
        conn = lab.connect(host, HomehubSSH())
        try:
            res = conn.run(
                f"DOCKER_BUILDKIT=0 docker build -q -t {image} "
                f"--label {images.HASH_LABEL}={digest} -",
                stdin=images.build_context(files),
                timeout=600,
            )
            if not res.ok:
                raise RuntimeError(f"{name}: building {image} failed: {res.stderr[-800:]}")
        finally:
            conn.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, names))


# -- inventories and rendered files --------------------------------------------------------------
def make_inventory(
    dest: Path,
    *,
    hosts: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    groups: dict[str, Any] | None = None,
) -> Path:
    """Copy the lab inventory to ``dest`` (absolute paths), with optional overrides."""
    from nornir_homehub.lab.inventory import copy_inventory

    config = copy_inventory(LAB_CONFIG, dest)
    if hosts is not None:
        (dest / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    if groups:
        merged = yaml.safe_load((dest / "groups.yaml").read_text()) or {}
        merged.update(groups)
        (dest / "groups.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    if data:
        defaults = yaml.safe_load((dest / "defaults.yaml").read_text())
        defaults["data"].update(data)
        (dest / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    return config


@dataclass
class Target:
    """One deploy target for both tools: nornir config + the Ansible inventory of the same hosts."""

    config: Path
    inventory: Path
    stacks: tuple[str, ...]
    hosts: list[str]
    file_sync_only: bool = False  # Ansible: --skip-tags compose (dirs + files only)
    env: dict[str, str] = field(default_factory=dict)  # e.g. a HOMEHUB_SECRET_* override


def prepare(
    name: str, config: Path, stacks: tuple[str, ...], env: dict[str, str] | None = None
) -> Target:
    """Render the files (``render --out``) and write the Ansible inventory from render's JSON."""
    out = STATE / "render" / name
    if out.exists():
        shutil.rmtree(out)
    res = cli(
        "--config", str(config), "render", "--out", str(out), "--reveal-secrets",
        "--stacks", ",".join(stacks), "--json", env=env,
    )  # fmt: skip
    rendered = json.loads(res.stdout)
    inv_hosts = yaml.safe_load((config.parent / "hosts.yaml").read_text())
    defaults = yaml.safe_load((config.parent / "defaults.yaml").read_text())
    extras = defaults["connection_options"]["homehub_ssh"]["extras"]
    hosts: dict[str, Any] = {}
    for host, entries in rendered["hosts"].items():
        if not entries:
            continue
        address = str(inv_hosts[host]["hostname"])
        if ipaddress.ip_address(address) not in LAB_NET:
            raise RuntimeError(f"{host} {address} is outside the lab subnet {LAB_NET}")
        dirs: dict[str, dict[str, str]] = {}
        files, stacks_, steps = [], [], []
        for st in entries:
            pdir = st["project_dir"]
            dirs[pdir] = {"path": pdir, "mode": "0755", "owner": "root", "group": "root"}
            for f in st["files"]:
                parent = str(Path(f["path"]).parent)
                dirs.setdefault(
                    parent, {"path": parent, "mode": "0755", "owner": "root", "group": "root"}
                )
                rel = Path(f["path"]).relative_to(pdir)
                files.append(
                    {
                        "src": str(out / host / st["name"] / rel),
                        "dest": f["path"],
                        "mode": f["mode"],
                        "restarts": f["restarts"],
                        "project": st["project"],
                        "project_dir": pdir,
                    }
                )
            for d in st["data_dirs"]:
                dirs[d["path"]] = dict(d)
            stacks_.append({"name": st["name"], "project": st["project"], "dir": pdir})
            steps += [
                {"name": p["name"], "unless": p["unless"] or "false", "command": p["command"]}
                for p in st["post_deploy"]
            ]
        hosts[host] = {
            "ansible_host": address,
            "homehub_dirs": list(dirs.values()),
            "homehub_files": files,
            "homehub_stacks": stacks_,
            "homehub_steps": steps,
        }
    common = (
        f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={extras['known_hosts']} "
        "-o StrictHostKeyChecking=yes -o ConnectTimeout=5"
    )
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": extras["key_file"],
                "ansible_ssh_common_args": common,
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "hosts": hosts,
        }
    }
    inv_path = STATE / "ansible" / f"{name}.yaml"
    inv_path.parent.mkdir(parents=True, exist_ok=True)
    inv_path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return Target(config, inv_path, stacks, sorted(hosts), env=dict(env or {}))


# -- measuring one run ---------------------------------------------------------------------------
def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (by scanning /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class Run:
    """Raw outcome of one measured command."""

    wall_s: float
    rc: int
    stdout: str
    stderr: str
    peak_pss_mib: float
    max_rss_mib: float
    procs_peak: int
    cpu_s: float  # controller CPU (user + sys) of the tool and its waited-for children
    machine_busy: float  # share of all CPUs busy during the run (lab hosts included)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


QUIET_BUSY = 0.25  # the machine counts as settled below this share of its CPUs busy
QUIET_MAX_S = 60.0


def wait_quiet(limit_s: float = QUIET_MAX_S) -> tuple[float, float]:
    """Wait (at most ``limit_s``) until the machine is settled after ``lab up``.

    Starting 200 sshd namespaces keeps both CPUs busy for a while after ``lab up`` returns;
    measured then, the controller's figures are the lab's start. Returns (seconds waited, the
    share of the CPUs busy in the last second).
    """
    t0 = time.perf_counter()
    while True:
        busy0, total0 = _cpu_ticks()
        time.sleep(1.0)
        busy1, total1 = _cpu_ticks()
        busy = (busy1 - busy0) / max(1, total1 - total0)
        if busy < QUIET_BUSY or time.perf_counter() - t0 >= limit_s:
            return round(time.perf_counter() - t0, 1), round(busy, 3)


def measure(cmd: list[str], env: dict[str, str]) -> Run:
    """Run ``cmd``; wall time, peak PSS of its process tree (sampled every 0.1 s), max RSS."""
    STATE.mkdir(parents=True, exist_ok=True)
    out_path, err_path = STATE / "run.stdout", STATE / "run.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        ticks0 = _cpu_ticks()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        peak = [0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                pids = _tree(proc.pid)
                peak[0] = max(peak[0], sum(_pss_kib(p) for p in pids))
                peak[1] = max(peak[1], len(pids))
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        ticks1 = _cpu_ticks()
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    return Run(
        wall_s=wall,
        rc=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        peak_pss_mib=peak[0] / 1024,
        max_rss_mib=usage.ru_maxrss / 1024,
        procs_peak=peak[1],
        cpu_s=usage.ru_utime + usage.ru_stime,
        machine_busy=(ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]),
    )


@dataclass
class Sample:
    """One measured run of one tool."""

    tool: str
    workload: str
    rep: int
    order: int  # 0: ran first in its pair, 1: second
    wall_s: float
    ok: bool
    ssh_per_host: dict[str, int]
    file_bytes: int
    stacks_changed: int
    peak_pss_mib: float
    max_rss_mib: float
    procs_peak: int
    cpu_s: float = 0.0
    machine_busy: float = 0.0
    error: str = ""
    detail: dict[str, float] = field(default_factory=dict)


def run_nornir(t: Target, lab: Any) -> tuple[Run, int, int, dict[str, float]]:
    """Deploy with nornir_homehub; returns the run, file bytes sent, stacks changed, stages.

    File bytes: the report's ``bytes_uploaded`` per host (this includes the state record
    nornir_homehub writes per changed stack: a few hundred bytes, one hash per file).
    """
    report = STATE / "nornir-report.json"
    report.unlink(missing_ok=True)
    cmd = [
        PY, "-m", "nornir_homehub", "--config", str(t.config), "deploy", "--no-verify",
        "--stacks", ",".join(t.stacks), "--json", "--report", str(report),
    ]  # fmt: skip
    run = measure(cmd, {**os.environ, **t.env, "HOMEHUB_ALLOWED_NETWORKS": ALLOWED})
    sent = changed = 0
    detail: dict[str, float] = {}
    if report.exists():
        data = json.loads(report.read_text())
        detail["report duration"] = data.get("duration_s") or 0.0
        for name, host in data["hosts"].items():
            for task in host["tasks"]:
                detail[f"{name}: {task['name']}"] = task.get("duration_s") or 0.0
                res = task.get("result")
                if task["level"] == 0 and isinstance(res, dict):
                    sent += int(res.get("bytes_uploaded") or 0)
                if task["name"].startswith("stack:") and task["changed"]:
                    changed += 1
    return run, sent, changed, detail


def _end_control_masters() -> None:
    """End the ControlPersist masters ansible left (``ssh -O exit`` on each socket)."""
    if not CP_DIR.is_dir():
        return
    for sock in CP_DIR.iterdir():
        subprocess.run(
            ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "lab-host"],
            capture_output=True,
            timeout=15,
            check=False,
        )
        sock.unlink(missing_ok=True)


def run_ansible(t: Target, lab: Any) -> tuple[Run, int, int, dict[str, float]]:
    """Deploy with ansible-playbook; returns the run, file bytes sent, stacks changed, tasks.

    File bytes: the sizes of the rendered files whose copy task item reported ``changed``
    (read from the ansible.posix.json callback).
    """
    CP_DIR.mkdir(parents=True, exist_ok=True)
    _end_control_masters()
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(CP_DIR),
        "ANSIBLE_LOCAL_TEMP": str(STATE / "ansible-tmp"),
        "ANSIBLE_HOME": str(STATE / "ansible-home"),
    }
    cmd = [str(BIN / "ansible-playbook"), "-i", str(t.inventory), str(ANSIBLE_DIR / "deploy.yml")]
    if t.file_sync_only:
        cmd += ["--skip-tags", "compose"]
    try:
        run = measure(cmd, env)
    finally:
        _end_control_masters()
    sent = changed = 0
    detail: dict[str, float] = {}
    with contextlib.suppress(ValueError, KeyError):
        data = json.loads(run.stdout)
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                span = task["task"].get("duration") or {}
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    start = dt.datetime.fromisoformat(span["start"].replace("Z", "+00:00"))
                    end = dt.datetime.fromisoformat(span["end"].replace("Z", "+00:00"))
                    detail[name] = round((end - start).total_seconds(), 3)
                for res in task["hosts"].values():
                    items = res.get("results", [])
                    if name == COPY_TASK:
                        sent += sum(
                            Path(r["item"]["src"]).stat().st_size for r in items if r.get("changed")
                        )
                    elif name in COMPOSE_TASKS:
                        changed += sum(1 for r in items if r.get("changed"))
    return run, sent, changed, detail


RUNNERS: dict[str, Callable[[Target, Any], tuple[Run, int, int, dict[str, float]]]] = {
    "nornir_homehub": run_nornir,
    "ansible": run_ansible,
}


def sample(tool: str, workload: str, rep: int, order: int, t: Target, lab: Any) -> Sample:
    """One measured run: SSH connections per host from the sshd logs before and after."""
    before = ssh_counts(lab, t.hosts)
    run, sent, changed, detail = RUNNERS[tool](t, lab)
    after = ssh_counts(lab, t.hosts)
    s = Sample(
        tool=tool,
        workload=workload,
        rep=rep,
        order=order,
        wall_s=round(run.wall_s, 3),
        ok=run.rc == 0,
        ssh_per_host={h: after[h] - before[h] for h in t.hosts},
        file_bytes=sent,
        stacks_changed=changed,
        peak_pss_mib=round(run.peak_pss_mib, 1),
        max_rss_mib=round(run.max_rss_mib, 1),
        procs_peak=run.procs_peak,
        cpu_s=round(run.cpu_s, 2),
        machine_busy=round(run.machine_busy, 3),
        error="" if run.rc == 0 else _failure(tool, run),
        detail=detail,
    )
    flag = "ok" if s.ok else f"FAILED rc={run.rc}"
    conns = sorted(set(s.ssh_per_host.values()))
    log(
        f"  {workload} rep {rep} {tool:<14} {s.wall_s:7.2f} s  ssh/host {conns}  "
        f"bytes {sent}  stacks changed {changed}  pss {s.peak_pss_mib:.0f} MiB  "
        f"cpu {s.cpu_s:.1f} s  machine busy {s.machine_busy:.0%}  {flag}"
    )
    if not s.ok:
        log("    " + s.error.replace("\n", "\n    ")[-1200:])
    return s


def _failure(tool: str, run: Run) -> str:
    """A short reason for a failed run (Ansible: the failed tasks' messages)."""
    if tool == "ansible":
        msgs = []
        with contextlib.suppress(ValueError, KeyError, AttributeError):
            for play in json.loads(run.stdout).get("plays", []):
                for task in play["tasks"]:
                    for host, res in task["hosts"].items():
                        for r in res.get("results", [res]):
                            if r.get("failed") or r.get("unreachable"):
                                msgs.append(f"{host}: {task['task']['name']}: {r.get('msg')}")
        if msgs:
            return "\n".join(msgs[:5])[:1500]
    return (run.stderr or run.stdout)[-1500:]


def converge(t: Target, lab: Any) -> None:
    """Unmeasured: run both tools once so each no-op measurement starts from a converged host."""
    for tool in SELECTED:
        run, *_ = RUNNERS[tool](t, lab)
        if run.rc != 0:
            raise RuntimeError(f"converge with {tool} failed: {_failure(tool, run)}")


def pairs(reps: int) -> Iterator[tuple[int, int, str]]:
    """(rep, order, tool), alternating which tool goes first."""
    for rep in range(reps):
        tools = SELECTED if rep % 2 == 0 else SELECTED[::-1]
        for order, tool in enumerate(tools):
            yield rep, order, tool


# -- workloads -----------------------------------------------------------------------------------
def w1_first_deploy(reps: int, lab: Any) -> list[Sample]:
    t = prepare("w1", make_inventory(STATE / "inv" / "base"), ALL_STACKS)
    out = []
    for rep, order, tool in pairs(reps):
        reset_hosts(lab, t.hosts)
        out.append(sample(tool, "1-first-deploy", rep, order, t, lab))
    return out


def w2_noop(reps: int, lab: Any) -> list[Sample]:
    t = prepare("w2", make_inventory(STATE / "inv" / "base"), ALL_STACKS)
    converge(t, lab)
    return [sample(tool, "2-noop", rep, o, t, lab) for rep, o, tool in pairs(reps)]


def w3_env_change(reps: int, lab: Any) -> list[Sample]:
    values = ("24h", "12h")
    targets = {
        v: prepare(
            f"w3-{v}",
            make_inventory(STATE / "inv" / f"keepalive-{v}", data={"ollama_keep_alive": v}),
            ALL_STACKS,
        )
        for v in values
    }
    current = values[0]
    converge(targets[current], lab)
    out = []
    for rep, order, tool in pairs(reps):
        current = values[1] if current == values[0] else values[0]
        out.append(sample(tool, "3-env-change", rep, order, targets[current], lab))
    return out


def w8_noop_vs_exec(reps: int, lab: Any) -> dict[str, Any]:
    """The no-op re-deploy and ``exec -- true`` on the same hosts, alternating, ``reps`` each.

    ``exec -- true`` is the floor of any run over these hosts: start, connect, one command.
    The no-op deploy's median over that floor is what the run's own work costs.
    """
    t = prepare("w2", make_inventory(STATE / "inv" / "base"), ALL_STACKS)
    run, *_ = run_nornir(t, lab)
    if run.rc != 0:
        raise RuntimeError(f"converge failed: {_failure('nornir_homehub', run)}")
    base = [PY, "-m", "nornir_homehub", "--config", str(t.config)]
    cmds = {
        "no-op deploy": [*base, "deploy", "--no-verify", "--stacks", ",".join(t.stacks)],
        "exec -- true": [*base, "exec", "--", "true"],
    }
    env = {**os.environ, "HOMEHUB_ALLOWED_NETWORKS": ALLOWED}
    # Both commands connect to every inventory host (dns too, which runs no stack).
    hosts = sorted(yaml.safe_load((t.config.parent / "hosts.yaml").read_text()))
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    conns: dict[str, set[int]] = {name: set() for name in cmds}
    for rep in range(reps):
        order = list(cmds) if rep % 2 == 0 else list(cmds)[::-1]
        for name in order:
            before = ssh_counts(lab, hosts)
            r = measure(cmds[name], env)
            after = ssh_counts(lab, hosts)
            if r.rc != 0:
                raise RuntimeError(f"{name} failed (rc {r.rc}): {(r.stderr or r.stdout)[-800:]}")
            walls[name].append(round(r.wall_s, 3))
            conns[name] |= {after[h] - before[h] for h in hosts}
            log(f"  8-noop-vs-exec rep {rep} {name:<13} {r.wall_s:6.3f} s")
    med = {name: statistics.median(v) for name, v in walls.items()}
    return {
        "reps": reps,
        "hosts": hosts,
        "wall_s": walls,
        "median_s": med,
        "ssh_per_host": {name: sorted(c) for name, c in conns.items()},
        "ratio": round(med["no-op deploy"] / med["exec -- true"], 2),
    }


def noop_exec_table(cmp: dict[str, Any] | None) -> list[str]:
    """Markdown rows of workload 8 (empty when it did not run)."""
    if not cmp:
        return []
    lines = [
        "",
        f"| 8. on the same {len(cmp['hosts'])} hosts, alternating, {cmp['reps']} runs each "
        "| wall s, median (min-max) | SSH conns/host |",
        "| --- | --- | --- |",
    ]
    for name, walls in cmp["wall_s"].items():
        conns = "-".join(str(c) for c in cmp["ssh_per_host"][name])
        lines.append(
            f"| `{name}` | {cmp['median_s'][name]:.3f} ({min(walls):.3f}-{max(walls):.3f}) "
            f"| {conns} |"
        )
    return lines


WEBUI_KEY_VAR = "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY"


def w5_edge_change(reps: int, lab: Any) -> list[Sample]:
    """A changed Open WebUI secret (open-webui is recreated), with requests through Traefik."""
    from nornir_homehub.lab.edge import LAB_AUTH_COOKIE, LAB_AUTH_TOKEN

    config = make_inventory(STATE / "inv" / "edge")
    keys = ("bench-webui-key-a-3f9c", "bench-webui-key-b-71d2")
    targets = {
        k: prepare(f"w5-{i}", config, ("openwebui",), env={WEBUI_KEY_VAR: k})
        for i, k in enumerate(keys)
    }
    inv_hosts = yaml.safe_load((config.parent / "hosts.yaml").read_text())
    defaults = yaml.safe_load((config.parent / "defaults.yaml").read_text())
    trusted = next(n for n, h in inv_hosts.items() if h.get("data", {}).get("role") == "trusted")
    address, domain = str(inv_hosts[trusted]["hostname"]), defaults["data"]["domain"]
    current = keys[0]
    converge(targets[current], lab)
    out = []
    for rep, order, tool in pairs(reps):
        current = keys[1] if current == keys[0] else keys[0]
        loop = RequestLoop(
            address, f"chat.{domain}", f"{LAB_AUTH_COOKIE}={LAB_AUTH_TOKEN}", lab_net=LAB_NET
        )
        settled = loop.settle()
        with loop:
            s = sample(tool, "5-edge-change", rep, order, targets[current], lab)
        s.detail.update({**loop.outcome.detail(), "edge settle before s": round(settled, 2)})
        log(
            f"    edge: {loop.outcome.requests} requests, {loop.outcome.failed} failed, "
            f"longest gap {loop.outcome.longest_gap_s:.2f} s {loop.outcome.first_failures} "
            f"(served 200 again {settled:.2f} s before the run)"
        )
        out.append(s)
    return out


QDRANT_KEY_VAR = "HOMEHUB_SECRET_VAULT_QDRANT_API_KEY"


def w6_stateful_change(reps: int, lab: Any) -> list[Sample]:
    """The gap a recreated stateful service leaves: Ollama (its keep-alive changed) and Qdrant
    (its API key changed), each deployed alone by each tool while a loop asks the service's
    published port for an endpoint that needs no key. Both tools recreate these: the numbers
    show the restart itself, measured on the lab's stand-ins, not on the vendor images."""
    config = make_inventory(STATE / "inv" / "stateful")
    inv_hosts = yaml.safe_load((config.parent / "hosts.yaml").read_text())
    compute = next(n for n, h in inv_hosts.items() if h.get("data", {}).get("role") == "compute")
    address = str(inv_hosts[compute]["hostname"])
    cases: list[tuple[str, int, str, dict[str, Target]]] = []
    ka = ("24h", "12h")
    cases.append(
        (
            "6-ollama-change",
            11434,
            "/api/version",
            {
                v: prepare(
                    f"w6-ollama-{v}",
                    make_inventory(STATE / "inv" / f"stateful-{v}", data={"ollama_keep_alive": v}),
                    ("ollama",),
                )
                for v in ka
            },
        )
    )
    keys = ("bench-qdrant-key-a-5e1b", "bench-qdrant-key-b-c804")
    cases.append(
        (
            "6-qdrant-change",
            6333,
            "/healthz",
            {
                k: prepare(f"w6-qdrant-{i}", config, ("qdrant",), env={QDRANT_KEY_VAR: k})
                for i, k in enumerate(keys)
            },
        )
    )
    out = []
    for workload, port, path, targets in cases:
        values = list(targets)
        current = values[0]
        converge(targets[current], lab)
        for rep, order, tool in pairs(reps):
            current = values[1] if current == values[0] else values[0]
            loop = RequestLoop(address, None, None, lab_net=LAB_NET, port=port, path=path)
            settled = loop.settle()
            with loop:
                s = sample(tool, workload, rep, order, targets[current], lab)
            s.detail.update({**loop.outcome.detail(), "edge settle before s": round(settled, 2)})
            log(
                f"    {workload}: {loop.outcome.requests} requests, {loop.outcome.failed} "
                f"failed, longest gap {loop.outcome.longest_gap_s:.2f} s "
                f"{loop.outcome.first_failures}"
            )
            out.append(s)
    # Leave the lab's own secret in place for whatever runs next.
    converge(prepare("w6-qdrant-lab", config, ("qdrant",)), lab)
    return out


def w4_scale(
    reps: int, sizes: list[int], compose_limit: int
) -> tuple[list[Sample], dict[str, Any]]:
    biggest = max(sizes)
    need_gib = 1 + biggest * 0.12
    avail = _meminfo().get("MemAvailable", 0) / 2**20
    info: dict[str, Any] = {
        "mem_available_gib": round(avail, 1),
        "nodes": biggest,
        "ansible_file_sync_only_above": compose_limit,
        "errors": [],
    }
    if avail < need_gib:
        raise RuntimeError(f"{biggest} lab nodes need ~{need_gib:.0f} GiB, {avail:.1f} available")
    log(f"lab up --hosts {biggest + 3} ({biggest} nodes with a Docker Engine each)")
    t0 = time.perf_counter()
    lab = lab_up(biggest + 3)
    nodes = [h for h in lab.hosts if h.role == "node"][:biggest]
    ensure_qdrant_image(lab, [h.name for h in nodes])
    info["lab_up_s"] = round(time.perf_counter() - t0, 1)
    out = []
    for n in sizes:
        hosts = {
            h.name: {
                "hostname": h.address,
                "groups": ["node"],
                "data": {"role": "compute", "fqdn": f"{h.name}.lab", "gpu": None},
            }
            for h in nodes[:n]
        }
        cfg = make_inventory(
            STATE / "inv" / f"scale-{n}",
            hosts=hosts,
            groups={"node": {"data": {"stacks": ["qdrant"]}}},
        )
        t = prepare(f"w4-{n}", cfg, ("qdrant",))
        t.file_sync_only = n > compose_limit
        log(f"  scale {n} hosts: converging" + (" (Ansible: file sync only)" * t.file_sync_only))
        try:
            converge(t, lab)
            out += [sample(tool, f"4-scale-{n}", rep, o, t, lab) for rep, o, tool in pairs(reps)]
        except RuntimeError as exc:
            info["errors"].append(f"{n} hosts: {str(exc)[:1500]}")
            log(f"  scale {n} hosts aborted: {str(exc)[:1500]}")
    return out, info


def restore_lab() -> None:
    """Back to the three base hosts: lab down, forget the extra nodes, lab up."""
    log("restoring the lab to its 3 base hosts (lab down, lab up)")
    cli("--config", str(LAB_CONFIG), "lab", "down", timeout=1800)
    lab = get_lab()
    (lab.dir / "state.json").write_text(json.dumps({"extra_hosts": 0}))
    lab_up()


def cold_start(runs: int) -> dict[str, Any]:
    """``python -m nornir_homehub --help`` (and ``ansible-playbook --help``) wall times."""
    out: dict[str, Any] = {}
    cmds = {
        "nornir_homehub --help": [PY, "-m", "nornir_homehub", "--help"],
        "ansible-playbook --help": [str(BIN / "ansible-playbook"), "--help"],
    }
    for name, cmd in cmds.items():
        if runs < 1 or not Path(cmd[0]).exists():
            continue
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
            times.append(round(time.perf_counter() - t0, 4))
        out[name] = {"samples": times, **stats(times)}
        log(f"cold start {name}: median {out[name]['median']:.3f} s")
    return out


# -- facts, statistics, reports ------------------------------------------------------------------
def _meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0])
    return out


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(lab: Any) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    community_docker = "not installed"
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("ansible")
        collections = Path(str(dist.locate_file("ansible_collections")))
        docker_manifest = collections / "community" / "docker" / "MANIFEST.json"
        if docker_manifest.is_file():
            community_docker = json.loads(docker_manifest.read_text())["collection_info"]["version"]
    compute = lab.host_exec(
        "compute", "docker version --format '{{.Server.Version}}'; docker compose version --short"
    ).stdout.split()
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], check=False, capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_total_gib": round(_meminfo()["MemTotal"] / 2**20, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "git": git.stdout.strip() + ("-dirty" if dirty else ""),
        "versions": {
            "nornir_homehub": _version("nornir_homehub"),
            "nornir": _version("nornir"),
            "paramiko": _version("paramiko"),
            "ansible": _version("ansible"),
            "ansible-core": _version("ansible-core"),
            "community.docker": community_docker,
            "dockerd (lab)": compute[0] if compute else "?",
            "docker compose (lab)": compute[1] if len(compute) > 1 else "?",
            "openssh": subprocess.run(
                ["ssh", "-V"], capture_output=True, text=True, check=False
            ).stderr.strip(),
        },
    }


def stats(values: list[float]) -> dict[str, float]:
    """Median and spread (min, max, stdev, spread = (max - min) / median)."""
    if not values:
        return {}
    med = statistics.median(values)
    return {
        "median": round(med, 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "stdev": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
        "spread": round((max(values) - min(values)) / med, 3) if med else 0.0,
    }


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """Per workload and tool: wall time stats, SSH connections, bytes, memory."""
    out: dict[str, Any] = {}
    for s in samples:
        out.setdefault(s.workload, {}).setdefault(s.tool, []).append(s)
    summary: dict[str, Any] = {}
    for wl, by_tool in out.items():
        summary[wl] = {}
        for tool, ss in by_tool.items():
            ok = [s for s in ss if s.ok]
            conns = [c for s in ok for c in s.ssh_per_host.values()]
            summary[wl][tool] = {
                "runs": len(ss),
                "failed": len(ss) - len(ok),
                "hosts": len(ss[0].ssh_per_host),
                "wall_s": stats([s.wall_s for s in ok]),
                "ssh_per_host_max": max(conns) if conns else None,
                "ssh_per_host_min": min(conns) if conns else None,
                "file_bytes_median": statistics.median([s.file_bytes for s in ok]) if ok else None,
                "stacks_changed_median": statistics.median([s.stacks_changed for s in ok])
                if ok
                else None,
                "peak_pss_mib": stats([s.peak_pss_mib for s in ok]),
                "max_rss_mib": stats([s.max_rss_mib for s in ok]),
                "cpu_s": stats([s.cpu_s for s in ok]),
                "machine_busy": stats([s.machine_busy for s in ok]),
            }
        a = summary[wl].get("ansible", {}).get("wall_s", {}).get("median")
        n = summary[wl].get("nornir_homehub", {}).get("wall_s", {}).get("median")
        summary[wl]["speedup"] = round(a / n, 2) if a and n else None
    return summary


def targets(
    summary: dict[str, Any], cold: dict[str, Any], noop_vs_exec: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The issue's targets: required vs measured, met or missed by how much."""
    rows = []

    def add(name: str, required: str, measured: Any, met: bool | None, gap: str) -> None:
        rows.append(
            {"target": name, "required": required, "measured": measured, "met": met, "gap": gap}
        )

    for wl, need in (("2-noop", 10.0), ("1-first-deploy", 4.0), ("3-env-change", 5.0)):
        sp = summary.get(wl, {}).get("speedup")
        if sp is not None:
            add(
                f"{wl}: speedup vs ansible-playbook",
                f">= {need:g}x",
                f"{sp:g}x",
                sp >= need,
                "" if sp >= need else f"{need / sp:.2f}x short ({sp:g}x of {need:g}x)",
            )
    mine = [(wl, t["nornir_homehub"]) for wl, t in summary.items() if "nornir_homehub" in t]
    if mine:
        worst = max((t["ssh_per_host_max"] or 0) for _, t in mine)
        least = min((t["ssh_per_host_min"] or 0) for _, t in mine)
        add(
            "SSH connections per host per run (nornir_homehub, all workloads)",
            "1",
            f"{least}..{worst}",
            least == worst == 1,
            "" if least == worst == 1 else f"max {worst} per host",
        )
    noops = [(wl, t) for wl, t in mine if wl == "2-noop" or wl.startswith("4-scale")]
    if noops:
        sent = max((t["file_bytes_median"] or 0) for _, t in noops)
        add("file bytes on a no-op (nornir_homehub)", "0", sent, sent == 0, "")
    scale = {int(wl.rsplit("-", 1)[1]): t for wl, t in mine if wl.startswith("4-scale")}
    if len(scale) >= 2:
        lo, hi = min(scale), max(scale)
        a, b = scale[lo]["wall_s"].get("median"), scale[hi]["wall_s"].get("median")
        if a and b:
            growth = b / a
            limit = 1.5 if (lo, hi) == (3, 24) else None
            add(
                f"no-op growth {lo} -> {hi} hosts (nornir_homehub)",
                "<= 1.5x (3 -> 24 hosts)",
                f"{growth:.2f}x",
                None if limit is None else growth <= limit,
                ""
                if limit is None or growth <= limit
                else f"{growth / limit:.2f}x over ({growth:.2f}x vs 1.5x)",
            )
    if noop_vs_exec:
        ratio = noop_vs_exec["ratio"]
        add(
            "no-op deploy vs `exec -- true` on the same hosts (medians)",
            "<= 1.2x",
            f"{ratio:g}x",
            ratio <= 1.2,
            "" if ratio <= 1.2 else f"{ratio / 1.2:.2f}x over ({ratio:g}x vs 1.2x)",
        )
    help_ = cold.get("nornir_homehub --help", {}).get("median")
    if help_ is not None:
        add(
            "`python -m nornir_homehub --help` cold start",
            "<= 0.3 s",
            f"{help_:.3f} s",
            help_ <= 0.3,
            "" if help_ <= 0.3 else f"{help_ - 0.3:.3f} s over",
        )
    return rows


LABELS = {
    "1-first-deploy": "1. first deploy, 4 stacks, 2 hosts",
    "2-noop": "2. no-op re-deploy, 4 stacks",
    "3-env-change": "3. one env value changed (ollama restarts)",
    "5-edge-change": "5. Open WebUI secret changed, requests through Traefik",
    "6-ollama-change": "6. Ollama keep-alive changed, requests to its port",
    "6-qdrant-change": "6. Qdrant API key changed, requests to its port",
}


def _label(wl: str, hosts: int) -> str:
    if wl.startswith("4-scale"):
        return f"4. no-op, qdrant stack, {hosts} hosts"
    return LABELS.get(wl, wl)


def markdown(result: dict[str, Any]) -> str:
    """The results table (median wall time, min-max; medians of the other metrics)."""
    s = result["summary"]
    facts = result["machine"]
    v = facts["versions"]
    lines = [
        f"Run {result['started']} on {facts['cpus']} CPUs ({facts['cpu']}), "
        f"{facts['mem_total_gib']} GiB, {result['reps']} repetition(s) per tool, alternating; "
        f"nornir_homehub {v['nornir_homehub']} (git {facts['git']}), ansible {v['ansible']} "
        f"(core {v['ansible-core']}, community.docker {v['community.docker']}).",
        "",
        "| workload | tool | wall s, median (min-max) | speedup | SSH conns/host | "
        "file bytes sent | peak controller PSS MiB | controller CPU s | machine CPU busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for wl in sorted(
        s, key=lambda w: (w.split("-")[0], int(w.rsplit("-", 1)[1]) if "scale" in w else 0)
    ):
        for tool in TOOLS:
            t = s[wl].get(tool)
            if not t:
                continue
            w = t["wall_s"]
            wall = f"{w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f})" if w else "failed"
            if t["failed"]:
                wall += f", {t['failed']} failed"
            conns = (
                str(t["ssh_per_host_max"])
                if t["ssh_per_host_min"] == t["ssh_per_host_max"]
                else f"{t['ssh_per_host_min']}-{t['ssh_per_host_max']}"
            )
            sp = f"**{s[wl]['speedup']:g}x**" if tool == TOOLS[0] and s[wl]["speedup"] else ""
            mem = t["peak_pss_mib"].get("median", 0)
            cpu = t.get("cpu_s", {}).get("median")
            busy = t.get("machine_busy", {}).get("median")
            limit = result.get("scale_lab", {}).get("ansible_file_sync_only_above")
            name = tool
            if tool == "ansible" and wl.startswith("4-scale") and limit and t["hosts"] > limit:
                name = "ansible (files only)"
            lines.append(
                f"| {_label(wl, t['hosts'])} | {name} | {wall} | {sp} | {conns} | "
                f"{t['file_bytes_median']:g} | {mem:.0f} | "
                + (f"{cpu:.1f} | {busy:.0%} |" if cpu is not None else "- | - |")
            )
    cold = result.get("cold_start", {})
    if cold:
        lines += ["", "| cold start | median s (min-max) |", "| --- | --- |"]
        for name, c in cold.items():
            lines.append(f"| `{name}` | {c['median']:.3f} ({c['min']:.3f}-{c['max']:.3f}) |")
    if result.get("targets"):
        lines += ["", "| target | required | measured | met |", "| --- | --- | --- | --- |"]
        for row in result["targets"]:
            met = {True: "yes", False: f"**no**: {row['gap']}", None: "n/a (sizes differ)"}
            lines.append(
                f"| {row['target']} | {row['required']} | {row['measured']} | {met[row['met']]} |"
            )
    lines += noop_exec_table(result.get("noop_vs_exec"))
    lines += edge_table(result.get("samples", []))
    lines += gap_table(result.get("samples", []))
    if result.get("notes"):
        lines += ["", *[f"- {n}" for n in result["notes"]]]
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    """Replace the table between the README's benchmark markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
    if start not in text or end not in text:
        log("README.md has no benchmark markers; not updated")
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}{end}{tail}")


def compile_bytecode() -> None:
    """Write the checkout's bytecode first, as installing a wheel does (Ansible's is).

    With PYTHONDONTWRITEBYTECODE set, or a fresh checkout, every run would otherwise compile
    the changed modules from source again (about 80 ms on this machine).
    """
    import compileall

    for folder in ("nornir_homehub", "runbooks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def run_all(
    args: argparse.Namespace, reps: int, sizes: list[int], workloads: set[int], result: Any
) -> tuple[list[Sample], list[str]]:
    """Everything that touches the lab (called with the lab lock held)."""
    samples: list[Sample] = []
    notes: list[str] = []
    compile_bytecode()
    log("lab up (3 base hosts)")
    lab = lab_up()
    result["machine"] = machine_facts(lab)
    result["load_avg_start"] = os.getloadavg()
    result["cold_start"] = cold_start(args.cold_runs)

    def w8() -> list[Sample]:
        result["noop_vs_exec"] = w8_noop_vs_exec(max(reps, 5), lab)
        return []

    steps: list[tuple[int, Callable[[], list[Sample]]]] = [
        (1, lambda: w1_first_deploy(reps, lab)),
        (2, lambda: w2_noop(reps, lab)),
        (3, lambda: w3_env_change(reps, lab)),
        (5, lambda: w5_edge_change(reps, lab)),
        (6, lambda: w6_stateful_change(reps, lab)),
        (8, w8),
    ]
    for num, fn in steps:
        if num in workloads:
            log(f"workload {num}")
            try:
                samples += fn()
            except Exception as exc:
                notes.append(f"workload {num} aborted: {exc}")
                log(f"workload {num} aborted: {exc}")
    if 7 in workloads:
        log("workload 7 (controller, light nodes)")
        try:
            result["controller"] = controller.run_controller(
                reps, args.controller_sizes, _controller_ctx(args)
            )
        except Exception as exc:
            notes.append(f"workload 7 aborted: {exc}")
            log(f"workload 7 aborted: {exc}")
        finally:
            if not args.keep_nodes and 4 not in workloads:
                restore_lab()
    if 4 in workloads:
        log("workload 4")
        try:
            scale_samples, info = w4_scale(reps, sizes, args.compose_limit)
            notes += [f"workload 4 aborted at {e}" for e in info["errors"]]
            if any(n > args.compose_limit for n in sizes):
                notes.append(
                    f"workload 4 above {args.compose_limit} hosts: Ansible ran with "
                    "`--skip-tags compose` (directories and files only, no compose checks), "
                    "because at 24 hosts this 2-CPU lab machine runs every host's Docker "
                    "Engine and containers as well as both controllers; the qdrant "
                    "stand-ins' 3 s healthchecks then time out and Compose's health wait "
                    "fails (seen in the first full run). nornir_homehub ran its normal no-op "
                    "deploy (its no-op does not call Compose)."
                )
            samples += scale_samples
            result["scale_lab"] = info
        except Exception as exc:
            notes.append(f"workload 4 aborted: {exc}")
            log(f"workload 4 aborted: {exc}")
        finally:
            if not args.keep_nodes:
                restore_lab()
    _end_control_masters()
    result["load_avg_end"] = os.getloadavg()
    return samples, notes


def _controller_ctx(args: argparse.Namespace) -> dict[str, Any]:
    """What workload 7 (benchmarks/controller.py) borrows from this harness."""
    return {
        "measure": measure,
        "log": log,
        "lab_up": lab_up,
        "wait_quiet": wait_quiet,
        "make_inventory": make_inventory,
        "state": STATE,
        "python": PY,
        "allowed": ALLOWED,
        "workers": args.workers,
    }


def write_results(
    result: dict[str, Any], args: argparse.Namespace, workloads: set[int], started: dt.datetime
) -> str:
    """Write latest.* (merged, see `controller.latest`) and this run's own copy; its table."""
    previous_file = RESULTS / "latest.json"
    previous = (
        json.loads(previous_file.read_text()) if previous_file.exists() and not args.tag else None
    )
    table = markdown(result)
    if result.get("controller"):
        table += "\n" + controller.markdown(result["controller"])
    latest = controller.latest(result, previous, workloads)
    latest_table = markdown(latest)
    if latest.get("controller"):
        latest_table += "\n" + controller.markdown(latest["controller"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    outputs = {f"{stamp}-{args.tag}": (result, table)} if args.tag else {}
    if not args.tag:
        outputs = {"latest": (latest, latest_table), stamp: (result, table)}
    for name, (doc, text) in outputs.items():
        (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(text)
    return table


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--reps", type=int, default=5, help="repetitions per tool (default 5)")
    ap.add_argument("--workloads", default="1,2,3,4", help="comma-separated, default 1,2,3,4")
    ap.add_argument("--scale", default="3,12,24", help="host counts for workload 4")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke run: workloads 2 and 6 (10 light hosts), 1 repetition, no cold-start "
        "series; without ansible-playbook, nornir_homehub only; writes results/<stamp>-quick.*",
    )
    ap.add_argument("--controller-sizes", default="50,100,200", help="host counts for workload 7")
    ap.add_argument(
        "--workers", type=int, default=None, help="workload 7: the runner's num_workers"
    )
    ap.add_argument("--cold-runs", type=int, default=10, help="runs of the --help cold start")
    ap.add_argument("--keep-nodes", action="store_true", help="leave the extra lab nodes up")
    ap.add_argument("--readme", action="store_true", help="put the table into README.md")
    ap.add_argument(
        "--compose-limit",
        type=int,
        default=12,
        help="workload 4: above this many hosts Ansible syncs files only (default 12)",
    )
    ap.add_argument("--tools", default=",".join(TOOLS), help="diagnostics: run only these tools")
    ap.add_argument(
        "--tag", default="", help="diagnostics: write results/<stamp>-<tag>.* and not latest.*"
    )
    args = ap.parse_args(argv)
    reps = 1 if args.quick else args.reps
    sizes = [3, 12] if args.quick else [int(x) for x in args.scale.split(",") if x.strip()]
    workloads = {int(x) for x in args.workloads.split(",") if x.strip()}
    args.controller_sizes = [int(x) for x in args.controller_sizes.split(",") if x.strip()]
    SELECTED[:] = [t for t in TOOLS if t in args.tools.split(",")]
    has_ansible = bool(shutil.which("ansible-playbook", path=str(BIN)))
    if args.quick:
        # Bounded for CI (about a minute or two): no target is asserted there.
        workloads, args.controller_sizes = {2, 7}, list(controller.QUICK_SIZES)
        args.cold_runs = min(args.cold_runs, 3) if has_ansible else 0
        args.tag = args.tag or "quick"
        if not has_ansible:
            SELECTED[:] = ["nornir_homehub"]
    elif not has_ansible and workloads - {7}:
        print("ansible-playbook not found: pip install 'ansible>=12,<13'", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "schema": 1,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reps": reps,
        "workloads": sorted(workloads),
        "scale_sizes": sizes if 4 in workloads else [],
    }
    with lab_lock():
        samples, notes = run_all(args, reps, sizes, workloads, result)
    result["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result["samples"] = [asdict(s) for s in samples]
    result["summary"] = summarize(samples)
    result["targets"] = targets(result["summary"], result["cold_start"], result.get("noop_vs_exec"))
    result["notes"] = notes
    table = write_results(result, args, workloads, started)
    if args.readme and not args.tag and workloads == {7}:
        log("--readme: workload 7 alone has no side-by-side table; README.md not updated")
    elif args.readme and not args.tag:
        update_readme(table)
    print(table)
    failed = sum(1 for s in samples if not s.ok)
    return 1 if failed or notes else 0


if __name__ == "__main__":
    sys.exit(main())
