"""Shared fixtures: the connection guard, the lab (once per session), CLI helpers.

Safety: every test runs with a socket guard that refuses any TCP/UDP connection outside the lab
subnet and loopback, and with HOMEHUB_ALLOWED_NETWORKS set so that subprocesses (the CLI) refuse
them too. The production inventory is never loaded with intent to connect.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The session-end secret scan (tests/leak_guard.py): its hooks, the CLI output it keeps.
from leak_guard import (  # noqa: F401 - hooks are found by name in a conftest
    keep_output,
    pytest_configure,
    pytest_runtest_teardown,
    pytest_sessionfinish,
    pytest_terminal_summary,
    scan_lab,
)

ROOT = Path(__file__).resolve().parents[1]
LAB_CONFIG = ROOT / "inventory" / "lab" / "config.yaml"
LAB_SUBNET = ipaddress.ip_network("192.0.2.128/26")
# The light nodes of `lab up --hosts N --light` (TEST-NET-3 on the lab bridge) are not allowed
# here: no test starts them (benchmarks/run.py does, and allows that range itself), and without
# a light lab the range would be routed out of this machine's eth0.
ALLOWED = [LAB_SUBNET, ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
os.environ["HOMEHUB_ALLOWED_NETWORKS"] = ",".join(str(n) for n in ALLOWED)
# A shell that starts the suite in the background (`cmd &` without job control) hands it SIGINT
# ignored, and every controller a test starts would inherit that: the Ctrl-C tests would send
# a signal nobody hears. Restored here, a child starts with the default and gets
# KeyboardInterrupt, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class ForbiddenConnection(AssertionError):
    """A test tried to reach an address outside the lab subnet and loopback."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


def _check(address: Any) -> None:
    if not isinstance(address, tuple):
        return  # AF_UNIX paths
    host = address[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = ipaddress.ip_address(socket.gethostbyname(host))
    if not any(ip in net for net in ALLOWED):
        raise ForbiddenConnection(
            f"test tried to connect to {host}: outside lab subnet and loopback"
        )


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _check(args[-1])
    return _real_sendto(self, data, *args)  # type: ignore[call-overload, no-any-return]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.socket.sendto = _guarded_sendto  # type: ignore[assignment, method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/lab/ are lab tests."""
    for item in items:
        if "tests/lab/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)


def _lab() -> Any:
    from nornir_homehub.config import load_settings
    from nornir_homehub.lab import Lab

    settings = load_settings(LAB_CONFIG)
    assert settings.lab_dir is not None
    return Lab(settings.lab_dir, LAB_CONFIG.parent / "hosts.yaml")


@pytest.fixture(scope="session")
def lab() -> Iterator[Any]:
    """The lab, up for the whole session.

    A lab that was already up is reused and left up; a lab this session started is torn down
    at the end unless HOMEHUB_KEEP_LAB=1.
    """
    from nornir_homehub.lab import missing_prerequisites

    missing = missing_prerequisites()
    if missing:
        pytest.fail("lab prerequisites missing (run scripts/setup.sh): " + "; ".join(missing))
    from nornir_homehub.lab import lab_lock

    lab = _lab()
    # One test session (or benchmark) at a time drives the lab, whichever checkout it runs
    # from: the stacks on its hosts are shared state. A second session waits here.
    with lab_lock(wait_message=print):
        was_up = lab.status().up
        # A lab left by another checkout (a sibling clone) is stopped: the lock is ours.
        status = lab.up(take_over=True)
        assert status.up, status.to_dict()
        yield lab
        scan_lab(lab)
        if not was_up and os.environ.get("HOMEHUB_KEEP_LAB") != "1":
            lab.down()
            # `lab down` must leave no namespace, bridge, mount or process of the lab.
            assert lab.leftovers() == []


@pytest.fixture
def lab_nr(lab: Any) -> Iterator[Any]:
    """A Nornir object on the lab inventory; its connections are closed afterwards."""
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all

    nr = load_nornir(LAB_CONFIG)
    yield nr
    close_all(nr)


def copy_lab_inventory(dest: Path) -> Path:
    """Copy inventory/lab to ``dest`` with absolute paths; return the new config path.

    Tests that change inventory values edit the copy, never the repository's files.
    """
    from nornir_homehub.lab.inventory import copy_inventory

    return copy_inventory(LAB_CONFIG, dest)


@pytest.fixture
def lab_copy(tmp_path: Path, lab: Any) -> Path:
    """A private, editable copy of the lab inventory; returns its config.yaml path."""
    return copy_lab_inventory(tmp_path / "inv")


def run_cli(
    *args: str,
    config: Path | None = LAB_CONFIG,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nornir_homehub`` as a subprocess (the way users and CI do)."""
    cmd = [sys.executable, "-m", "nornir_homehub"]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = run_captured([*cmd, *args], env={**os.environ, **(env or {})}, timeout=timeout)
    keep_output(proc.args, proc.stdout, proc.stderr, env)
    return proc


def run_captured(
    argv: list[str], *, env: dict[str, str], timeout: float, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end with ``env`` (the whole environment), its output kept as text.

    A non-zero exit is returned, not raised: the caller asserts on it.
    """
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def wait_for(what: str, cond: Callable[[], bool], limit: float = 120, every: float = 0.05) -> None:
    """Ask ``cond`` every ``every`` seconds until it is true; bounded by a generous ``limit``
    (the machine is shared)."""
    from nornir_homehub.lab.processes import poll

    if not poll(cond, limit, every):
        raise AssertionError(f"gave up waiting for {what} after {limit:.0f}s")


def accepted_connections(lab: Any) -> dict[str, int]:
    """Number of accepted SSH connections in each lab host's sshd log so far."""
    counts = {}
    for h in lab.hosts:
        log = lab.host_dir(h.name) / "sshd.log"
        counts[h.name] = log.read_text(errors="replace").count("Accepted publickey")
    return counts


RELIABILITY_RESULTS = ROOT / ".homehub" / "reliability.json"


class FaultTable:
    """What the fault suite saw: one row per injected fault (for docs/reliability.md).

    A fault test calls ``record`` only after all of its assertions passed, so a row always
    describes observed behaviour; ``scripts/reliability_table.py`` renders the rows.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def record(self, fault: str, outcome: str, converged: bool, test: str = "") -> None:
        """Remember the observed outcome of ``fault`` and whether the next run converged."""
        self.rows[fault] = {
            "fault": fault,
            "outcome": outcome,
            "converged": converged,
            "test": test,
        }

    def save(self) -> None:
        """Merge the rows into ``.homehub/reliability.json`` (rows of other sessions stay)."""
        if not self.rows:
            return
        import json

        try:
            old = json.loads(RELIABILITY_RESULTS.read_text())
        except (OSError, ValueError):
            old = {}
        old.update(self.rows)
        RELIABILITY_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RELIABILITY_RESULTS.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    """The session's fault table, saved at the end of the session."""
    table = FaultTable()
    yield table
    table.save()
