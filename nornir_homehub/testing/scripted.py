"""A scripted host connection for unit tests of tasks and checks, with no server.

Like fabric's ``testing`` module: a test says which commands a host answers and how, runs the
real Nornir task against it, and asserts on what the task returned, ran and wrote::

    from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

    host = ScriptedHost("compute", [Command("nvidia-smi --query-gpu=", out=CSV, match="prefix")])
    nr = scripted_nornir({"compute": ({"role": "compute", "gpu": None}, host)})
    result = nr.run(task=check_gpu)
    assert host.ran == [...]

A command no script line matches fails the task with `UnscriptedCommand` (a
`TransportError`), so a task that runs something unexpected cannot pass by accident. Files
written with ``put_file`` land in ``host.files`` with their mode; ``read_file`` reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nornir_homehub.connection import FileUpload, HostConnection
from nornir_homehub.connection_options import SSH_PLUGIN
from nornir_homehub.errors import CommandTimeout, TransportError

Match = Literal["exact", "prefix", "contains", "regex"]


class UnscriptedCommand(TransportError):
    """A task ran a command the test did not script."""


@dataclass
class Command:
    """One scripted answer: the command it matches and what the host replies.

    Attributes:
        cmd: the command text (or a regular expression with ``match="regex"``).
        out: standard output.
        err: standard error.
        exit: exit code.
        match: how ``cmd`` is compared with the command run.
        times: how often it may answer (None: any number of times).
        timeout: answer with `CommandTimeout` instead (the command "hangs").
        check: called with (command, stdin) when matched, e.g. to assert on the input.
    """

    cmd: str
    out: str = ""
    err: str = ""
    exit: int = 0
    match: Match = "exact"
    times: int | None = None
    timeout: bool = False
    check: Callable[[str, bytes | None], None] | None = None
    used: int = field(default=0, init=False)

    def matches(self, command: str) -> bool:
        """True when this line answers ``command`` (and has answers left)."""
        if self.times is not None and self.used >= self.times:
            return False
        if self.match == "exact":
            return command.strip() == self.cmd.strip()
        if self.match == "prefix":
            return command.lstrip().startswith(self.cmd)
        if self.match == "contains":
            return self.cmd in command
        return re.search(self.cmd, command) is not None


@dataclass
class FileEntry:
    """A file on the scripted host."""

    content: bytes
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None


class ScriptedHost(HostConnection):
    """A `HostConnection` that answers from a script and keeps an in-memory filesystem.

    Args:
        name: the host's name (as in messages).
        commands: the script, tried in order; the first line that matches answers.
        files: initial files (path -> bytes or `FileEntry`).

    Attributes:
        ran: every command run, in order (the members of a batch one by one).
        files: the host's files after the task.
        uploads: the paths written by ``put_file``, in order.
    """

    def __init__(
        self,
        name: str,
        commands: Iterable[Command] = (),
        files: Mapping[str, bytes | FileEntry] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.script = list(commands)
        self.ran: list[str] = []
        self.uploads: list[str] = []
        self.files: dict[str, FileEntry] = {
            p: f if isinstance(f, FileEntry) else FileEntry(f) for p, f in (files or {}).items()
        }

    @property
    def connection(self) -> ScriptedHost:
        """Nornir's connection slot protocol: the connection itself."""
        return self

    def close(self) -> None:
        """Nothing to close."""

    def unused(self) -> list[Command]:
        """Script lines that never answered (a test may assert there are none)."""
        return [c for c in self.script if c.used == 0]

    def answer(self, command: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """The scripted reply to ``command``.

        Raises:
            UnscriptedCommand: no line of the script matches.
            CommandTimeout: the matching line says the command times out.
        """
        self.ran.append(command)
        for line in self.script:
            if line.matches(command):
                line.used += 1
                if line.check is not None:
                    line.check(command, stdin)
                if line.timeout:
                    raise CommandTimeout(f"{self.name}: `{command}` timed out (scripted)")
                return line.exit, line.out.encode(), line.err.encode()
        raise UnscriptedCommand(f"{self.name}: unscripted command: {command!r}")

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        return self.answer(command, stdin)

    def run_batch(
        self,
        commands: Mapping[str, str],
        *,
        timeout: float | None = None,
        parallel: bool = False,
    ) -> dict[str, Any]:
        """Answer each command of the batch from the script (one "round trip")."""
        from nornir_homehub.connection import CommandResult

        self.commands_run += 1
        out = {}
        for name, command in commands.items():
            code, stdout, stderr = self.answer(command)
            out[name] = CommandResult(command, code, stdout.decode(), stderr.decode())
        return out

    def read_file(self, path: str) -> bytes | None:
        """The file's content from the in-memory filesystem (None when absent)."""
        self.commands_run += 1
        entry = self.files.get(path)
        return entry.content if entry is not None else None

    def put_file(
        self,
        path: str,
        content: bytes,
        *,
        mode: int = 0o644,
        owner: str | None = None,
        group: str | None = None,
    ) -> None:
        """Store ``content`` at ``path`` with its mode (an atomic write, as on a real host)."""
        self.commands_run += 1
        self.bytes_uploaded += len(content)
        self.uploads.append(path)
        self.files[path] = FileEntry(content, mode, owner, group)

    def put_files(self, files: Sequence[FileUpload]) -> None:
        """Store each of ``files`` as `put_file` does, in one round trip."""
        before = self.commands_run
        for f in files:
            self.put_file(f.path, f.content, mode=f.mode, owner=f.owner, group=f.group)
        self.commands_run = before + (1 if files else 0)


def scripted_nornir(
    hosts: Mapping[str, tuple[Mapping[str, Any], ScriptedHost]],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> Any:
    """A Nornir object whose hosts answer from scripts (serial runner, no inventory files).

    Args:
        hosts: host name -> (its data, its scripted connection). A ``hostname`` key in the data
            sets the host's address; a ``groups`` key (a list of names) its groups.
        defaults: data every host inherits (e.g. ``domain``).

    Returns:
        The Nornir object; ``nr.data.all_hosts`` holds every host, as `load_nornir` does.
    """
    from nornir.core import Nornir
    from nornir.core.inventory import Defaults, Group, Groups, Host, Hosts, Inventory, ParentGroups
    from nornir.plugins.runners import SerialRunner

    from nornir_homehub.inventory import keep_all_hosts

    groups = Groups()
    built = Hosts()
    for name, (given, _conn) in hosts.items():
        data = dict(given)
        address = str(data.pop("hostname", "192.0.2.1"))
        member_of = [str(g) for g in data.pop("groups", [data.get("role", "")]) if g]
        for g in member_of:
            groups.setdefault(g, Group(g))
        built[name] = Host(
            name, hostname=address, data=data, groups=ParentGroups(groups[g] for g in member_of)
        )
    inventory = Inventory(hosts=built, groups=groups, defaults=Defaults(data=dict(defaults or {})))
    nr = Nornir(inventory=inventory, runner=SerialRunner())
    keep_all_hosts(nr)
    for name, (_data, conn) in hosts.items():
        nr.inventory.hosts[name].connections[SSH_PLUGIN] = conn
    return nr
