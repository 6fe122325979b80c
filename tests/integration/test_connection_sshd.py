"""The SSH plugin's fault handling against a REAL OpenSSH sshd that this module starts itself.

The server listens on 127.0.0.1 only (a free port), with its own host key, authorized key and
known_hosts in a temporary folder; it needs no lab. Faults are injected for real, always by
PID on processes this module started: the session's sshd process is killed (a dead
connection), stopped with SIGSTOP (a silent peer: the kernel still ACKs, nothing answers), or
the command simply outlives its timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for

from nornir_homehub.connection import HomehubLocal, HomehubSSH
from nornir_homehub.errors import CommandTimeout, ConfigError, ConnectionLost, TransportError
from nornir_homehub.lab.daemons import sshd_config
from nornir_homehub.lab.processes import children

SSHD = Path("/usr/sbin/sshd")
pytestmark = pytest.mark.skipif(
    not SSHD.exists() or not shutil.which("ssh-keygen") or os.geteuid() != 0,
    reason="needs root, OpenSSH's sshd and ssh-keygen (Debian openssh-server)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_for(what: str, cond: Callable[[], bool], limit: float = 60.0) -> None:
    wait_for(what, cond, limit, every=0.02)


@dataclass
class Sshd:
    """A running sshd on loopback and what a client needs to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    dir: Path
    known_hosts: Path
    key_file: Path

    def connect(self, **extras: Any) -> HomehubSSH:
        conn = HomehubSSH()
        conn.open(
            hostname="127.0.0.1",
            username="root",
            password=None,
            port=self.port,
            platform=None,
            extras={
                "known_hosts": str(self.known_hosts),
                "key_file": str(self.key_file),
                "ssh_config": "/dev/null",
                "inventory_name": "loopback",
                "connect_timeout": 10,
                **extras,
            },
        )
        return conn

    def sessions(self) -> list[int]:
        """PIDs of the per-connection sshd processes (children of the listener)."""
        return children(self.proc.pid)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
        )
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = _free_port()
    # The lab's sshd configuration, on loopback.
    (d / "sshd_config").write_text(
        sshd_config(f"127.0.0.1:{port}", d / "host_key", d / "authorized_keys")
    )
    pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    log = (d / "sshd.log").open("wb")
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    _wait_for("sshd on loopback", listening, 20)
    yield Sshd(proc, port, d, d / "known_hosts", d / "client_key")
    for pid in children(proc.pid):
        os.kill(pid, signal.SIGKILL)
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as ex:
        yield ex


def _kill_sessions(sshd: Sshd, sig: int = signal.SIGKILL) -> list[int]:
    pids = sshd.sessions()
    assert pids, "no sshd session process to signal"
    for pid in pids:
        os.kill(pid, sig)
    return pids


def _raises(future: Future[Any], kind: type[Exception], limit: float = 120) -> Exception:
    with pytest.raises(kind) as exc:
        future.result(timeout=limit)
    return exc.value


def test_dead_connection_is_connection_lost_not_a_timeout(
    sshd: Sshd, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    with contextlib.closing(sshd.connect()) as conn:
        future = pool.submit(conn.run, f"touch {started}; sleep 120", timeout=300)
        _wait_for("the command to start", started.exists)
        _kill_sessions(sshd)
        killed = time.monotonic()
        err = _raises(future, ConnectionLost)
        # Bounded far below the 300 s command timeout (the old loop spun until it, then
        # called it a timeout); no speed is measured here.
        assert time.monotonic() - killed < 60
        assert "loopback" in str(err) and "connection lost" in str(err)
        # The connection stays dead for the rest of the run, with the same reason.
        with pytest.raises(ConnectionLost, match="lost earlier"):
            conn.run("true")
        with pytest.raises(ConnectionLost):
            conn.read_file("/etc/hostname")


def test_waiting_for_the_exit_status_does_not_spin(sshd: Sshd, pool: ThreadPoolExecutor) -> None:
    with contextlib.closing(sshd.connect()) as conn:
        # Output closes at once (EOF), the exit status follows 6 s later: the old loop's
        # select returned immediately on the closed pipe and burnt a core all that time.
        def timed() -> tuple[int, float]:
            cpu = time.thread_time()
            res = conn.run("exec >/dev/null 2>&1; sleep 6; exit 3", timeout=120)
            return res.exit_code, time.thread_time() - cpu

        code, cpu = pool.submit(timed).result(timeout=180)
        assert code == 3
        # CPU seconds, not wall time: a spinning loop uses seconds, a sleeping one ~1 ms.
        assert cpu < 1.0, f"the read loop used {cpu:.2f} s of CPU while waiting"


def test_timeout_ends_the_remote_process_tree(sshd: Sshd, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with contextlib.closing(sshd.connect()) as conn:
        with pytest.raises(CommandTimeout) as exc:
            conn.run(
                f"echo $$ > {pids}; sh -c 'echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; "
                "sleep 301'",
                timeout=2,
            )
        assert "loopback" in str(exc.value) and "timed out after 2s" in str(exc.value)
        assert "process group" in str(exc.value) and "was ended" in str(exc.value)
        tree = [int(p) for p in pids.read_text().split()]
        assert len(tree) == 3  # login shell, inner sh, background sleep
        _wait_for("the timed-out tree to end", lambda: not any(_alive(p) for p in tree), 30)
        assert conn.run("echo still-usable").stdout == "still-usable\n"


def test_silent_peer_is_found_by_keepalives(
    sshd: Sshd, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    conn = sshd.connect(keepalive_interval=1, keepalive_timeout=3)
    started = tmp_path / "started"
    stopped: list[int] = []
    try:
        future = pool.submit(conn.run, f"touch {started}; sleep 120", timeout=300)
        _wait_for("the command to start", started.exists)
        # Frozen sshd: the kernel still ACKs every packet, nothing answers. Only a keepalive
        # that wants a reply can tell.
        stopped = _kill_sessions(sshd, signal.SIGSTOP)
        err = _raises(future, ConnectionLost)
        assert "loopback" in str(err) and "keepalive" in str(err)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):  # it may have noticed the close
                os.kill(pid, signal.SIGKILL)
        conn.close()


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".homehub-" in p.name)


def test_interrupted_upload_leaves_the_old_file(
    sshd: Sshd, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    folder = tmp_path / "site"
    target = folder / "config.yaml"
    old = b"model_list: [old]\n" * 100
    with contextlib.closing(sshd.connect()) as conn:
        conn.put_file(str(target), old, mode=0o640)
        big = os.urandom(1 << 20) * 192  # 192 MiB: the transfer is under way when sshd dies
        future = pool.submit(conn.put_file, str(target), big, mode=0o644)

        def receiving() -> bool:
            return any(p.stat().st_size > 0 for p in folder.glob(".config.yaml.homehub-*"))

        _wait_for("the upload to start arriving", receiving)
        _kill_sessions(sshd)
        err = _raises(future, ConnectionLost)
        assert "loopback" in str(err)
        # The shell on the host saw an early EOF: it removes its part and installs nothing.
        _wait_for("the partial upload to be removed", lambda: not _temps(folder))
        assert target.read_bytes() == old
        assert (target.stat().st_mode & 0o777) == 0o640


def test_a_part_left_by_a_killed_shell_is_removed_by_the_next_upload(
    sshd: Sshd, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    folder = tmp_path / "site"
    target = folder / "zone.db"
    with contextlib.closing(sshd.connect()) as conn:
        conn.put_file(str(target), b"old\n")
        future = pool.submit(conn.put_file, str(target), os.urandom(1 << 20) * 192)
        _wait_for(
            "the upload to start arriving",
            lambda: any(p.stat().st_size > 0 for p in folder.glob(".zone.db.homehub-*")),
        )
        # Kill the whole session, the remote shell included: nobody is left to clean up.
        for pid in sshd.sessions():
            for child in children(pid):
                os.killpg(child, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        _raises(future, ConnectionLost)
        assert target.read_bytes() == b"old\n"
        assert _temps(folder), "expected the killed shell's part to be left behind"
        with contextlib.closing(sshd.connect()) as again:
            again.put_file(str(target), b"new\n", mode=0o600)
        assert target.read_bytes() == b"new\n" and not _temps(folder)


def test_upload_refused_by_the_host_names_host_and_path(sshd: Sshd, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    with contextlib.closing(sshd.connect()) as conn:
        (folder / "compose.yaml").mkdir(parents=True)
        (folder / "compose.yaml" / "keep").write_text("x")
        with pytest.raises(TransportError, match="cannot rename") as exc:
            conn.put_file(str(folder / "compose.yaml"), b"services: {}\n")
        assert "loopback" in str(exc.value) and "left as it was" in str(exc.value)
        assert (folder / "compose.yaml" / "keep").read_text() == "x"  # never moved into it
        assert not _temps(folder)
        payload = b"A=1\n"
        conn.put_file(str(folder / ".env"), payload, mode=0o600, owner="root", group="root")
        assert (folder / ".env").read_bytes() == payload
        assert ((folder / ".env").stat().st_mode & 0o777) == 0o600
        assert hashlib.sha256(payload).hexdigest() in conn.run(f"sha256sum {folder}/.env").stdout


def _open_bare(name: str, port: int, known_hosts: Path) -> None:
    """Open a connection to ``port`` on loopback with no key (expected to fail)."""
    HomehubSSH().open(
        hostname="127.0.0.1",
        username="root",
        password=None,
        port=port,
        platform=None,
        extras={"inventory_name": name, "known_hosts": str(known_hosts)},
    )


def test_failures_before_and_after_connecting_are_transport_errors(
    sshd: Sshd, tmp_path: Path
) -> None:
    # A server that accepts and hangs up at once (no SSH banner): paramiko raises
    # SSHException/EOFError inside; the plugin says which host and why.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)

        def hang_up() -> None:
            conn, _ = srv.accept()
            conn.close()

        t = threading.Thread(target=hang_up)
        t.start()
        with pytest.raises(
            TransportError, match=r"hangup \(127\.0\.0\.1:\d+\): SSH connection failed"
        ):
            _open_bare("hangup", srv.getsockname()[1], sshd.known_hosts)
        t.join()
    with pytest.raises(ConfigError, match="loopback: connection extra keepalive_timeout"):
        sshd.connect(keepalive_timeout="soon")
    conn = sshd.connect()
    conn.close()
    with pytest.raises(TransportError, match="loopback: connection is closed"):
        conn.run("true")


def test_local_timeout_ends_the_process_group(tmp_path: Path) -> None:
    conn = HomehubLocal()
    conn.open("localhost", None, None, None, None, {"inventory_name": "gpu-box"})
    pids = tmp_path / "pids"
    with pytest.raises(CommandTimeout, match=r"gpu-box: .*timed out after 1s"):
        conn.run(f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; sleep 301", timeout=1)
    tree = [int(p) for p in pids.read_text().split()]
    _wait_for("the local tree to end", lambda: not any(_alive(p) for p in tree), 30)


def test_the_connection_sends_small_messages_at_once(sshd: Sshd) -> None:
    # Nagle's algorithm off: a command's small SSH messages do not wait for the server's
    # delayed ACK (about 40 ms per command on Linux).
    conn = sshd.connect()
    try:
        transport = conn._client.get_transport() if conn._client else None
        assert transport is not None
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert conn.run("echo ok").stdout == "ok\n"
    finally:
        conn.close()
    # Nothing listens on this port: refused before SSH, named like any other failure.
    with pytest.raises(
        TransportError, match=r"closed \(127\.0\.0\.1:\d+\): SSH connection failed: .*refused"
    ):
        _open_bare("closed", _free_port(), sshd.known_hosts)
