"""The only SSH code in nornir_homehub: a Nornir connection plugin on paramiko 5.

Registered as ``homehub_ssh`` (and ``homehub_local`` for a host whose commands run on the
controller itself, e.g. ``check gpu`` on a GPU machine). One `HostConnection` per host per run,
opened on first use by Nornir and shared by every task; closed by ``nr.close_connections()``.

Why not nornir-paramiko: it pins paramiko < 3 (no fix for CVE-2023-48795), uses SCP and
AutoAddPolicy and has no timeouts. Here host keys are verified against a known_hosts file,
connect and command timeouts apply, stdout and stderr are drained together (no deadlock on
large output), and uploads are atomic (temporary file + rename) with an explicit mode.
"""

from __future__ import annotations

import base64
import os
import select
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub import safety
from nornir_homehub.errors import CommandTimeout, HostKeyError, TransportError
from nornir_homehub.secrets import redact_all, redact_tail, scrubbed_environ

if TYPE_CHECKING:
    from collections.abc import Mapping

    import paramiko
    from nornir.core.configuration import Config
    from nornir.core.task import Task

SSH_PLUGIN = "homehub_ssh"
LOCAL_PLUGIN = "homehub_local"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 300.0
_CHUNK = 65536


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
            CommandTimeout: the command ran past ``timeout``.
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
            idx, code, out, err = int(fields[0]), int(fields[1]), fields[2], fields[3]
            name = names[idx]
            results[name] = CommandResult(
                command=commands[name],
                exit_code=code,
                stdout=base64.b64decode(out).decode("utf-8", "replace"),
                stderr=base64.b64decode(err).decode("utf-8", "replace"),
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
        """Write ``content`` to ``path`` atomically (temporary file in the same folder + rename).

        The temporary file is created with a 077 umask, gets ``mode`` (and owner/group when
        given) before the rename, so the final path never exists with looser permissions.

        Raises:
            TransportError: the upload or the rename failed (the old file is left as it was).
        """
        parent, base = os.path.split(path)
        tmp = f"{parent}/.{base}.homehub-{os.getpid()}-{time.monotonic_ns()}"
        qt, qp = shlex.quote(tmp), shlex.quote(path)
        steps = [
            f"mkdir -p -- {shlex.quote(parent or '/')}",
            f"(umask 077 && cat > {qt})",
            f"chmod {mode:o} {qt}",
        ]
        if owner or group:
            steps.append(
                f"chown {shlex.quote((owner or '') + (':' + group if group else ''))} {qt}"
            )
        steps.append(f"mv -f -- {qt} {qp}")
        script = " && ".join(steps) + f" || {{ rc=$?; rm -f -- {qt}; exit $rc; }}"
        self.bytes_uploaded += len(content)
        self.run(script, stdin=content, check=True)

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
        lab_bridge: when set, the address must be routed over this bridge (lab safety check).
        inventory_name: the host's inventory name, for messages (set by the loader).
    """

    def __init__(self) -> None:
        super().__init__()
        self._client: paramiko.SSHClient | None = None

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
            ssh_cfg = dict(paramiko.SSHConfig.from_path(str(cfg_path)).lookup(hostname))
        address = str(ssh_cfg.get("hostname", hostname))
        port = int(port or ssh_cfg.get("port", 22))
        username = username or ssh_cfg.get("user") or "root"
        key_file = extras.get("key_file") or (ssh_cfg.get("identityfile") or [None])[0]
        known_hosts = Path(str(extras.get("known_hosts", "~/.ssh/known_hosts"))).expanduser()
        connect_timeout = float(extras.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        self.command_timeout = float(extras.get("command_timeout", DEFAULT_COMMAND_TIMEOUT))

        ip = safety.resolve(address)
        safety.check_allowed(self.name, ip)
        if extras.get("lab_bridge"):
            safety.check_route(self.name, ip, str(extras["lab_bridge"]))

        client = paramiko.SSHClient()
        if known_hosts.is_file():
            client.load_system_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_RefuseUnknownKey(self.name, known_hosts))  # type: ignore[arg-type]
        try:
            client.connect(
                hostname=ip,
                port=port,
                username=username,
                password=password or None,
                key_filename=str(Path(str(key_file)).expanduser()) if key_file else None,
                timeout=connect_timeout,
                banner_timeout=connect_timeout,
                auth_timeout=connect_timeout,
                channel_timeout=connect_timeout,
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
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise TransportError(
                f"{self.name} ({ip}:{port}): SSH connection failed: {exc or type(exc).__name__}"
            ) from None
        self._client = client

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        if self._client is None:
            raise TransportError(f"{self.name}: connection is closed")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise TransportError(f"{self.name}: SSH transport is not active")
        try:
            chan = transport.open_session(timeout=timeout)
        except Exception as exc:
            raise TransportError(f"{self.name}: cannot open SSH channel: {exc}") from None
        deadline = time.monotonic() + timeout
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            chan.exec_command(command)
            if stdin:
                self._feed(chan, stdin, out, err, deadline, command, timeout)
            chan.shutdown_write()
            while True:
                got = self._drain(chan, out, err)
                finished = chan.exit_status_ready() and chan.eof_received and not got
                if finished and not (chan.recv_ready() or chan.recv_stderr_ready()):
                    break
                if time.monotonic() > deadline:
                    raise CommandTimeout(
                        f"{self.name}: `{_short(command)}` timed out after {timeout:.0f}s"
                    )
                if not got:
                    select.select([chan], [], [], 0.05)
            return chan.recv_exit_status(), b"".join(out), b"".join(err)
        finally:
            chan.close()

    def _feed(
        self,
        chan: paramiko.Channel,
        stdin: bytes,
        out: list[bytes],
        err: list[bytes],
        deadline: float,
        command: str,
        timeout: float,
    ) -> None:
        # Drain output while feeding input: a command that writes a lot before reading all its
        # input would otherwise block both sides.
        sent_total = 0
        while sent_total < len(stdin):
            self._drain(chan, out, err)
            if chan.send_ready():
                sent_total += chan.send(stdin[sent_total : sent_total + _CHUNK])
            else:
                select.select([chan], [], [], 0.05)
            if time.monotonic() > deadline:
                raise CommandTimeout(
                    f"{self.name}: `{_short(command)}` timed out after {timeout:.0f}s"
                )

    @staticmethod
    def _drain(chan: paramiko.Channel, out: list[bytes], err: list[bytes]) -> bool:
        got = False
        while chan.recv_ready():
            out.append(chan.recv(_CHUNK))
            got = True
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(_CHUNK))
            got = True
        return got

    def close(self) -> None:
        """Close the SSH connection (idempotent)."""
        if self._client is not None:
            self._client.close()
            self._client = None


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
        self.command_timeout = float(extras.get("command_timeout", DEFAULT_COMMAND_TIMEOUT))
        self.env_keep = tuple(str(n) for n in extras.get("env_keep") or ())

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        # Never the controller's environment: it may hold the vault password and
        # HOMEHUB_SECRET_* values (and whatever else the operator exported).
        env = scrubbed_environ(keep=getattr(self, "env_keep", ()))
        try:
            proc = subprocess.run(
                ["sh", "-c", command],
                input=stdin or b"",
                capture_output=True,
                timeout=timeout,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise CommandTimeout(
                f"{self.name}: `{_short(command)}` timed out after {timeout:.0f}s"
            ) from None
        return proc.returncode, proc.stdout, proc.stderr


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
