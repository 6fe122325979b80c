"""The stand-ins' ``serve`` loop on SIGTERM, run for real in its own PID namespace.

``docker stop`` sends SIGTERM to the container's PID 1 (or to the process docker-init runs,
with ``init: true``); ``serve`` must then refuse new connections, let the requests in flight
finish, and exit: at once when none is in flight, as uvicorn and Ollama's server do. Here
``unshare --pid --mount-proc`` gives it the container's view of /proc, and busybox applets in
a folder that is the whole PATH stand for the image.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parents[2] / "nornir_homehub/lab/images/_common/serve"
BUSYBOX = shutil.which("busybox")
UNSHARE = shutil.which("unshare")
APPLETS = ("sh", "nc", "sleep", "cat", "printf")
DRAIN_BOUND = 10.0  # serve's own bound on the drain (200 x 50 ms)

pytestmark = pytest.mark.skipif(
    BUSYBOX is None or UNSHARE is None or os.geteuid() != 0,
    reason="needs root, busybox and unshare (util-linux)",
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in APPLETS:
        (bin_dir / applet).symlink_to(str(BUSYBOX))
    handler = tmp_path / "handler"
    # One request: answered after 1 s, so it is still in flight when SIGTERM comes.
    handler.write_text(
        '#!/bin/sh\nwhile read -r line && [ "$line" != "$(printf \'\\r\')" ]; do :; done\n'
        "sleep 1\n"
        "printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n'\n"
    )
    handler.chmod(0o755)
    return bin_dir


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=["pid1", "under-docker-init"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(port, PID of serve as the host sees it), serve running in its own PID namespace."""
    bin_dir = _bin(tmp_path)
    port = _port()
    serve = f"sh {SERVE} {port} {tmp_path / 'handler'}"
    # As PID 1 itself, or as the child of a PID 1 that only waits (docker-init's place).
    inner = f"exec {serve}" if request.param == "pid1" else f"{serve} & wait"
    env = {"PATH": str(bin_dir)}
    proc = subprocess.Popen(
        [str(UNSHARE), "--pid", "--fork", "--mount-proc", str(BUSYBOX), "sh", "-c", inner],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline, "serve did not listen"
            time.sleep(0.02)
        yield port, _serve_pid(proc.pid, port)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _serve_pid(unshare_pid: int, port: int) -> int:
    """The PID (host view) of the ``sh serve PORT`` process under ``unshare_pid``."""
    todo = [unshare_pid]
    while todo:
        pid = todo.pop()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if str(SERVE).encode() in cmd and str(port).encode() in cmd:
            return pid
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        todo += [int(k) for k in kids]
    raise AssertionError("no serve process found")


def _gone(pid: int, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_idle_serve_exits_on_sigterm_without_waiting_out_its_drain(
    served: tuple[int, int],
) -> None:
    _, pid = served
    os.kill(pid, signal.SIGTERM)
    assert _gone(pid, DRAIN_BOUND / 2), "serve waited although no request was in flight"


def test_a_request_in_flight_is_answered_and_new_ones_are_refused(
    served: tuple[int, int],
) -> None:
    port, pid = served
    answer: list[bytes] = []

    def ask() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            answer.append(data)

    client = threading.Thread(target=ask)
    client.start()
    time.sleep(0.3)  # the handler has read the request and is "working" (its 1 s)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _listening(port):
        assert time.monotonic() < deadline, "serve still accepts after SIGTERM"
        time.sleep(0.02)
    client.join(timeout=10)
    assert answer and answer[0].startswith(b"HTTP/1.0 200 OK") and answer[0].endswith(b"ok\n")
    assert _gone(pid, DRAIN_BOUND / 2)
