"""`http_get` through a local connection: the request runs in a shell with curl, or with
GNU or BusyBox wget when curl is not on PATH, against a small HTTP server on 127.0.0.1.

The server looks at every process's command line while it answers (the client is still
waiting then), so "the secret never reaches argv" is checked during the request itself."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import QuietHandler, serving

from nornir_homehub.connection import HomehubLocal
from nornir_homehub.errors import NoSafeHttpClient, TransportError
from nornir_homehub.facts.http import (
    HttpResponse,
    http_get,
    parse_response,
    safe_url,
)
from nornir_homehub.lab.processes import each_process

SECRET = "sk-very-secret-value-123"
CLIENTS = (b"curl", b"wget")


def argv_seen() -> dict[str, list[int]]:
    """PIDs whose command line holds the secret, and PIDs of HTTP clients, right now."""
    leaks: list[int] = []
    clients: list[int] = []
    for pid, argv in each_process(lambda proc: (proc / "cmdline").read_bytes()):
        if SECRET.encode() in argv:
            leaks.append(pid)
        if any(argv.split(b"\0")[0].endswith(c) or b"busybox\0wget" in argv for c in CLIENTS):
            clients.append(pid)
    return {"leaks": leaks, "clients": clients}


class Handler(QuietHandler):
    """200 echoing the request, 401, 302 to a closed port, 500 with a JSON error."""

    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        self._answer()

    def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/401":
            self.reply(401, b"no", {"WWW-Authenticate": "Bearer"})
        elif self.path == "/302":
            self.reply(302, b"", {"Location": "http://127.0.0.1:9/login?rd=x"})
        elif self.path == "/500":
            self.reply(500, b'{"error": "boom"}', {"Content-Type": "application/json"})
        elif self.path == "/argv":
            self.reply(200, json.dumps(argv_seen()).encode(), {"Content-Type": "application/json"})
        else:
            echo = {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": body.decode(),
            }
            self.reply(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(Handler) as port:
        yield f"http://127.0.0.1:{port}"


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


@pytest.fixture(params=["curl", "gnu-wget", "busybox"])
def tool(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with curl on PATH, or with a PATH without curl that has GNU wget or only BusyBox."""
    if request.param == "curl":
        if not shutil.which("curl"):
            pytest.skip("curl not installed")
        return "curl"
    client = "wget" if request.param == "gnu-wget" else "busybox"
    if not shutil.which(client):
        pytest.skip(f"{client} not installed")
    bindir = tmp_path / "nocurl"
    bindir.mkdir()
    for name in ("sh", "mktemp", "base64", "rm", "printf", "cat", client):
        found = shutil.which(name)
        assert found, name
        (bindir / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(bindir))
    return request.param


def used(tool: str) -> str:
    """The `HttpResponse.tool` a client fixture gives."""
    return "curl" if tool == "curl" else "wget"


# BusyBox wget never sends headers: test_busybox_wget_refuses_headers.
@pytest.mark.parametrize("tool", ["curl", "gnu-wget"], indirect=True)
def test_get_200_with_secret_header(server: str, conn: RecordingLocal, tool: str) -> None:
    res = http_get(conn, f"{server}/x", headers={"Authorization": f"Bearer {SECRET}"})
    assert (res.status, res.tool) == (200, used(tool))
    assert res.json()["authorization"] == f"Bearer {SECRET}"
    assert res.headers["content-type"] == "application/json"
    # The secret travels on stdin: never in the command line.
    assert len(conn.commands) == 1
    assert SECRET not in conn.commands[0]


@pytest.mark.parametrize("tool", ["curl", "gnu-wget"], indirect=True)
def test_secret_header_is_in_no_process_argv_during_the_request(
    server: str, conn: RecordingLocal, tool: str
) -> None:
    res = http_get(conn, f"{server}/argv", headers={"api-key": SECRET})
    seen = res.json()
    assert seen["clients"], "the HTTP client was not running while the server answered"
    assert seen["leaks"] == []


@pytest.mark.parametrize("tool", ["busybox"], indirect=True)
def test_busybox_wget_refuses_headers(server: str, conn: RecordingLocal, tool: str) -> None:
    with pytest.raises(NoSafeHttpClient) as info:
        http_get(conn, f"{server}/x", headers={"api-key": SECRET})
    assert "not sent" in str(info.value)
    assert "command line" in str(info.value)
    assert "install curl" in info.value.remedy
    assert SECRET not in str(info.value)
    # Without headers BusyBox wget is fine.
    assert http_get(conn, f"{server}/x").tool == "wget"


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
    expected = "not sent" if tool == "busybox" else "no HTTP answer"
    assert msg.startswith(f"testhost: GET http://127.0.0.1:9/api/tags: {expected}")
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
