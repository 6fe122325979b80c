"""The only SSH code in nornir_homehub: Nornir connection plugins on paramiko 5.

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

Modules: `base` (`HostConnection`: run, batched facts, read and atomic upload), `result`
(`CommandResult`), `batch` (the framing of batched facts), `upload` (the host-side upload
script), `ssh` (the paramiko plugin), `keepalive`, `local` (the plugin for commands on the
controller) and `plugins` (registration, the shared connection of a Nornir host).
"""

from nornir_homehub.connection.base import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    FileUpload,
    HostConnection,
)
from nornir_homehub.connection.batch import parse_batch, render_batch
from nornir_homehub.connection.local import HomehubLocal
from nornir_homehub.connection.plugins import (
    close_all,
    host_connection,
    open_connections,
    register_plugins,
)
from nornir_homehub.connection.result import CommandResult
from nornir_homehub.connection.ssh import HomehubSSH
from nornir_homehub.connection.upload import render_upload_script

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "CommandResult",
    "FileUpload",
    "HomehubLocal",
    "HomehubSSH",
    "HostConnection",
    "close_all",
    "host_connection",
    "open_connections",
    "parse_batch",
    "register_plugins",
    "render_batch",
    "render_upload_script",
]
