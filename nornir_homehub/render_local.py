"""Render the selected hosts' stack files into a local folder, connecting nowhere (``render``).

Without ``reveal_secrets`` no vault password is needed: secret variables become placeholders
(``MASKED-vault_qdrant_api_key``), so ``docker compose config`` still parses the result. Files
keep their modes (.env files 0600); with ``reveal_secrets`` every folder under the output
folder (and the folder itself when it is created) is 0700. Nothing is written outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.preflight import needed_secrets

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings


@dataclass(frozen=True)
class LocalFile:
    """One rendered file written below the output folder.

    Attributes:
        host: the host it is rendered for.
        stack: its stack.
        relative: its path inside the stack's folder.
        mode: its file mode.
        remote_path: where a deploy puts it on the host.
        secret: it holds secret values (masked unless revealed).

    """

    host: str
    stack: str
    relative: str
    mode: int
    remote_path: str
    secret: bool

    def line(self) -> str:
        """``host/stack/file  0600  -> /opt/stacks/...`` (``  secret`` when it holds one)."""
        flag = "  secret" if self.secret else ""
        where = f"{self.host}/{self.stack}/{self.relative}"
        return f"{where}  {self.mode:04o}  -> {self.remote_path}{flag}"


@dataclass(frozen=True)
class LocalRender:
    """What `render_to_folder` wrote: per host its rendered stacks, and every file."""

    out: Path
    masked: bool
    hosts: dict[str, list[dict[str, Any]]]
    files: tuple[LocalFile, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"out", "masked", "hosts": {host: [stack, ...]}}`` (``render --json``)."""
        return {"out": str(self.out), "masked": self.masked, "hosts": self.hosts}

    def summary(self) -> str:
        """``rendered N files for M host(s) into OUT`` (and whether secrets were masked)."""
        total = sum(len(stack["files"]) for stacks in self.hosts.values() for stack in stacks)
        masked = " (secrets masked)" if self.masked else ""
        line = f"rendered {total} files for {len(self.hosts)} host(s) into {self.out}{masked}"
        if any(f.stack == "litellm" for f in self.files):
            # Offline: no compute host was asked which models it has.
            line += (
                "\nLiteLLM's config lists ollama_models as declared; a deploy lists only the "
                "models installed on each compute host"
            )
        return line


def render_to_folder(
    nr: Nornir,
    settings: Settings,
    out: Path,
    *,
    only: Collection[str] | None = None,
    reveal_secrets: bool = False,
    on_file: Callable[[LocalFile], None] | None = None,
) -> LocalRender:
    """Write every selected host's rendered stack files to ``out/<host>/<stack>/...``.

    Args:
        nr: the selected hosts (in name order in the result).
        settings: the config's ``homehub:`` settings (stacks, vault).
        out: the output folder (created if missing).
        only: only these stacks.
        reveal_secrets: render the real secrets from the vault (default: placeholders).
        on_file: called with each file once its stack is written (to show progress).

    Raises:
        ConfigError: an unknown stack, a broken template, a missing secret (with
            ``reveal_secrets``), or a file that cannot be written.

    """
    from nornir_homehub.inventory import site_index
    from nornir_homehub.outputs import safe_join
    from nornir_homehub.render import masked_secrets, render_host

    stacks_dir = settings.stacks_path
    hosts = [nr.inventory.hosts[name] for name in sorted(nr.inventory.hosts)]
    index = site_index(nr)
    needed = needed_secrets(nr, stacks_dir, only, index=index)
    if reveal_secrets:
        from nornir_homehub.secrets import load_secrets

        store = load_secrets(settings)
        store.require(needed)
        values = {k: v for k, v in store.as_template_vars().items() if k in needed}
    else:
        values = masked_secrets(needed)

    if reveal_secrets and not out.exists():
        from nornir_homehub.report import private_dir

        private_dir(out)
    by_host: dict[str, list[dict[str, Any]]] = {}
    files: list[LocalFile] = []
    for host in hosts:
        entries = []
        for rs in render_host(nr, host, stacks_dir, values, only, index=index):
            written = []
            for f in rs.files.values():
                rel = PurePosixPath(f.path).relative_to(rs.project_dir)
                # Names come from the inventory and templates: never write outside `out`.
                dest = safe_join(out, host.name, rs.name, *rel.parts)
                try:
                    _write(dest, f.content, f.mode, out, reveal_secrets)
                except OSError as exc:
                    raise ConfigError(
                        f"render --out: cannot write {dest}: {exc.strerror}"
                    ) from None
                written.append(LocalFile(host.name, rs.name, str(rel), f.mode, f.path, f.secret))
            entries.append(rs.to_dict())
            files += written
            if on_file is not None:
                for item in written:
                    on_file(item)
        by_host[host.name] = entries
    return LocalRender(out, not reveal_secrets, by_host, tuple(files))


def _write(dest: Path, content: bytes, mode: int, out: Path, private: bool) -> None:
    """Write one rendered file (0600 until it has its content, then ``mode``).

    ``private`` (real secrets): every folder between ``out`` and the file becomes 0700.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = dest.parent
    while private and out in folder.parents:
        folder.chmod(0o700)
        folder = folder.parent
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    dest.touch(mode=0o600)
    dest.write_bytes(content)
    dest.chmod(mode)
