"""The local connection plugin (``homehub_local``): a host whose commands run on the controller."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any

from nornir_homehub.connection.base import (
    KILL_GRACE,
    Endpoint,
    HostConnection,
    option_seconds,
    short_command,
)
from nornir_homehub.errors import CommandTimeout, TransportError
from nornir_homehub.secrets import scrubbed_environ


class HomehubLocal(HostConnection):
    """Nornir connection plugin for a host whose commands run on the controller itself.

    Used for ``check gpu`` directly on a GPU machine that has no sshd. Same interface as
    `HomehubSSH`; commands run with ``sh -c``.
    """

    def _open(self, target: Endpoint, extras: dict[str, Any]) -> None:
        """Nothing to open; remember the name, timeouts and ``env_keep`` (more env names)."""
        self.name = str(extras.get("inventory_name") or target.hostname or "localhost")
        self.command_timeout = option_seconds(extras, "command_timeout", self.name)
        self.env_keep = tuple(str(n) for n in extras.get("env_keep") or ())

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        # Never the controller's environment: it may hold the vault password and
        # HOMEHUB_SECRET_* values (and whatever else the operator exported).
        env = scrubbed_environ(keep=getattr(self, "env_keep", ()))
        try:
            # Its own session, so that a timeout ends the command's whole process group.
            proc = subprocess.Popen(
                ["sh", "-c", command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise TransportError(
                f"{self.name}: cannot run `{short_command(command)}`: {exc}"
            ) from None
        try:
            out, err = proc.communicate(stdin or b"", timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_local_group(proc)
            raise CommandTimeout(
                f"{self.name}: `{short_command(command)}` timed out after {timeout:.0f}s; "
                f"its process group {proc.pid} was ended"
            ) from None
        return proc.returncode, out, err


def _end_local_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, the process group of ``proc`` (which we started), and reap it."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.communicate(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
