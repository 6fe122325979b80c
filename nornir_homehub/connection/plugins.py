"""The connections as Nornir sees them: plugin registration, one shared connection per host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornir_homehub.connection.base import HostConnection
from nornir_homehub.connection.local import HomehubLocal
from nornir_homehub.connection.ssh import HomehubSSH
from nornir_homehub.connection_options import LOCAL_PLUGIN, SSH_PLUGIN
from nornir_homehub.errors import TransportError
from nornir_homehub.report.phases import phase

if TYPE_CHECKING:
    from nornir.core.task import Task


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
            task.host.connections[_plugin(task)] = _Unreachable(task.host.name, exc)
        return Result(host=task.host)

    nr.run(task=_open, name="connect", on_failed=True)


def preconnect(task: Task) -> None:
    """Open the host's shared connection without running a command (and without its lock).

    A host that cannot be reached is remembered, as by `open_connections`.
    """
    plugin = _plugin(task)
    if plugin in task.host.connections:
        return
    try:
        with phase(task.host.name, "connect"):
            task.host.get_connection(plugin, task.nornir.config)
    except TransportError as exc:
        task.host.connections[plugin] = _Unreachable(task.host.name, exc)


def shared_connection(host: Any) -> HostConnection | None:
    """The Nornir host's connection when one is open and usable, else None (none is opened)."""
    conn = host.connections.get(_plugin_of(host))
    return conn if isinstance(conn, HostConnection) else None


def _plugin_of(host: Any) -> str:
    return LOCAL_PLUGIN if host.get("connection") == "local" else SSH_PLUGIN


def _plugin(task: Task) -> str:
    return _plugin_of(task.host)


def host_connection(task: Task) -> HostConnection:
    """Return the host's shared connection (opened on first use, one per host per run).

    A host whose data has ``connection: local`` uses `HomehubLocal`; all others `HomehubSSH`.
    """
    plugin = _plugin(task)
    if plugin in task.host.connections:
        conn = task.host.get_connection(plugin, task.nornir.config)
    else:
        with phase(task.host.name, "connect"):
            conn = task.host.get_connection(plugin, task.nornir.config)
    if isinstance(conn, _Unreachable):
        raise type(conn.error)(str(conn.error))
    if not isinstance(conn, HostConnection):  # pragma: no cover - misregistered plugin
        raise TransportError(f"{task.host.name}: connection plugin {plugin} is not homehub's")
    from nornir_homehub.hostlock import ensure_locked

    ensure_locked(task, conn)  # a locking run locks a host before its first command
    return conn


def close_all(nr: Any) -> None:
    """Close every open connection of ``nr``'s hosts, failed hosts included.

    (Nornir's own ``close_connections`` skips hosts whose last task failed.)
    """
    for host in nr.inventory.hosts.values():
        host.close_connections()
