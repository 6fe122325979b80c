"""The lab's compute host as a scripted double: its stacks, containers and probe answers.

Shared by the scripted-double tests of the deploy, backup and migrate tasks. The stacks are
the built-in ollama and qdrant stacks rendered from the real templates with the lab inventory
and a test secret; the containers and the probe answer are shaped as the real commands print
them (`facts.docker` JSON lines, the host-side HTTP script of `facts.http`).
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping
from typing import Any

from conftest import LAB_CONFIG, ROOT

from nornir_homehub.config import load_nornir
from nornir_homehub.facts.docker import ContainerFact, MountFact, inspect_line
from nornir_homehub.facts.stacks import render_state
from nornir_homehub.render import RenderedDir, RenderedStack, render_host
from nornir_homehub.secrets import SecretStore
from nornir_homehub.testing import ScriptedHost

STACKS = ROOT / "stacks"
KEY = "compute-double-qdrant-key-5c1e"  # a test value, not a lab secret
SECRETS = SecretStore.from_mapping({"vault_qdrant_api_key": KEY})
PULL = "docker exec ollama ollama pull qwen2.5-coder:14b"
# Nothing here depends on timing: ready at the first poll counts as stable (the wait's bound
# only matters when a test goes wrong).
HOST_DATA: dict[str, Any] = {
    "role": "compute",
    "deploy_stable_window": 0,
    "deploy_wait_timeout": 30,
}


class RecordingHost(ScriptedHost):
    """The double, with each upload also noted in ``ran`` (to check the order of events)."""

    def put_file(self, path: str, content: bytes, **kw: Any) -> None:
        self.ran.append(f"<upload {path} {kw.get('mode', 0o644):o}>")
        super().put_file(path, content, **kw)


def in_place_facts(
    stacks: list[RenderedStack], *, differ: Collection[str] = ()
) -> tuple[str, str, str]:
    """What the fact batch's files, dirs and states commands print on a converged host.

    Every file holds its rendered content (those in ``differ`` other content), every data dir
    is there and every stack's state record names what was rendered.
    """
    files = "".join(
        f"{p} {f.mode:o} root root {'0' * 64 if p in differ else f.sha256}\n"
        for s in stacks
        for p, f in s.files.items()
    )
    dirs = "".join(f"{d.path} 750 root root\n" for s in stacks for d in s.data_dirs)
    states = "".join(
        f"{s.project_dir} "
        + render_state(s.name, s.config_hash, {p: f.sha256 for p, f in s.files.items()}).decode()
        + "\n"
        for s in stacks
    )
    return files, dirs, states


def compute_stacks() -> list[RenderedStack]:
    """The ollama and qdrant stacks of the lab's compute host (test secret)."""
    nr = load_nornir(LAB_CONFIG)
    values = {"vault_qdrant_api_key": KEY}
    return render_host(nr, nr.inventory.hosts["compute"], STACKS, values, only=["ollama", "qdrant"])


def bare_stack(name: str, *dirs: str) -> RenderedStack:
    """A compute stack with no files: one service, its container and ``dirs`` as data dirs."""
    return RenderedStack(
        name=name,
        host="compute",
        role="compute",
        project=name,
        project_dir=f"/opt/stacks/{name}",
        compose_file=f"/opt/stacks/{name}/compose.yaml",
        files={},
        data_dirs=tuple(RenderedDir(d, "root", "root", 0o750) for d in dirs),
        services=(name,),
        containers={name: name},
        post_deploy=(),
        health=(),
        secrets=(),
    )


def container(
    name: str,
    health: str | None,
    *,
    project: str | None = None,
    service: str | None = None,
    state: str = "running",
    networks: Mapping[str, str] | None = None,
) -> ContainerFact:
    """A container (running by default) of compose project ``project`` (default: ``name``).

    ``service`` defaults to ``name``; ``networks`` (name -> address) to the project's default
    network.
    """
    project = project or name
    return ContainerFact(
        id=name[0] * 64,
        name=name,
        state=state,
        exit_code=0,
        started_at="2026-12-01T09:01:24Z",
        health=health,
        restart_count=0,
        image=f"192.0.2.133:5000/homehub-standin/{name}:lab",
        project=project,
        service=service or name,
        working_dir=f"/opt/stacks/{project}",
        networks={f"{project}_default": "192.0.2.74"} if networks is None else networks,
        mounts=(MountFact("bind", f"/srv/docker/{name}/data", "/data"),),
    )


def listing(*containers: ContainerFact) -> str:
    """What `facts.docker.containers_command` prints for ``containers``."""
    return "\n".join(inspect_line(c) for c in containers)


RUNNING = listing(container("ollama", "healthy"), container("qdrant", None))


def probe_answer(status: int) -> str:
    """What the host-side HTTP script prints for one request answered ``status``."""
    head = base64.b64encode(f"HTTP/1.1 {status} OK\r\n\r\n".encode()).decode()
    body = base64.b64encode(b"all shards are ready").decode()
    return f"homehub-http curl 0 {status}\n{head}\n{body}\n\n"
