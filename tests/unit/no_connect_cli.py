"""``python -m nornir_homehub`` with every connection refused and logged (bad-input tests).

Any socket connect or name lookup is appended to $HOMEHUB_TEST_CONNECT_LOG and fails, so a bad
input that wrongly reaches for a host is seen by the test even when the CLI handles the error.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_LOG = os.environ["HOMEHUB_TEST_CONNECT_LOG"]


def _record(what: str, target: Any) -> None:
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{what} {target!r}\n")


def _connect(self: socket.socket, address: Any) -> None:
    _record("connect", address)
    raise ConnectionRefusedError(f"bad-input test: no connection allowed ({address})")


def _connect_ex(self: socket.socket, address: Any) -> int:
    _record("connect_ex", address)
    return 111


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    _record("getaddrinfo", host)
    raise socket.gaierror(f"bad-input test: no name lookup allowed ({host})")


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]

if __name__ == "__main__":
    from nornir_homehub.cli import main

    main()
