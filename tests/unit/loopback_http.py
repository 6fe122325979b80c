"""A small HTTP server on 127.0.0.1 for unit tests that make real requests from a shell."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that answers with `reply` and logs nothing (the test output stays
    readable)."""

    def reply(self, code: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Answer ``code`` with ``headers``, a Content-Length and ``body``."""
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, code: int, doc: Any) -> None:
        """Answer ``code`` with ``doc`` as a JSON body."""
        self.reply(code, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on a free loopback port (yielded) until the block ends."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
