"""Runtime facts for ``status`` and ``drift``: image ids, repo digests, Compose's config hash.

What the shared container fact (`facts.docker`) does not ask: each container's image id
(``.Image``), Compose's ``com.docker.compose.config-hash`` label, the repo digests of those
images (``docker image inspect``), and when each stack's state record was written. One command
each, run in the same batch as the stack facts (`facts.stacks.stack_fact_batch`), so
``status`` and ``drift`` cost one round trip per host. As in `facts.docker`, only these fields
are printed: never an environment or another label.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir_homehub.codes import EXIT_NO_DOCKER
from nornir_homehub.defaults import STACK_STATE_FILE

CONFIG_HASH_LABEL = "com.docker.compose.config-hash"

_CONTAINER = (
    '{"container":{{json .Name}},"image_id":{{json .Image}},"config_hash":'
    '{{with .Config.Labels}}{{json (index . "' + CONFIG_HASH_LABEL + '")}}{{else}}null{{end}}}'
)
_IMAGE = '{"image_id":{{json .Id}},"repo_digests":{{json .RepoDigests}}}'
# `_CONTAINER` and what `facts.images.parse_running_images` reads too: one listing for both.
_WIDE = (
    _CONTAINER[:-1] + ',"image":{{json .Config.Image}},"project":{{with .Config.Labels}}'
    '{{json (index . "com.docker.compose.project")}}{{else}}null{{end}},"service":'
    '{{with .Config.Labels}}{{json (index . "com.docker.compose.service")}}{{else}}null{{end}}}'
)


@dataclass(frozen=True)
class ContainerRuntime:
    """What a container runs: its image id, the image's repo digests, Compose's config hash.

    Attributes:
        image_id: ``sha256:...`` of the image the container was created from.
        repo_digests: ``repo@sha256:...`` of that image ("" entries never; empty when the
            image was built locally or its digest is unknown).
        config_hash: the ``com.docker.compose.config-hash`` label ("" outside compose).
    """

    image_id: str = ""
    repo_digests: tuple[str, ...] = ()
    config_hash: str = ""


@dataclass(frozen=True)
class RuntimeFacts:
    """The runtime facts of one host.

    Attributes:
        containers: container name -> `ContainerRuntime`.
        state_times: project dir -> when its state record was written (Unix seconds).
    """

    containers: Mapping[str, ContainerRuntime] = field(default_factory=dict)
    state_times: Mapping[str, int] = field(default_factory=dict)

    def of(self, name: str) -> ContainerRuntime:
        """The runtime facts of container ``name`` (empty ones when it was not seen)."""
        return self.containers.get(name, ContainerRuntime())


def runtime_commands(project_dirs: Iterable[str], *, wide: bool = False) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`; parse with `parse_runtime`.

    ``wide``: the ``runtime`` listing also carries what `facts.images.parse_running_images`
    reads (each container's image reference, compose project and service).
    """
    dirs = " ".join(shlex.quote(d) for d in project_dirs)
    fmt = _WIDE if wide else _CONTAINER
    return {
        "runtime": (
            f"ids=$(docker ps -aq --no-trunc) || exit {EXIT_NO_DOCKER}; "
            '[ -n "$ids" ] || exit 0; '
            f"docker inspect --type container --format {shlex.quote(fmt)} $ids; "
            "imgs=$(docker inspect --type container --format '{{.Image}}' $ids 2>/dev/null "
            '| sort -u); [ -n "$imgs" ] || exit 0; '
            f"docker image inspect --format {shlex.quote(_IMAGE)} $imgs; true"
        ),
        "state_times": (
            f'for d in {dirs}; do if [ -f "$d/{STACK_STATE_FILE}" ]; then '
            f'printf \'%s %s\\n\' "$d" "$(stat -c %Y "$d/{STACK_STATE_FILE}")"; fi; done'
        ),
    }


def parse_json_lines(text: str) -> list[Mapping[str, Any]]:
    """The JSON objects of ``text``, one a line; other lines (not JSON, not objects) are skipped."""
    out = []
    for raw in text.splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, Mapping):
            out.append(item)
    return out


def parse_runtime(runtime: str, state_times: str) -> RuntimeFacts:
    """Parse the ``runtime`` and ``state_times`` facts (their stdout) into `RuntimeFacts`.

    Lines that are not JSON objects (a container that vanished mid-command) are skipped:
    status then shows no digest for it, never an error.
    """
    items = parse_json_lines(runtime)
    digests = {
        str(i["image_id"]): tuple(str(d) for d in i.get("repo_digests") or () if d)
        for i in items
        if "repo_digests" in i and i.get("image_id")
    }
    containers = {
        str(i["container"]).lstrip("/"): ContainerRuntime(
            str(i.get("image_id") or ""),
            digests.get(str(i.get("image_id") or ""), ()),
            str(i.get("config_hash") or ""),
        )
        for i in items
        if i.get("container")
    }
    times = {}
    for line in state_times.splitlines():
        path, _, stamp = line.rpartition(" ")
        if path and stamp.isdigit():
            times[path] = int(stamp)
    return RuntimeFacts(containers, times)
