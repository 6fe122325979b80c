"""`facts.registry.manifest_head_command` run for real (sh + curl) against a registry double.

A small HTTP server on loopback plays a registry that wants an anonymous Bearer token (as
Docker Hub does): the script must follow the challenge, fetch the token from the realm with
the challenge's service and the repository's pull scope, ask again, and print the answer's
headers without the token. A 404 and a registry that needs no token are read as well.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from nornir_homehub.facts.registry import manifest_head_command, parse_manifest_head
from nornir_homehub.imageref import parse_reference

TOKEN = "anon-token-7c1f"
DIGEST = "sha256:" + "ab" * 32
seen: list[dict[str, Any]] = []


class Registry(BaseHTTPRequestHandler):
    """``lib/needs-token`` wants a Bearer token; ``lib/open`` does not; anything else is 404."""

    def log_message(self, *_: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/token":
            seen.append(parse_qs(url.query))
            body = json.dumps({"token": TOKEN, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.end_headers()

    def do_HEAD(self) -> None:
        assert "manifest.list.v2+json" in self.headers.get("Accept", "")
        port = self.server.server_address[1]
        if self.path == "/v2/lib/needs-token/manifests/v1":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate",
                    f'Bearer realm="http://127.0.0.1:{port}/token",service="test-registry",'
                    'scope="repository:lib/needs-token:pull"',
                )
                self.end_headers()
                return
        elif self.path != "/v2/lib/open/manifests/v1":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Docker-Content-Digest", DIGEST)
        self.end_headers()


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def _ask(image: str) -> tuple[Any, str]:
    cmd = manifest_head_command(parse_reference(image), insecure=True)
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60, check=False)
    return parse_manifest_head(res.returncode, res.stdout, res.stderr), res.stdout + res.stderr


def test_the_anonymous_token_flow_is_followed_and_the_token_never_printed(registry: str) -> None:
    seen.clear()
    head, output = _ask(f"{registry}/lib/needs-token:v1")
    assert (head.status, head.digest, head.error) == (200, DIGEST, "")
    assert seen == [{"service": ["test-registry"], "scope": ["repository:lib/needs-token:pull"]}]
    assert TOKEN not in output


def test_a_registry_without_token_and_a_missing_tag(registry: str) -> None:
    seen.clear()
    assert _ask(f"{registry}/lib/open:v1")[0].digest == DIGEST
    assert seen == []  # no token asked where none is needed
    missing = _ask(f"{registry}/lib/open:v2")[0]
    assert (missing.status, missing.error) == (404, "HTTP 404: no such tag or repository")
