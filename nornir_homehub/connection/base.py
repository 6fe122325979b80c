"""What every task uses to talk to a host: `HostConnection` and a command's `CommandResult`.

Everything is built on one primitive, ``_exec`` (run a command with stdin, return the exit
code and both streams), so SSH and local hosts behave identically: commands, batched facts in
one round trip, file reads and atomic uploads.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from nornir_homehub.codes import EXIT_MISSING
from nornir_homehub.connection.batch import parse_batch, render_batch
from nornir_homehub.connection.result import CommandResult
from nornir_homehub.connection.upload import batch_upload_script, render_upload_script
from nornir_homehub.connection_options import LOCAL_OPTIONS, SSH_OPTIONS, Kind
from nornir_homehub.errors import ConfigError, TransportError
from nornir_homehub.secrets import redact_all, redact_tail

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from nornir.core.configuration import Config

_OPTION = {o.name: o for o in (*SSH_OPTIONS, *LOCAL_OPTIONS)}
DEFAULT_CONNECT_TIMEOUT = float(_OPTION["connect_timeout"].default)
DEFAULT_COMMAND_TIMEOUT = float(_OPTION["command_timeout"].default)
# SIGTERM, then SIGKILL after this many seconds, for the process group of a timed-out command.
KILL_GRACE = 2.0


@dataclass(frozen=True)
class FileUpload:
    """One file for `HostConnection.put_files`: where, what, with which mode and owner."""

    path: str
    content: bytes
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where a connection plugin connects, and as whom (the inventory host's own fields)."""

    hostname: str | None
    username: str | None
    password: str | None
    port: int | None


def short_command(command: str, limit: int = 80) -> str:
    """The first line of ``command``, redacted and cut to ``limit`` characters (for messages)."""
    text = redact_all(command).strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


class HostConnection:
    """What every task uses to talk to a host: commands, batched facts, file read and upload.

    Subclasses implement `_exec`; everything else is built on it so that SSH and local hosts
    behave identically.
    """

    def __init__(self) -> None:
        self.name = "?"
        self.command_timeout = DEFAULT_COMMAND_TIMEOUT
        self.bytes_uploaded = 0
        self.commands_run = 0

    @property
    def connection(self) -> Self:
        """The established connection: this object (Nornir's connection slot protocol)."""
        return self

    def open(
        self,
        hostname: str | None,
        username: str | None,
        password: str | None,
        port: int | None,
        platform: str | None,
        extras: dict[str, Any] | None = None,
        configuration: Config | None = None,
    ) -> None:
        """Open the connection (Nornir's connection plugin protocol; the plugin's `_open`).

        ``extras`` are the inventory's connection extras (``connection_options.<plugin>``);
        ``platform`` and ``configuration`` are not used.
        """
        self._open(Endpoint(hostname, username, password, port), dict(extras or {}))

    def _open(self, target: Endpoint, extras: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- the one primitive -------------------------------------------------------------
    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        raise NotImplementedError

    # -- public API ------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> CommandResult:
        """Run a shell command on the host.

        Args:
            command: shell command line (run by the login user's shell).
            stdin: bytes fed to the command's standard input, then EOF.
            timeout: seconds before `CommandTimeout` (default: the connection's command timeout).
            check: raise `TransportError` when the exit code is not 0.

        Returns:
            The exit code and both output streams, decoded as UTF-8 (invalid bytes replaced).

        Raises:
            CommandTimeout: the command ran past ``timeout`` (its process group on the host
                was ended first).
            ConnectionLost: the connection died (closed, reset, keepalives unanswered).
            TransportError: the channel failed, or ``check`` and a non-zero exit code.
        """
        self.commands_run += 1
        code, out, err = self._exec(command, stdin, timeout or self.command_timeout)
        result = CommandResult(
            command=command,
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
        )
        if check and not result.ok:
            tail = redact_tail((result.stderr or result.stdout).strip(), 500)
            raise TransportError(
                f"{self.name}: `{short_command(command)}` exited {code}: {tail or '(no output)'}"
            )
        return result

    def run_batch(
        self,
        commands: Mapping[str, str],
        *,
        timeout: float | None = None,
        parallel: bool = False,
    ) -> dict[str, CommandResult]:
        """Run several independent commands in one round trip.

        Each command runs in its own subshell with stdin closed; its exit code, stdout and
        stderr come back separately (base64-framed, so any bytes are safe).

        Args:
            commands: fact name -> shell command.
            timeout: seconds for the whole batch.
            parallel: start all commands at once and wait for all (default: one after another).

        Returns:
            fact name -> result, in the order given.
        """
        if not commands:
            return {}
        script = render_batch(commands, parallel=parallel)
        res = self.run(f"sh -c {shlex.quote(script)}", timeout=timeout)
        results = parse_batch(res.stdout, commands)
        missing = [n for n in commands if n not in results]
        if missing:
            raise TransportError(
                f"{self.name}: batched facts {missing} returned nothing "
                f"(exit {res.exit_code}: {redact_tail(res.stderr.strip(), 300)})"
            )
        return results

    def run_parallel(
        self, commands: Mapping[str, str], *, timeout: float | None = None
    ) -> dict[str, CommandResult]:
        """Like `run_batch`, but the commands run side by side (one round trip)."""
        return self.run_batch(commands, timeout=timeout, parallel=True)

    def read_file(self, path: str) -> bytes | None:
        """Return the content of a remote file, or None when it does not exist."""
        q = shlex.quote(path)
        code, out, err = self._exec(
            f"if [ -e {q} ]; then cat -- {q}; else exit {EXIT_MISSING}; fi",
            None,
            self.command_timeout,
        )
        self.commands_run += 1
        if code == EXIT_MISSING:
            return None
        if code != 0:
            raise TransportError(f"{self.name}: cannot read {path}: {err.decode(errors='replace')}")
        return out

    def put_file(
        self,
        path: str,
        content: bytes,
        *,
        mode: int = 0o644,
        owner: str | None = None,
        group: str | None = None,
    ) -> None:
        """Write ``content`` to ``path`` atomically: a complete file or the old one, never a part.

        The bytes go to a temporary file in the same folder (077 umask). The host checks their
        length and sha256, sets ``mode`` (and owner/group when given), fsyncs, and only then
        renames the file onto ``path`` (``mv -T``: never into a directory). On any failure, an
        interrupted transfer included, it removes the temporary file; ``path`` keeps its old
        bytes. The host needs ``stat``, ``sha256sum``, ``sync FILE`` and ``mv -T`` (GNU
        coreutils 8.24+ or BusyBox 1.35+).

        Raises:
            ConnectionLost: the connection died during the upload (the host discards the part).
            TransportError: the upload was refused (short, corrupt, unwritable, bad owner); the
                old file is left as it was.
        """
        script = render_upload_script(
            path,
            _temporary(path),
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            mode=mode,
            owner=owner,
            group=group,
        )
        self.bytes_uploaded += len(content)
        res = self.run(script, stdin=content)
        if not res.ok:
            raise self._upload_failed(res, path, path)

    def put_files(self, files: Sequence[FileUpload]) -> None:
        """Write each of ``files`` like `put_file`, in order, in one round trip.

        The bytes follow each other on stdin; each file is read to exactly its length and
        installed whole or not at all. The first file that cannot be written stops there:
        the earlier ones are installed, it and the later ones keep their old bytes (as
        `put_file` one after the other would leave them). One file goes through `put_file`.

        Raises:
            ConnectionLost: the connection died during the upload.
            TransportError: a file was refused (its path and the host's message; the error's
                ``path`` names it when the host said which).
        """
        if len(files) == 1:
            f = files[0]
            self.put_file(f.path, f.content, mode=f.mode, owner=f.owner, group=f.group)
            return
        if not files:
            return
        rows = [
            (f.path, _temporary(f.path), len(f.content), hashlib.sha256(f.content).hexdigest(),
             f.mode, f.owner, f.group)
            for f in files
        ]  # fmt: skip
        self.bytes_uploaded += sum(len(f.content) for f in files)
        res = self.run(batch_upload_script(rows), stdin=b"".join(f.content for f in files))
        if not res.ok:
            tail = (res.stderr or res.stdout).strip()[-500:]
            failed = next((f.path for f in files if f"upload of {f.path} failed" in tail), None)
            where = failed or ", ".join(f.path for f in files)
            raise self._upload_failed(res, where, failed)

    def _upload_failed(self, res: CommandResult, where: str, path: str | None) -> TransportError:
        """The error of an upload script that exited non-zero (``where``: what it names)."""
        tail = (res.stderr or res.stdout).strip()[-500:]
        error = TransportError(
            f"{self.name}: upload of {where} failed (exit {res.exit_code}): "
            f"{tail or '(no output)'}; {where} was left as it was"
        )
        error.path = path
        return error

    def close(self) -> None:
        """Release the connection (idempotent)."""


def _temporary(path: str) -> str:
    """The upload's temporary file: in ``path``'s folder, hidden, unique to this process."""
    parent, base = os.path.split(path)
    return f"{parent}/.{base}.homehub-{os.getpid()}-{time.monotonic_ns()}"


def option_seconds(extras: Mapping[str, Any], key: str, host: str) -> float:
    """A connection extra in seconds; `ConfigError` naming the host and key when it is not.

    The inventory loader already refused bad values (`connection_options`); this guards the
    connections opened without it (the lab's plumbing, tests).
    """
    option = _OPTION[key]
    zero = option.kind is Kind.SECONDS_OR_OFF
    raw = extras.get(key, option.default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value < 0 or (value == 0 and not zero) or isinstance(raw, bool):
        need = "a number of seconds >= 0 (0: off)" if zero else "a positive number of seconds"
        raise ConfigError(f"{host}: connection extra {key}={raw!r} must be {need}")
    return value
