"""A lab host's namespaces: the bridge, its network namespace and veth, its own root.

Each host is a network namespace on the lab bridge, entered with ``nsenter --net`` (not ``ip
netns exec``, which remounts /sys and breaks dockerd's cgroups), then a UTS and mount namespace
whose root is an overlay of this machine's ``/`` with the upper layer on a tmpfs (so nothing
reaches the real ``/``), reached by ``pivot_root`` (with ``chroot``, ``docker exec`` would land
in the machine's real root). Its first process is its sshd.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from nornir_homehub.lab.model import BRIDGE, BRIDGE_ADDR, SCALE_BRIDGE_ADDR, LabHost
from nornir_homehub.lab.processes import pids_sharing_mounts, run

if TYPE_CHECKING:
    from nornir_homehub.lab.processes import HostProcesses

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def bridge_present() -> bool:
    """True when the lab bridge exists."""
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def ensure_bridge(*, light: bool = False) -> None:
    """Create the lab bridge with its address when missing, and bring it up.

    ``light``: also give it the light nodes' address (``SCALE_BRIDGE_ADDR``) when missing;
    without it, take that address away (its range is then routed nowhere on the lab).
    """
    if not bridge_present():
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", BRIDGE_ADDR, "dev", BRIDGE])
    has_scale = f" {SCALE_BRIDGE_ADDR} " in run(["ip", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if light and not has_scale:
        run(["ip", "addr", "add", SCALE_BRIDGE_ADDR, "dev", BRIDGE])
    elif has_scale and not light:
        run(["ip", "addr", "del", SCALE_BRIDGE_ADDR, "dev", BRIDGE], check=False)
    run(["ip", "link", "set", BRIDGE, "up"])


def remove_bridge() -> None:
    """Delete the lab bridge (harmless when it is gone)."""
    if bridge_present():
        run(["ip", "link", "del", BRIDGE], check=False)


def netns_exists(host: LabHost) -> bool:
    """True when the host's network namespace exists."""
    return Path(f"/run/netns/{host.netns}").exists()


def veth_name(name: str) -> str:
    """The bridge side of a host's veth pair."""
    return f"hv-{name}"[:15]


def create_network(h: LabHost) -> None:
    """Create the host's network namespace, its veth into the bridge, its address and ``lo``."""
    run(["ip", "netns", "add", h.netns])
    veth = veth_name(h.name)
    if Path(f"/sys/class/net/{veth}").exists():
        # Left by a lab whose namespace outlived `ip netns del` (a process still held it).
        run(["ip", "link", "del", veth], check=False)
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    run(["ip", "-n", h.netns, "addr", "add", f"{h.address}/{h.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", h.netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", h.netns, "link", "set", "lo", "up"])
    # The new veth has a new MAC: a neighbour entry left from an earlier host at this
    # address would send the first packets to the old MAC until it times out (~5 s).
    run(["ip", "neigh", "flush", "to", h.address, "dev", BRIDGE], check=False)


def delete_netns(h: LabHost) -> None:
    """Delete the host's network namespace (harmless when it is gone)."""
    if netns_exists(h):
        run(["ip", "netns", "del", h.netns], check=False)


def root_command(h: LabHost, d: Path, keys: Path, compose: Path | None) -> list[str]:
    """The command that enters the host's namespace, builds its own root and execs its sshd.

    Args:
        h: the host.
        d: its state folder (``ovl``, ``merged``, ``docker-data``, ``sshd_config`` in it).
        keys: the lab's key folder, bind-mounted at the same path (authorized_keys).
        compose: the Docker Compose v2 binary, bind-mounted as the docker CLI plugin.
    """
    m = d / "merged"
    script = f"""
set -e
hostname {h.name}
mount -t tmpfs -o size=1g,mode=755 hh-{h.name} {d}/ovl
mkdir -p {d}/ovl/upper {d}/ovl/work
mount -t overlay overlay -o lowerdir=/,upperdir={d}/ovl/upper,workdir={d}/ovl/work {m}
mount -t proc proc {m}/proc
mount --rbind /dev {m}/dev
mount --rbind /sys {m}/sys
mount -t tmpfs -o mode=755 tmpfs {m}/run
mkdir -p {m}/run/sshd {m}/var/lib/docker {m}/usr/libexec/docker/cli-plugins {m}{keys}
mount --bind {d}/docker-data {m}/var/lib/docker
mount --bind {keys} {m}{keys}
touch {m}/usr/libexec/docker/cli-plugins/docker-compose
mount --bind -o ro {compose} {m}/usr/libexec/docker/cli-plugins/docker-compose
echo {h.name} > {m}/etc/hostname
printf '127.0.0.1 localhost\\n{h.address} {h.name}\\n' > {m}/etc/hosts
printf 'export PATH=%s\\n' {_PATH} > {m}/root/.bashrc
rm -f {m}/root/.profile {m}/root/.bash_profile
cd {m} && mkdir -p .oldroot && pivot_root . .oldroot && cd /
umount -l /.oldroot && rmdir /.oldroot
exec /usr/sbin/sshd -D -e -f {d}/sshd_config
"""
    return [
        "nsenter",
        f"--net=/run/netns/{h.netns}",
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
    ]


def namespace_pids(h: LabHost, procs: HostProcesses) -> list[int]:
    """Every process living in the host's namespaces except its sshd (and this process)."""
    sshd = procs.pid("sshd")
    pids: set[int] = set()
    if netns_exists(h):
        out = run(["ip", "netns", "pids", h.netns], check=False).stdout.split()
        pids.update(int(p) for p in out if p.isdigit())
    pids |= pids_sharing_mounts(sshd)
    pids.discard(sshd or -1)
    pids.discard(os.getpid())
    return sorted(pids)
