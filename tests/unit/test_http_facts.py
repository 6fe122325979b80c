"""`http_get` through a local connection: the request runs in a shell with curl, or with
BusyBox wget when curl is not on PATH, against a small HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nornir_homehub.connection import HomehubLocal
from nornir_homehub.errors import TransportError
from nornir_homehub.facts.http import HttpResponse, http_get, parse_response, safe_url

SECRET = "sk-very-secret-value-123"


class Handler(BaseHTTPRequestHandler):
    """200 echoing the request, 401, 302 to a closed port, 500 with a JSON error."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/401":
            self._send(401, b"no", {"WWW-Authenticate": "Bearer"})
        elif self.path == "/302":
            self._send(302, b"", {"Location": "http://127.0.0.1:9/login?rd=x"})
        elif self.path == "/500":
            self._send(500, b'{"error": "boom"}', {"Content-Type": "application/json"})
        else:
            echo = {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": body.decode(),
            }
            self._send(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class RecordingLocal(HomehubLocal):
    """The local connection, remembering every command line it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        self.commands.append(command)
        return super()._exec(command, stdin, timeout)


@pytest.fixture
def conn() -> RecordingLocal:
    c = RecordingLocal()
    c.open("localhost", None, None, None, None, {"inventory_name": "testhost"})
    return c


@pytest.fixture(params=["curl", "wget"])
def tool(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with curl on PATH, or with a PATH that only has busybox and the basics (no curl)."""
    if request.param == "curl":
        if not shutil.which("curl"):
            pytest.skip("curl not installed")
        return "curl"
    if not shutil.which("busybox"):
        pytest.skip("busybox not installed")
    bindir = tmp_path / "nocurl"
    bindir.mkdir()
    for name in ("sh", "mktemp", "base64", "rm", "busybox", "printf", "cat"):
        found = shutil.which(name)
        assert found, name
        (bindir / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(bindir))
    return "wget"


def test_get_200_with_secret_header(server: str, conn: RecordingLocal, tool: str) -> None:
    res = http_get(conn, f"{server}/x", headers={"Authorization": f"Bearer {SECRET}"})
    assert (res.status, res.tool) == (200, tool)
    assert res.json()["authorization"] == f"Bearer {SECRET}"
    assert res.headers["content-type"] == "application/json"
    # The secret travels on stdin: never in the command line.
    assert len(conn.commands) == 1
    assert SECRET not in conn.commands[0]


def test_post_body(server: str, conn: RecordingLocal, tool: str) -> None:
    res = http_get(conn, f"{server}/api/generate", method="POST", body='{"model": "m"}')
    assert res.ok
    assert res.json()["method"] == "POST"
    assert json.loads(res.json()["body"]) == {"model": "m"}


@pytest.mark.parametrize("status", [401, 302, 500])
def test_error_statuses_are_statuses(
    server: str, conn: RecordingLocal, tool: str, status: int
) -> None:
    res = http_get(conn, f"{server}/{status}")
    assert res.status == status
    assert not res.ok
    if status == 302:
        assert res.headers["location"] == "http://127.0.0.1:9/login?rd=x"


def test_no_answer_raises_without_the_secret(conn: RecordingLocal, tool: str) -> None:
    with pytest.raises(TransportError) as info:
        http_get(conn, "http://127.0.0.1:9/api/tags", headers={"Authorization": SECRET}, timeout=3)
    msg = str(info.value)
    assert msg.startswith("testhost: GET http://127.0.0.1:9/api/tags: no HTTP answer")
    assert SECRET not in msg


def test_header_with_line_break_is_refused(conn: RecordingLocal) -> None:
    with pytest.raises(
        TransportError, match="header 'X-A' has an empty name or a line break"
    ) as info:
        http_get(conn, "http://127.0.0.1:9/", headers={"X-A": f"{SECRET}\r\nX-B: 1"})
    assert SECRET not in str(info.value)


def test_safe_url_drops_credentials() -> None:
    assert safe_url("http://user:pw@host:8080/p?q=1") == "http://host:8080/p?q=1"
    assert safe_url("http://host/p") == "http://host/p"


def test_parse_response_garbage() -> None:
    with pytest.raises(TransportError, match="unreadable answer"):
        parse_response("hello\n", where="h: GET u")


def test_response_to_dict() -> None:
    r = HttpResponse(status=200, headers={"a": "b"}, body=b"x" * 3000)
    d = r.to_dict()
    assert d["status"] == 200
    assert len(d["body"]) == 2000
