"""The processes the lab starts: run a tool, spawn a daemon, tell whether it lives, stop it.

Only processes the lab started, or that live inside its namespaces, are ever ended, always by
PID (never by name). A host's daemons are known by the PID files in its folder
(`HostProcesses`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from nornir_homehub.errors import LabError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")

# The lab's long-running processes per host, each with ``<what>.pid`` and ``<what>.log``.
DAEMONS = ("sshd", "dockerd", "named", "node-exporter")


def run(
    args: list[str], *, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a tool of this machine (``ip``, ``nsenter``, ``ssh-keygen``) and capture its output.

    Raises:
        LabError: ``check`` and the tool exited non-zero (the message carries its stderr).
    """
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def alive(pid: int | None) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL: one process we started or that lives in our namespace."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)


def each_process(look: Callable[[Path], T]) -> Iterator[tuple[int, T]]:
    """``(pid, look(/proc/<pid>))`` for every process now; one that ended meanwhile is skipped.

    ``look`` reads what it needs from the process's folder; its OSError means the process is
    gone (or not ours to read).
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            seen = look(entry)
        except OSError:
            continue
        yield int(entry.name), seen


def children(pid: int, comm: str | None = None) -> list[int]:
    """PIDs of ``pid``'s children (only those whose command name is ``comm``, when given)."""
    found = []
    for child, stat in each_process(lambda entry: (entry / "stat").read_text()):
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        if comm in (None, name) and int(stat.rsplit(")", 1)[-1].split()[1]) == pid:
            found.append(child)
    return found


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status when it is our child (so it does not stay a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def poll(
    ready: Callable[[], bool],
    timeout: float,
    interval: float,
    *,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """Ask ``ready`` every ``interval`` seconds until it says yes (True).

    False when ``timeout`` seconds pass first, or ``alive`` says the process waited for died.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return False


def pids_sharing_mounts(anchor: int | None) -> set[int]:
    """PIDs in the mount namespace of ``anchor`` (a host's sshd): every process of that host."""
    if not alive(anchor):
        return set()
    try:
        mnt = os.readlink(f"/proc/{anchor}/ns/mnt")
    except OSError:
        return set()
    return {pid for pid, ns in each_process(lambda e: os.readlink(e / "ns" / "mnt")) if ns == mnt}


class HostProcesses:
    """The daemons the lab started for one host, known by the PID files in its folder.

    Args:
        name: the lab host's name.
        folder: its state folder (``<lab dir>/hosts/<name>``).
    """

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder

    def pid(self, what: str) -> int | None:
        """The recorded PID of ``what`` (``sshd``, ``dockerd``, ``named``), None when none."""
        try:
            return int((self.folder / f"{what}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self, what: str) -> bool:
        """True while the recorded ``what`` lives."""
        return alive(self.pid(what))

    def log(self, what: str) -> Path:
        """The log file of ``what`` (its stdout and stderr)."""
        return self.folder / f"{what}.log"

    def spawn(self, what: str, args: list[str]) -> int:
        """Start a long-running lab process (sshd, dockerd, named), logging to ``<what>.log``.

        Its PID is recorded in ``<what>.pid``: teardown ends exactly the processes started here.
        """
        with self.log(what).open("ab") as log:
            proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        (self.folder / f"{what}.pid").write_text(f"{proc.pid}\n")
        return proc.pid

    def stop(self, what: str, timeout: float = 15.0) -> int | None:
        """Stop the recorded ``what`` by its PID; return that PID (None when none was recorded)."""
        pid = self.pid(what)
        if pid:
            stop_pid(pid, timeout=timeout)
        return pid

    def forget(self) -> None:
        """Remove the PID files (the host is gone)."""
        for what in DAEMONS:
            (self.folder / f"{what}.pid").unlink(missing_ok=True)

    def anchor(self, among: tuple[str, ...] = DAEMONS) -> int | None:
        """The PID of the first daemon of ``among`` that lives: a way into the host's namespaces."""
        return next((p for p in (self.pid(w) for w in among) if alive(p)), None)

    def nsenter(self) -> list[str]:
        """The ``nsenter`` prefix that runs a command inside the host's namespaces.

        Raises:
            LabError: no process of the host lives (the host is not running).
        """
        pid = self.anchor()
        if pid is None:
            raise LabError(f"lab host {self.name} is not running")
        return ["nsenter", "-t", str(pid), "-n", "-u", "-m", "-r", "-w", "--"]

    def exec(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the host's namespaces (lab plumbing, not SSH)."""
        return run([*self.nsenter(), "sh", "-c", command], check=False, timeout=timeout)
