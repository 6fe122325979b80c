"""Faults injected for real into the lab, for the fault suite; each undone by its counterpart.

sshd crashing mid-session (`kill_sshd`, undone by `Lab.start_sshd`), a host cut off the bridge
(`link_down` / `link_up`), and a slow, lossy link (`impair_link` / `clear_link`). Dockerd and
named are stopped and started through `Lab`'s own methods.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

from nornir_homehub.lab.model import NS_PREFIX
from nornir_homehub.lab.namespaces import veth_name
from nornir_homehub.lab.processes import alive, children, reap, run

if TYPE_CHECKING:
    from nornir_homehub.lab.processes import HostProcesses

IMPAIR_TAG = "homehub-lab-impair"


def kill_sshd(procs: HostProcesses) -> list[int]:
    """SIGKILL a host's sshd and each session process it forked: sshd crashes mid-session.

    The sessions' shells are left as a crash leaves them (their stdin reaches EOF). Returns
    the PIDs killed.
    """
    listener = procs.pid("sshd")
    if listener is None or not alive(listener):
        return []
    killed = [*children(listener, "sshd"), listener]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in killed:
        reap(pid)
    return killed


def link_down(name: str) -> None:
    """Cut a host off the bridge (its veth's bridge side down): packets vanish silently."""
    run(["ip", "link", "set", veth_name(name), "down"])


def link_up(name: str) -> None:
    """Put a host back on the bridge after `link_down`."""
    run(["ip", "link", "set", veth_name(name), "up"])


def loss_rule(way: str, loss_pct: float) -> list[str]:
    """The iptables rule (after ``-I CHAIN``) dropping ``loss_pct`` % of eth0's packets."""
    return [
        way,
        "eth0",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        f"{loss_pct / 100:.4f}",
        "-m",
        "comment",
        "--comment",
        IMPAIR_TAG,
        "-j",
        "DROP",
    ]


def impair_link(name: str, *, rate_kbit: int = 1000, loss_pct: float = 10.0) -> None:
    """Make a host's link slow and lossy, both ways, until `clear_link`.

    This kernel has no ``sch_netem`` (no ``tc ... netem delay/loss``), so: ``tbf`` caps the
    rate (queueing delay under load) on both ends of the veth, and iptables' ``statistic``
    match drops ``loss_pct`` percent of the host's packets in and out (inside the host's
    own network namespace).
    """
    tbf = ["root", "tbf", "rate", f"{rate_kbit}kbit", "burst", "32kb", "latency", "400ms"]
    run(["tc", "qdisc", "replace", "dev", veth_name(name), *tbf])
    ns = ["ip", "netns", "exec", f"{NS_PREFIX}{name}"]
    run([*ns, "tc", "qdisc", "replace", "dev", "eth0", *tbf])
    for chain, way in (("INPUT", "-i"), ("OUTPUT", "-o")):
        run([*ns, "iptables", "-w", "-I", chain, *loss_rule(way, loss_pct)])


def clear_link(name: str) -> None:
    """Undo `impair_link` and `link_down` (harmless when neither is in place)."""
    run(["tc", "qdisc", "del", "dev", veth_name(name), "root"], check=False)
    ns = ["ip", "netns", "exec", f"{NS_PREFIX}{name}"]
    run([*ns, "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
    rules = run([*ns, "iptables", "-w", "-S"], check=False).stdout.splitlines()
    for rule in rules:
        if IMPAIR_TAG in rule and rule.startswith("-A "):
            run([*ns, "iptables", "-w", "-D", *rule.split()[1:]], check=False)
    link_up(name)
