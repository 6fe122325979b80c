"""SSH keepalives the server must answer: how a silent peer is found."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko


class Keepalive:
    """Keepalives the server must answer (OpenSSH's ServerAliveInterval/CountMax, in seconds).

    paramiko's own ``Transport.set_keepalive`` sends requests that want no reply, so it can
    keep a NAT open but never notice a silent peer. Here a daemon thread sends
    ``keepalive@openssh.com`` with want-reply every ``interval`` seconds (any reply, even
    "request failed", proves the peer is alive); a reply missing for ``timeout`` seconds
    closes the transport, which wakes every reader of its channels at once.
    """

    def __init__(
        self, transport: paramiko.Transport, name: str, interval: float, timeout: float
    ) -> None:
        self.transport = transport
        self.interval = interval
        self.timeout = timeout
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"homehub-keepalive-{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.transport.is_active():
                return
            probe = threading.Thread(target=self._probe, daemon=True)
            probe.start()
            probe.join(self.timeout)
            if probe.is_alive() and not self._stop.is_set() and self.transport.is_active():
                self.lost = (
                    f"no answer to SSH keepalives for {self.timeout:.0f}s "
                    "(link down or host not responding)"
                )
                with contextlib.suppress(Exception):
                    self.transport.close()
                return

    def _probe(self) -> None:
        # Returns on the server's reply, or when the transport dies.
        with contextlib.suppress(Exception):
            self.transport.global_request("keepalive@openssh.com", wait=True)

    def stop(self) -> None:
        """End the keepalive thread (it exits at its next wake-up)."""
        self._stop.set()
