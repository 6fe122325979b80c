"""Image facts: every image on the host for ``prune``, what the stacks run, what a pull brought.

One batch (`prune_fact_batch`): ``images`` inspects each image once (id, tags, repo digests,
created, size, parent); ``runtime`` is the container fact of `facts.runtime` (each container's
image id, running or stopped). Only these fields are printed: never an image's config or
environment. `running_images_command` tells the deploy report which digest each service runs;
`pull_command` is the deploy's pre-pull.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nornir_homehub.codes import EXIT_NO_DOCKER
from nornir_homehub.facts.runtime import parse_json_lines, runtime_commands

_IMAGE = (
    '{"id":{{json .Id}},"repo_tags":{{json .RepoTags}},"repo_digests":{{json .RepoDigests}},'
    '"created":{{json .Created}},"size":{{json .Size}},"parent":{{json .Parent}}}'
)


@dataclass(frozen=True)
class ImageFact:
    """One image on a host, as ``docker image inspect`` shows it.

    Attributes:
        id: ``sha256:...``.
        repo_tags: ``repo:tag`` names (empty for a dangling image).
        repo_digests: ``repo@sha256:...`` of a pulled image (empty for a local build).
        created: when it was built (RFC 3339, as Docker writes it).
        size: bytes.
        parent: the id of the image it was built on locally ("" for a pulled image).
    """

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ""
    size: int = 0
    parent: str = ""


def prune_fact_batch() -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch` (one round trip).

    Parse ``images`` with `parse_images` and ``runtime`` with `facts.runtime.parse_runtime`.
    """
    return {
        "images": (
            f"ids=$(docker image ls -q --no-trunc) || exit {EXIT_NO_DOCKER}; "
            '[ -n "$ids" ] || exit 0; '
            f"docker image inspect --format {shlex.quote(_IMAGE)} "
            "$(printf '%s\\n' $ids | sort -u); true"
        ),
        "runtime": runtime_commands(())["runtime"],
    }


def images_problem(stderr: str) -> str | None:
    """The first line of the ``images`` fact's stderr that is not a vanished image, or None.

    The command goes on past an error (an image removed mid-command is normal), so a failure
    that would leave the list empty, such as a ``--format`` the engine cannot evaluate, must
    be caught here: an empty list would read as "nothing to prune".
    """
    for line in stderr.splitlines():
        if line.strip() and "No such image" not in line:
            return line.strip()
    return None


def parse_images(text: str) -> tuple[ImageFact, ...]:
    """Parse the ``images`` fact's stdout, one `ImageFact` per image, in id order.

    Lines that are not JSON objects (an image removed mid-command) are skipped; Docker's old
    ``<none>:<none>`` placeholders are dropped from the names.
    """
    out = {}
    for item in parse_json_lines(text):
        image_id = str(item.get("id") or "")
        if not image_id:
            continue
        size = item.get("size")
        out[image_id] = ImageFact(
            id=image_id,
            repo_tags=tuple(str(t) for t in item.get("repo_tags") or () if t and "<none>" not in t),
            repo_digests=tuple(
                str(d) for d in item.get("repo_digests") or () if d and "<none>" not in d
            ),
            created=str(item.get("created") or ""),
            size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            parent=str(item.get("parent") or ""),
        )
    return tuple(out[k] for k in sorted(out))


@dataclass(frozen=True)
class ImagePin:
    """The image a service's container runs, as a release records it.

    Attributes:
        image: the reference the compose file names (``repo:tag``).
        image_id: ``sha256:...`` of the image the container was created from.
        repo_digest: ``repo@sha256:...`` when the image came from a registry ("" otherwise).
    """

    image: str
    image_id: str
    repo_digest: str = ""

    @property
    def pin(self) -> str:
        """What a rollback puts in ``image:``: the registry digest, else the local image id."""
        return self.repo_digest or self.image_id


def _repository(ref: str) -> str:
    """``repo`` of ``repo:tag`` or ``repo@sha256:...`` (a registry port is not a tag)."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def parse_image_pins(
    runtime: str, images: Mapping[str, str], containers: Mapping[str, str]
) -> dict[str, ImagePin]:
    """Each service's running image, read from the ``runtime`` fact (`facts.runtime`).

    Args:
        runtime: the ``runtime`` fact's stdout.
        images: service -> the image its compose file names.
        containers: service -> its container name.

    Returns:
        service -> `ImagePin`, for the services whose container was seen. The repo digest is
        the one of the compose reference's repository (an image pulled under two names has
        two); an image built on the host has none, and is pinned by its id.
    """
    from nornir_homehub.facts.runtime import parse_runtime

    facts = parse_runtime(runtime, "")
    out = {}
    for service, ref in images.items():
        name = containers.get(service, "")
        if name not in facts.containers:
            continue
        run = facts.containers[name]
        repo = _repository(ref)
        digest = next((d for d in run.repo_digests if d.split("@", 1)[0] == repo), "")
        out[service] = ImagePin(ref, run.image_id, digest)
    return out


# -- what a deploy pulls and what runs (the deploy's pre-pull and its digest report) -----------
_RUNNING = (
    '{"container":{{json .Name}},"image":{{json .Config.Image}},"image_id":{{json .Image}},'
    '"project":{{with .Config.Labels}}{{json (index . "com.docker.compose.project")}}'
    "{{else}}null{{end}},"
    '"service":{{with .Config.Labels}}{{json (index . "com.docker.compose.service")}}'
    "{{else}}null{{end}}}"
)
_DIGESTS = '{"image_id":{{json .Id}},"repo_digests":{{json .RepoDigests}}}'


@dataclass(frozen=True)
class RunningImage:
    """What one compose service's container runs.

    Attributes:
        project: the compose project.
        service: the compose service.
        container: the container's name.
        image: the reference the container was created from (``Config.Image``).
        image_id: ``sha256:...`` of that image.
        repo_digests: ``repo@sha256:...`` of that image (empty for a local build).
    """

    project: str
    service: str
    container: str
    image: str
    image_id: str
    repo_digests: tuple[str, ...] = ()

    def digest(self) -> tuple[str, str]:
        """``(digest, source)``: the registry digest running, or the image id when it has none.

        ``source`` is ``repo_digest`` (the RepoDigest of the image's repository) or
        ``image_id`` (a locally built image, or one whose digest is unknown).
        """
        return running_digest(self.image, self.repo_digests, self.image_id)


def repository_of(ref: str) -> str:
    """The repository of an image reference: without ``@digest`` and ``:tag``."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def running_digest(image: str, repo_digests: tuple[str, ...], image_id: str) -> tuple[str, str]:
    """The digest of what runs: the RepoDigest of ``image``'s repository, else the image id."""
    repo = repository_of(image)
    for d in repo_digests:
        if d.split("@", 1)[0] == repo and "@" in d:
            return d.split("@", 1)[1], "repo_digest"
    return image_id, "image_id"


def running_images_command() -> str:
    """The command printing what every compose container runs (`parse_running_images`).

    Callers pick their projects from the result: Docker ANDs repeated ``label`` filters, so
    one filter per project would match nothing.
    """
    return (
        "ids=$(docker ps -aq --no-trunc --filter label=com.docker.compose.project) "
        f"|| exit {EXIT_NO_DOCKER}; "
        '[ -n "$ids" ] || exit 0; '
        f"docker inspect --type container --format {shlex.quote(_RUNNING)} $ids; "
        "imgs=$(docker inspect --type container --format '{{.Image}}' $ids 2>/dev/null "
        '| sort -u); [ -n "$imgs" ] || exit 0; '
        f"docker image inspect --format {shlex.quote(_DIGESTS)} $imgs; true"
    )


def parse_running_images(text: str) -> tuple[RunningImage, ...]:
    """Parse `running_images_command`'s stdout, sorted by project and service.

    Containers outside compose (no project label) and lines that are not JSON objects (a
    container removed mid-command) are skipped.
    """
    items = parse_json_lines(text)
    digests = {
        str(i["image_id"]): tuple(str(d) for d in i.get("repo_digests") or () if d)
        for i in items
        if "repo_digests" in i and i.get("image_id")
    }
    out = [
        RunningImage(
            project=str(i["project"]),
            service=str(i.get("service") or ""),
            container=str(i["container"]).lstrip("/"),
            image=str(i.get("image") or ""),
            image_id=str(i.get("image_id") or ""),
            repo_digests=digests.get(str(i.get("image_id") or ""), ()),
        )
        for i in items
        if i.get("container") and i.get("project")
    ]
    return tuple(sorted(out, key=lambda r: (r.project, r.service, r.container)))


def pull_command(images: Iterable[str], *, always: bool = False) -> str:
    """Pull ``images`` one after the other; print ``<ref> <image id>`` per image.

    An image already on the host is not pulled unless ``always`` (``deploy --pull``), as
    Compose's default ``pull_policy: missing`` does: a locally built image stays usable. Even
    with ``always``, an image on the host that has no registry digest (built there, like the
    lab's real-binary images) is not pulled: no registry has it.
    Parse with `parse_pulled`; a failed pull stops there (exit status and Docker's message on
    stderr: the registry's answer).
    """
    steps = []
    for i in images:
        q = shlex.quote(i)
        pull = f"docker pull -q {q} >/dev/null"
        if not always:
            pull = f"{{ docker image inspect {q} >/dev/null 2>&1 || {pull}; }}"
        else:
            digests = f"$(docker image inspect --format '{{{{len .RepoDigests}}}}' {q} 2>/dev/null)"
            pull = f'{{ [ "{digests}" = 0 ] || {pull}; }}'
        image_id = f"$(docker image inspect --format '{{{{.Id}}}}' {q})"
        steps.append(f"{pull} && printf '%s %s\\n' {q} \"{image_id}\"")
    return " && ".join(steps) if steps else "true"


def parse_pulled(text: str) -> dict[str, str]:
    """Parse `pull_command`'s stdout: image reference -> local image id after the pull."""
    out = {}
    for line in text.splitlines():
        ref, _, image_id = line.strip().rpartition(" ")
        if ref and image_id.startswith("sha256:"):
            out[ref] = image_id
    return out
