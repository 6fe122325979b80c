"""The lab's image registry: Debian's ``docker-registry`` (Distribution 2.8) on the dns host.

It runs in the dns host's network namespace only (``nsenter --net``), listening on the host's
lab address, port `REGISTRY_PORT`, plain HTTP: the dns host has no Docker Engine, so pulls
cross the lab bridge the way they cross a network in production. Its storage is
``<lab dir>/registry`` on the machine's own file system, kept across ``lab down`` as an image
cache and removed by ``lab down --purge``. The lab's Docker Engines trust it with
``--insecure-registry``.

The controller reads the registry directly over the lab bridge (`manifest_digest`: lab
plumbing, to skip a build whose content is already pushed); the product asks a registry from
the host (`facts.registry`).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from nornir_homehub.errors import LabError
from nornir_homehub.lab.model import BRIDGE, REGISTRY_PORT
from nornir_homehub.lab.processes import poll
from nornir_homehub.safety import check_route
from nornir_homehub.secrets import redact_tail

if TYPE_CHECKING:
    from pathlib import Path

    from nornir_homehub.lab.model import LabHost
    from nornir_homehub.lab.processes import HostProcesses

REGISTRY = "registry"  # its PID file and log in the host's lab folder
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def registry_address(h: LabHost) -> str:
    """``address:port`` of the registry on lab host ``h`` (what image references start with)."""
    return f"{h.address}:{REGISTRY_PORT}"


def registry_config(listen: str, storage: Path) -> str:
    """The registry's ``config.yml``: filesystem storage at ``storage``, HTTP on ``listen``.

    Deletes are enabled so a test can remove what it pushed.
    """
    return (
        "# The lab's registry, written by nornir_homehub.lab (lab only).\n"
        "version: 0.1\n"
        "log:\n  level: info\n  accesslog:\n    disabled: false\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {listen}\n"
    )


def start_registry(h: LabHost, procs: HostProcesses, storage: Path) -> None:
    """Start the registry in ``h``'s network namespace and wait until ``GET /v2/`` answers.

    Harmless when it runs already.

    Raises:
        LabError: it did not answer within 20 s (with its log's tail).
    """
    if procs.running(REGISTRY):
        return
    storage.mkdir(parents=True, exist_ok=True)
    config = procs.folder / "registry.yml"
    config.write_text(registry_config(registry_address(h), storage))
    procs.spawn(
        REGISTRY,
        ["nsenter", f"--net=/run/netns/{h.netns}", "docker-registry", "serve", str(config)],
    )
    if poll(lambda: _answers(registry_address(h)), 20, 0.1, alive=lambda: procs.running(REGISTRY)):
        return
    tail = redact_tail(procs.log(REGISTRY).read_text(), 1200)
    raise LabError(f"lab host {h.name}: the registry did not answer GET /v2/; log tail:\n{tail}")


def stop_registry(procs: HostProcesses) -> None:
    """Stop the registry by its PID and forget it (its storage stays: the image cache)."""
    procs.stop(REGISTRY, timeout=10)
    (procs.folder / f"{REGISTRY}.pid").unlink(missing_ok=True)


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str]]:
    host = url.split("/")[2].rsplit(":", 1)[0]
    check_route("lab registry", host, BRIDGE)
    req = urllib.request.Request(url, method=method, headers={"Accept": MANIFEST_ACCEPT})  # noqa: S310 - a lab http:// URL
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - as above
            return int(resp.status), dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers.items())
    except (OSError, ValueError):
        return 0, {}


def _answers(registry: str) -> bool:
    return _get(f"http://{registry}/v2/")[0] == 200


def manifest_digest(registry: str, repository: str, tag: str) -> str | None:
    """The ``Docker-Content-Digest`` of ``repository:tag`` in the lab registry (None: absent)."""
    status, headers = _get(f"http://{registry}/v2/{repository}/manifests/{tag}", "HEAD")
    if status != 200:
        return None
    found = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
    return found or None
