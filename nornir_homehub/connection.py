"""The only SSH code in nornir_homehub: a Nornir connection plugin on paramiko 5.

Registered as ``homehub_ssh`` (and ``homehub_local`` for a host whose commands run on the
controller itself, e.g. ``check gpu`` on a GPU machine). One `HostConnection` per host per run,
opened on first use by Nornir and shared by every task; closed by ``nr.close_connections()``.

Why not nornir-paramiko: it pins paramiko < 3 (no fix for CVE-2023-48795), uses SCP and
AutoAddPolicy and has no timeouts. Here host keys are verified against a known_hosts file,
connect and command timeouts apply, stdout and stderr are drained together (no deadlock on
large output), and uploads are atomic (temporary file + rename) with an explicit mode.

Faults: every failure is a `TransportError` naming the host (never a raw paramiko error or
OSError). A connection that dies mid-command raises `ConnectionLost` as soon as paramiko sees
it (the read loop sleeps on the channel, it never spins); a silent peer is found by keepalives
that ask for an answer (OpenSSH's ``ServerAliveInterval``). A command that outlives its
timeout has its whole remote process group ended over a second channel before
`CommandTimeout` is raised. An upload checks length and sha256 on the host, fsyncs and renames
only a complete file (see `render_upload_script`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import select
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub import safety
from nornir_homehub.connection_options import (
    LOCAL_OPTIONS,
    LOCAL_PLUGIN,
    SSH_OPTIONS,
    SSH_PLUGIN,
    Kind,
)
from nornir_homehub.errors import (
    CommandTimeout,
    ConfigError,
    ConnectionLost,
    HostKeyError,
    TransportError,
)
from nornir_homehub.secrets import redact_all, redact_tail, scrubbed_environ

if TYPE_CHECKING:
    from collections.abc import Mapping

    import paramiko
    from nornir.core.configuration import Config
    from nornir.core.task import Task

# paramiko logs each dead connection with a traceback; without a handler Python's last-resort
# handler would print it on stderr. Our errors carry the cause; configured logging still gets it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_OPTION = {o.name: o for o in (*SSH_OPTIONS, *LOCAL_OPTIONS)}
DEFAULT_CONNECT_TIMEOUT = float(_OPTION["connect_timeout"].default)
DEFAULT_COMMAND_TIMEOUT = float(_OPTION["command_timeout"].default)
_CHUNK = 65536
# The read loop sleeps on the channel's pipe; it wakes at least this often to check the
# command's deadline and the transport.
_WAKE = 1.0
# How long one blocked send waits for the server to open its window before output is drained.
_SEND_WAIT = 0.05
# SIGTERM, then SIGKILL after this many seconds, for the process group of a timed-out command.
_KILL_GRACE = 2.0
# How long a failed channel waits for paramiko to tell whether the whole connection died.
_SETTLE = 1.0
_UPLOAD_FAILED = 86


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one remote command."""

    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }


def _short(command: str, limit: int = 80) -> str:
    text = redact_all(command).strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def render_upload_script(
    path: str,
    tmp: str,
    *,
    size: int,
    sha256: str,
    mode: int,
    owner: str | None = None,
    group: str | None = None,
) -> str:
    """The POSIX shell script that installs stdin at ``path`` only when it arrived whole.

    Pure: builds text, runs nothing. The script creates the folder when missing (with the
    login's umask), writes stdin to ``tmp`` (077 umask), checks its length and sha256 against
    ``size``/``sha256``, applies ``mode`` and owner/group, fsyncs it, renames it onto
    ``path`` with ``mv -fT`` and fsyncs the folder. Any failure,
    a signal or a closed channel (``cat`` then sees an early EOF and the length check fails)
    removes ``tmp`` and exits 86 with a message on stderr. Temporary files of ``path`` left
    by a shell that was killed outright are removed first.

    Args:
        path: the file to install.
        tmp: the temporary file, in the same folder as ``path``.
        size: number of bytes the controller sends.
        sha256: hex digest of those bytes.
        mode: permission bits of the installed file.
        owner: user to own the file (default: the login user).
        group: group of the file.

    Returns:
        The script, to run with the content on stdin.
    """
    parent, base = os.path.split(path)
    q = shlex.quote
    stale = f'"$d"/{q("." + base + ".homehub-")}*'
    lines = [
        # The first line names the command in errors ("connection lost during `...`").
        "# upload of " + path.replace("\n", "?") + f" ({size} bytes)",
        f"p={q(path)}; t={q(tmp)}; d={q(parent or '/')}",
        f'fail() {{ rm -f -- "$t"; echo "upload of $p failed: $1" >&2; exit {_UPLOAD_FAILED}; }}',
        f"trap 'rm -f -- \"$t\"; exit {_UPLOAD_FAILED}' HUP INT TERM PIPE",
        # The folder gets the login's umask (named must read /etc/bind/zones); only the
        # temporary file is private.
        'mkdir -p -- "$d" || fail "cannot create $d"',
        "umask 077",
        f'for f in {stale}; do [ -e "$f" ] && rm -f -- "$f"; done',
        'cat > "$t" || fail "cannot write $t"',
        'n=$(stat -c %s -- "$t") || fail "cannot stat $t"',
        f'[ "$n" = {size} ] || fail "received $n of {size} bytes (transfer cut short)"',
        'h=$(sha256sum < "$t") || fail "sha256sum failed"',
        f'[ "${{h%% *}}" = {sha256} ] || fail "sha256 of the received bytes differs"',
        f'chmod {mode:o} -- "$t" || fail "chmod {mode:o} failed"',
    ]
    if owner or group:
        who = q((owner or "") + (":" + group if group else ""))
        lines.append(f'chown {who} -- "$t" || fail "chown {who} failed"')
    lines += [
        'sync -- "$t" || fail "fsync failed"',
        'mv -fT -- "$t" "$p" || fail "cannot rename onto $p"',
        'sync -- "$d" 2>/dev/null || :',
    ]
    return "\n".join(lines)


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
                f"{self.name}: `{_short(command)}` exited {code}: {tail or '(no output)'}"
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
        names = list(commands)
        parts = ["t=$(mktemp -d) || exit 97", "trap 'rm -rf \"$t\"' EXIT"]
        for i, name in enumerate(names):
            run = f'( {commands[name]}\n) >"$t/o{i}" 2>"$t/e{i}" </dev/null'
            parts.append(f"{run} & p{i}=$!" if parallel else f"{run}; r{i}=$?")
        for i in range(len(names)):
            if parallel:
                parts.append(f"wait $p{i}; r{i}=$?")
            parts.append(
                f"printf '%s %s ' {i} \"$r{i}\"; base64 -w0 <\"$t/o{i}\"; printf ' '; "
                f"base64 -w0 <\"$t/e{i}\"; printf '\\n'"
            )
        script = "\n".join(parts)
        res = self.run(f"sh -c {shlex.quote(script)}", timeout=timeout)
        results: dict[str, CommandResult] = {}
        for line in res.stdout.splitlines():
            fields = line.split(" ")
            if len(fields) != 4 or not fields[0].isdigit():
                continue
            try:
                idx, code = int(fields[0]), int(fields[1])
                out, err = base64.b64decode(fields[2]), base64.b64decode(fields[3])
            except ValueError:
                continue  # a garbled line: its fact is reported missing below
            if idx >= len(names):
                continue
            name = names[idx]
            results[name] = CommandResult(
                command=commands[name],
                exit_code=code,
                stdout=out.decode("utf-8", "replace"),
                stderr=err.decode("utf-8", "replace"),
            )
        missing = [n for n in names if n not in results]
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
            f"if [ -e {q} ]; then cat -- {q}; else exit 44; fi", None, self.command_timeout
        )
        self.commands_run += 1
        if code == 44:
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
        parent, base = os.path.split(path)
        tmp = f"{parent}/.{base}.homehub-{os.getpid()}-{time.monotonic_ns()}"
        script = render_upload_script(
            path,
            tmp,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            mode=mode,
            owner=owner,
            group=group,
        )
        self.bytes_uploaded += len(content)
        res = self.run(script, stdin=content)
        if not res.ok:
            tail = (res.stderr or res.stdout).strip()[-500:]
            raise TransportError(
                f"{self.name}: upload of {path} failed (exit {res.exit_code}): "
                f"{tail or '(no output)'}; {path} was left as it was"
            )

    def close(self) -> None:
        """Release the connection (idempotent)."""


class HomehubSSH(HostConnection):
    """Nornir connection plugin: one verified paramiko SSH connection to a host.

    Connection extras (inventory ``connection_options.homehub_ssh.extras``):
        known_hosts: file the host key must be in (default ``~/.ssh/known_hosts``).
        key_file: private key (default: from ``~/.ssh/config`` IdentityFile, else paramiko's
            default keys). The inventory wins over ssh config.
        ssh_config: ssh config file to read (default ``~/.ssh/config``).
        connect_timeout / command_timeout: seconds.
        keepalive_interval: seconds between keepalives that the server must answer (default 5;
            0 turns them off).
        keepalive_timeout: seconds a keepalive may stay unanswered before the connection is
            declared lost (default 15).
        lab_bridge: when set, the address must be routed over this bridge (lab safety check).
        inventory_name: the host's inventory name, for messages (set by the loader).

    Commands run in the process group the server creates for each session (OpenSSH's sshd
    calls ``setsid``); a timed-out command's group is ended through a second channel.
    """

    def __init__(self) -> None:
        super().__init__()
        self._client: paramiko.SSHClient | None = None
        self._keepalive: _Keepalive | None = None
        self._lost: str | None = None
        self.connect_timeout = DEFAULT_CONNECT_TIMEOUT
        # Marks the line on stderr that carries the remote shell's PID (its process group).
        self._marker = f"homehub-pgid-{secrets.token_hex(6)}"
        self._marker_re = re.compile(rf"{self._marker} (\d+)\n".encode())

    @property
    def connection(self) -> HomehubSSH:
        """The established connection (this object)."""
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
        """Connect and authenticate; verify the host key against known_hosts.

        Raises:
            UnsafeDestination: the address is outside the allowed networks or not on the lab
                bridge.
            HostKeyError: the host key is unknown or changed.
            ConfigError: a connection extra has a value of the wrong kind.
            TransportError: anything else (refused, timeout, authentication).
        """
        import paramiko

        extras = dict(extras or {})
        if not hostname:
            raise TransportError("host without a hostname/address in the inventory")
        self.name = str(extras.get("inventory_name") or hostname)
        cfg_path = Path(str(extras.get("ssh_config", "~/.ssh/config"))).expanduser()
        ssh_cfg: dict[str, Any] = {}
        if cfg_path.is_file():
            try:
                ssh_cfg = dict(paramiko.SSHConfig.from_path(str(cfg_path)).lookup(hostname))
            except (OSError, ValueError, paramiko.SSHException) as exc:
                raise ConfigError(
                    f"{self.name}: cannot read ssh config {cfg_path}: {exc}"
                ) from None
        address = str(ssh_cfg.get("hostname", hostname))
        port = int(port or ssh_cfg.get("port", 22))
        username = username or ssh_cfg.get("user") or "root"
        key_file = extras.get("key_file") or (ssh_cfg.get("identityfile") or [None])[0]
        known_hosts = Path(str(extras.get("known_hosts", "~/.ssh/known_hosts"))).expanduser()
        interval, patience = self._timeouts(extras)

        ip = safety.resolve(address)
        safety.check_allowed(self.name, ip)
        if extras.get("lab_bridge"):
            safety.check_route(self.name, ip, str(extras["lab_bridge"]))

        client = paramiko.SSHClient()
        try:
            if known_hosts.is_file():
                client.load_system_host_keys(str(known_hosts))
        except (OSError, paramiko.SSHException) as exc:
            raise ConfigError(
                f"{self.name}: cannot read known_hosts {known_hosts}: {exc}"
            ) from None
        client.set_missing_host_key_policy(_RefuseUnknownKey(self.name, known_hosts))  # type: ignore[arg-type]
        try:
            client.connect(
                hostname=ip,
                port=port,
                username=username,
                password=password or None,
                key_filename=str(Path(str(key_file)).expanduser()) if key_file else None,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=key_file is None,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"{self.name} ({ip}): host key CHANGED: server offered "
                f"{exc.key.get_name()} {exc.key.fingerprint}, {known_hosts} has "
                f"{exc.expected_key.get_name()} {exc.expected_key.fingerprint}; "
                "refusing to connect (possible man-in-the-middle)"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TransportError(f"{self.name} ({ip}): SSH authentication failed: {exc}") from None
        except (OSError, EOFError, ValueError, paramiko.SSHException) as exc:
            client.close()
            raise TransportError(
                f"{self.name} ({ip}:{port}): SSH connection failed: {exc or type(exc).__name__}"
            ) from None
        self._client = client
        transport = client.get_transport()
        if interval and transport is not None:
            self._keepalive = _Keepalive(transport, self.name, interval, patience)

    def _timeouts(self, extras: Mapping[str, Any]) -> tuple[float, float]:
        """Read the timeout extras; return the keepalive interval and timeout."""
        self.connect_timeout = _seconds(extras, "connect_timeout", self.name)
        self.command_timeout = _seconds(extras, "command_timeout", self.name)
        interval = _seconds(extras, "keepalive_interval", self.name)
        return interval, _seconds(extras, "keepalive_timeout", self.name)

    # -- commands ----------------------------------------------------------------------------
    def _transport(self) -> paramiko.Transport:
        """The live transport, or `ConnectionLost`/`TransportError` saying why there is none."""
        if self._lost is not None:
            raise ConnectionLost(f"{self.name}: SSH connection was lost earlier: {self._lost}")
        if self._client is None:
            raise TransportError(f"{self.name}: connection is closed")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise self._lose(transport, "the connection is no longer active")
        return transport

    def _lose(self, transport: paramiko.Transport | None, what: str) -> ConnectionLost:
        """Remember that the connection died and build the error that says why."""
        why = self._keepalive.lost if self._keepalive is not None else None
        if why is None and transport is not None:
            exc = transport.get_exception()
            why = f"{type(exc).__name__}: {exc}" if exc is not None and str(exc) else None
        self._lost = why or "the server closed the connection"
        return ConnectionLost(f"{self.name}: SSH connection lost ({what}): {self._lost}")

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        return self._session(command, stdin, timeout, end_group_on_timeout=True)

    def _session(
        self, command: str, stdin: bytes | None, timeout: float, *, end_group_on_timeout: bool
    ) -> tuple[int, bytes, bytes]:
        import paramiko

        transport = self._transport()
        try:
            chan = transport.open_session(timeout=min(timeout, self.connect_timeout))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _dead(transport):
                raise self._lose(transport, "opening a channel") from None
            raise TransportError(
                f"{self.name}: cannot open an SSH channel: {exc or type(exc).__name__}"
            ) from None
        out = bytearray()
        err = bytearray()
        try:
            # The shell's PID is its process group (sshd starts each session with setsid).
            chan.exec_command(f"printf '{self._marker} %s\\n' \"$$\" >&2\n{command}")
            code = self._pump(chan, transport, stdin or b"", out, err, time.monotonic() + timeout)
        except CommandTimeout:
            raise
        except _Deadline:
            ended = ""
            if end_group_on_timeout:
                ended = self._end_group(self._marker_re.search(err))
            raise CommandTimeout(
                f"{self.name}: `{_short(command)}` timed out after {timeout:.0f}s{ended}"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _dead(transport):
                raise self._lose(transport, f"during `{_short(command)}`") from None
            raise TransportError(
                f"{self.name}: SSH channel failed during `{_short(command)}`: "
                f"{exc or type(exc).__name__}"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                chan.close()
        if code is None:
            raise self._lose(transport, f"during `{_short(command)}`")
        return code, bytes(out), self._marker_re.sub(b"", bytes(err), count=1)

    def _pump(
        self,
        chan: paramiko.Channel,
        transport: paramiko.Transport,
        stdin: bytes,
        out: bytearray,
        err: bytearray,
        deadline: float,
    ) -> int | None:
        """Feed stdin and drain both streams until the command ends.

        Returns:
            The exit code (-1 when the server sent none, e.g. the command died of a signal),
            or None when the connection died before the command's end was seen.

        Raises:
            _Deadline: ``deadline`` passed first.
        """
        sent = 0
        chan.settimeout(_SEND_WAIT)
        if not stdin:
            chan.shutdown_write()
        while True:
            self._drain(chan, out, err)
            if sent < len(stdin):
                sent = self._feed(chan, stdin, sent)
            done = chan.exit_status != -1 and (chan.eof_received or chan.closed)
            if (done or chan.closed) and not (chan.recv_ready() or chan.recv_stderr_ready()):
                if done:
                    return int(chan.exit_status)
                # Closed without an exit status: the server (still here) ended the session,
                # e.g. the command was killed by a signal; or the whole connection died.
                return None if _dead(transport) else -1
            now = time.monotonic()
            if now > deadline:
                raise _Deadline
            if sent < len(stdin):
                continue  # _feed waited for the window
            if chan.eof_received:
                # Output is over (the pipe stays readable now): wait for the exit status.
                chan.status_event.wait(min(_WAKE, deadline - now))
            else:
                # The channel's pipe turns readable on output, EOF and close: no polling.
                select.select([chan], [], [], min(_WAKE, deadline - now))

    @staticmethod
    def _feed(chan: paramiko.Channel, stdin: bytes, sent: int) -> int:
        """Send the next chunk of stdin; return how much is sent in all."""
        if chan.closed or chan.exit_status != -1:
            return len(stdin)  # the command ended without reading all of it
        try:
            # A full window makes send wait up to _SEND_WAIT: output is drained meanwhile.
            sent += chan.send(stdin[sent : sent + _CHUNK])
        except TimeoutError:
            return sent
        except OSError:
            if not chan.exit_status_ready():  # true once the channel closed under us
                raise
            return len(stdin)
        if sent >= len(stdin):
            chan.shutdown_write()
        return sent

    def _end_group(self, marker: re.Match[bytes] | None) -> str:
        """End a timed-out command's remote process group; say how that went, for the error."""
        if marker is None:
            return " (its process group was not known; it may still run on the host)"
        pgid = int(marker.group(1))
        script = (
            f"kill -TERM -{pgid} 2>/dev/null || exit 0\n"
            f"i=0; while kill -0 -{pgid} 2>/dev/null; do i=$((i+1)); "
            f"if [ $i -gt {int(_KILL_GRACE * 10)} ]; then kill -KILL -{pgid} 2>/dev/null; "
            "exit 0; fi; sleep 0.1; done"
        )
        try:
            self._session(script, None, _KILL_GRACE + 10, end_group_on_timeout=False)
        except TransportError as exc:
            return f" (ending its process group {pgid} failed: {exc}; it may still run)"
        return f"; its remote process group {pgid} was ended"

    @staticmethod
    def _drain(chan: paramiko.Channel, out: bytearray, err: bytearray) -> None:
        while chan.recv_ready():
            out += chan.recv(_CHUNK)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(_CHUNK)

    def close(self) -> None:
        """Close the SSH connection (idempotent)."""
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def _dead(transport: paramiko.Transport) -> bool:
    """True when the transport has died, or dies within a second.

    A failed write or a channel closed under us can be seen before paramiko's reader thread
    has marked the transport inactive; its thread ends right after that, so wait for it.
    """
    if transport.is_active():
        transport.join(_SETTLE)
    return not transport.is_active()


class _Deadline(Exception):
    """A command's deadline passed (turned into `CommandTimeout` by `HomehubSSH._session`)."""


class _Keepalive:
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


# Connection extras in seconds: default, and whether 0 (off) is allowed.
def _seconds(extras: Mapping[str, Any], key: str, host: str) -> float:
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


class HomehubLocal(HostConnection):
    """Nornir connection plugin for a host whose commands run on the controller itself.

    Used for ``check gpu`` directly on a GPU machine that has no sshd. Same interface as
    `HomehubSSH`; commands run with ``sh -c``.
    """

    @property
    def connection(self) -> HomehubLocal:
        """The established connection (this object)."""
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
        """Nothing to open; remember the name, timeouts and ``env_keep`` (more env names)."""
        extras = extras or {}
        self.name = str(extras.get("inventory_name") or hostname or "localhost")
        self.command_timeout = _seconds(extras, "command_timeout", self.name)
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
            raise TransportError(f"{self.name}: cannot run `{_short(command)}`: {exc}") from None
        try:
            out, err = proc.communicate(stdin or b"", timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_local_group(proc)
            raise CommandTimeout(
                f"{self.name}: `{_short(command)}` timed out after {timeout:.0f}s; "
                f"its process group {proc.pid} was ended"
            ) from None
        return proc.returncode, out, err


def _end_local_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, the process group of ``proc`` (which we started), and reap it."""
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.communicate(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _RefuseUnknownKey:
    """paramiko host key policy: refuse, naming the host, the key type and its fingerprint."""

    def __init__(self, name: str, known_hosts: Path) -> None:
        self.name = name
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyError(
            f"{self.name} ({hostname}): host key not in {self.known_hosts}: "
            f"{key.get_name()} {key.fingerprint}; verify it out of band and add it "
            "(never auto-accepted)"
        )


def register_plugins() -> None:
    """Register both connection plugins with Nornir (entry points do the same when installed)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    ConnectionPluginRegister.register(SSH_PLUGIN, HomehubSSH)
    ConnectionPluginRegister.register(LOCAL_PLUGIN, HomehubLocal)


class _Unreachable(HostConnection):
    """Stands in a host's connection slot after `open_connections` failed to reach it.

    Later tasks of the same run fail at once with the same error instead of waiting for a
    second connect timeout.
    """

    def __init__(self, name: str, error: TransportError) -> None:
        super().__init__()
        self.name = name
        self.error = error

    @property
    def connection(self) -> _Unreachable:
        """The placeholder itself (Nornir's connection slot protocol)."""
        return self

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        raise type(self.error)(str(self.error))


def open_connections(nr: Any) -> None:
    """Open every selected host's connection in parallel, ahead of staged work.

    Stages that run one after another (compute, then trusted) then do not pay connection
    set-up in series. A host that cannot be reached is remembered, not reported here: the
    first task that needs it fails with the same error, in its own stage.
    """
    from nornir.core.task import Result

    def _open(task: Task) -> Result:
        try:
            host_connection(task)
        except TransportError as exc:
            task.host.connections[_plugin(task)] = _Unreachable(task.host.name, exc)  # type: ignore[assignment]
        return Result(host=task.host)

    nr.run(task=_open, name="connect", on_failed=True)


def _plugin(task: Task) -> str:
    return LOCAL_PLUGIN if task.host.get("connection") == "local" else SSH_PLUGIN


def host_connection(task: Task) -> HostConnection:
    """Return the host's shared connection (opened on first use, one per host per run).

    A host whose data has ``connection: local`` uses `HomehubLocal`; all others `HomehubSSH`.
    """
    plugin = _plugin(task)
    conn = task.host.get_connection(plugin, task.nornir.config)
    if isinstance(conn, _Unreachable):
        raise type(conn.error)(str(conn.error))
    if not isinstance(conn, HostConnection):  # pragma: no cover - misregistered plugin
        raise TransportError(f"{task.host.name}: connection plugin {plugin} is not homehub's")
    return conn


def close_all(nr: Any) -> None:
    """Close every open connection of ``nr``'s hosts, failed hosts included.

    (Nornir's own ``close_connections`` skips hosts whose last task failed.)
    """
    for host in nr.inventory.hosts.values():
        host.close_connections()
