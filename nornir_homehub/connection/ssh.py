"""The SSH connection plugin (``homehub_ssh``): one verified paramiko connection per host.

The only paramiko code in nornir_homehub. Host keys are verified against a known_hosts file
(never auto-accepted), connect and command timeouts apply, stdout and stderr are drained
together (no deadlock on large output). A connection that dies mid-command raises
`ConnectionLost` as soon as paramiko sees it; a command that outlives its timeout has its
remote process group ended over a second channel before `CommandTimeout` is raised.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import secrets
import select
import socket
import sys
import threading
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub import safety
from nornir_homehub.connection.base import (
    DEFAULT_CONNECT_TIMEOUT,
    KILL_GRACE,
    Endpoint,
    HostConnection,
    option_seconds,
    short_command,
)
from nornir_homehub.connection.keepalive import Keepalive
from nornir_homehub.errors import (
    CommandTimeout,
    ConfigError,
    ConnectionLost,
    HostKeyError,
    TransportError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import paramiko

# paramiko logs each dead connection with a traceback; without a handler Python's last-resort
# handler would print it on stderr. Our errors carry the cause; configured logging still gets it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def defer_invoke() -> None:
    """Make ``import invoke`` cheap: the real module is imported when first used.

    paramiko imports invoke (and with it asyncio and unittest.mock: about 30 ms, on every
    command that connects) only to run an ssh_config ``Match exec`` line. Until then
    ``sys.modules["invoke"]`` is a stand-in whose first attribute lookup imports invoke and
    answers from it. No-op when invoke is already imported or not installed.
    """
    if "invoke" in sys.modules or importlib.util.find_spec("invoke") is None:
        return
    stand_in = types.ModuleType("invoke", "imported on first use (nornir_homehub)")

    def first_use(name: str) -> Any:
        if sys.modules.get("invoke") is stand_in:
            del sys.modules["invoke"]
        return getattr(importlib.import_module("invoke"), name)

    stand_in.__getattr__ = first_use  # type: ignore[method-assign]
    sys.modules["invoke"] = stand_in


defer_invoke()

_CHUNK = 65536
# The read loop sleeps on the channel's pipe; it wakes at least this often to check the
# command's deadline and the transport.
_WAKE = 1.0
# How long one blocked send waits for the server to open its window before output is drained.
_SEND_WAIT = 0.05
# How long a failed channel waits for paramiko to tell whether the whole connection died.
_SETTLE = 1.0


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
        self._keepalive: Keepalive | None = None
        self._lost: str | None = None
        self.connect_timeout = DEFAULT_CONNECT_TIMEOUT
        # Marks the line on stderr that carries the remote shell's PID (its process group).
        self._marker = f"homehub-pgid-{secrets.token_hex(6)}"
        self._marker_re = re.compile(rf"{self._marker} (\d+)\n".encode())

    def _open(self, target: Endpoint, extras: dict[str, Any]) -> None:
        """Connect and authenticate; verify the host key against known_hosts.

        Raises:
            UnsafeDestination: the address is outside the allowed networks or not on the lab
                bridge.
            HostKeyError: the host key is unknown or changed.
            ConfigError: a connection extra has a value of the wrong kind.
            TransportError: anything else (refused, timeout, authentication).
        """
        import paramiko

        hostname = target.hostname
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
        port = int(target.port or ssh_cfg.get("port", 22))
        username = target.username or ssh_cfg.get("user") or "root"
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
                _add_known_keys(client, known_hosts, ip if port == 22 else f"[{ip}]:{port}")
        except (OSError, paramiko.SSHException) as exc:
            raise ConfigError(
                f"{self.name}: cannot read known_hosts {known_hosts}: {exc}"
            ) from None
        client.set_missing_host_key_policy(_RefuseUnknownKey(self.name, known_hosts))  # type: ignore[arg-type]
        try:
            client.connect(
                hostname=ip,
                port=port,
                sock=_tcp_socket(ip, port, self.connect_timeout),
                username=username,
                password=target.password or None,
                key_filename=str(Path(str(key_file)).expanduser()) if key_file else None,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=key_file is None,
            )
        except HostKeyError:
            client.close()  # closes the transport and with it the socket
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
            self._keepalive = Keepalive(transport, self.name, interval, patience)

    def _timeouts(self, extras: Mapping[str, Any]) -> tuple[float, float]:
        """Read the timeout extras; return the keepalive interval and timeout."""
        self.connect_timeout = option_seconds(extras, "connect_timeout", self.name)
        self.command_timeout = option_seconds(extras, "command_timeout", self.name)
        interval = option_seconds(extras, "keepalive_interval", self.name)
        return interval, option_seconds(extras, "keepalive_timeout", self.name)

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
                f"{self.name}: `{short_command(command)}` timed out after {timeout:.0f}s{ended}"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if _dead(transport):
                raise self._lose(transport, f"during `{short_command(command)}`") from None
            raise TransportError(
                f"{self.name}: SSH channel failed during `{short_command(command)}`: "
                f"{exc or type(exc).__name__}"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                chan.close()
        if code is None:
            raise self._lose(transport, f"during `{short_command(command)}`")
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
            f"if [ $i -gt {int(KILL_GRACE * 10)} ]; then kill -KILL -{pgid} 2>/dev/null; "
            "exit 0; fi; sleep 0.1; done"
        )
        try:
            self._session(script, None, KILL_GRACE + 10, end_group_on_timeout=False)
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


_KNOWN_HOSTS: dict[Path, tuple[tuple[int, int], paramiko.HostKeys]] = {}
_KNOWN_HOSTS_LOCK = threading.Lock()


def _add_known_keys(client: paramiko.SSHClient, path: Path, name: str) -> None:
    """Give ``client`` the keys ``path`` lists for ``name`` (``addr`` or ``[addr]:port``).

    The file is parsed once per version (mtime, size) and shared by every connection of the
    run: parsing a known_hosts of 200 hosts for each of 200 connections cost the controller
    about a second of CPU. Only this host's entries reach the client, so the check is the one
    paramiko makes against the whole file (a missing key: refused; another key: changed).
    """
    import paramiko

    st = path.stat()
    version = (st.st_mtime_ns, st.st_size)
    with _KNOWN_HOSTS_LOCK:
        cached = _KNOWN_HOSTS.get(path)
        if cached is None or cached[0] != version:
            keys = paramiko.HostKeys()
            keys.load(str(path))
            cached = _KNOWN_HOSTS[path] = (version, keys)
    found = cached[1].lookup(name)
    for keytype in found or {}:
        client.get_host_keys().add(name, keytype, found[keytype])  # type: ignore[index]


def _dead(transport: paramiko.Transport) -> bool:
    """True when the transport has died, or dies within a second.

    A failed write or a channel closed under us can be seen before paramiko's reader thread
    has marked the transport inactive; its thread ends right after that, so wait for it.
    """
    if transport.is_active():
        transport.join(_SETTLE)
    return not transport.is_active()


def _tcp_socket(ip: str, port: int, timeout: float) -> socket.socket:
    """Open the TCP connection SSH runs over, with Nagle's algorithm off.

    Every command is a few small SSH messages each way; with Nagle on, the second small write
    waits for the server's delayed ACK (40 ms on Linux), so each command took about 50 ms
    however little it did. Off, a command takes what the host needs (a few ms).

    Raises:
        OSError: refused, unreachable or timed out (`HomehubSSH._open` reports it as the
            other connection failures).
    """
    sock = socket.create_connection((ip, port), timeout=timeout or None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Deadline(Exception):
    """A command's deadline passed (turned into `CommandTimeout` by `HomehubSSH._session`)."""


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
