"""What a registry says a tag names now: ``HEAD /v2/<name>/manifests/<tag>``, asked from the host.

The request runs on the host (``curl``), so ``outdated`` works where the registry is only
reachable from there. It asks for manifest lists and image indexes as well as single manifests
(the digest Docker records when it pulls a tag), and reads ``Docker-Content-Digest``. A
registry that answers 401 with a ``Bearer`` challenge (Docker Hub, GHCR, Quay) gets the
anonymous token flow: a token from the challenge's realm for ``repository:<name>:pull``, then
the request again. Registries that need credentials for reading are not supported (the answer
is reported as ``401``). The token is never printed; only the response's status line and
headers are.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from nornir_homehub.imageref import ImageRef

ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
EXIT_NO_CURL = 93  # the host has no curl: outdated cannot ask the registry from there

_SCRIPT = r"""
command -v curl >/dev/null 2>&1 || exit {no_curl}
u={url}; a={accept}
h=$(curl -sS -I --max-time 20 -H "$a" "$u" | tr -d '\r') || exit 3
case $(printf '%s\n' "$h" | head -n 1) in
*" 401"*)
  w=$(printf '%s\n' "$h" | grep -i '^www-authenticate: *bearer' | head -n 1)
  realm=$(printf '%s' "$w" | sed -n 's/.*realm="\([^"]*\)".*/\1/p')
  service=$(printf '%s' "$w" | sed -n 's/.*service="\([^"]*\)".*/\1/p')
  [ -n "$realm" ] || {{ printf '%s\n' "$h"; exit 0; }}
  t=$(curl -sS --max-time 20 -G "$realm" --data-urlencode "service=$service" \
      --data-urlencode {scope} | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p') || exit 3
  h=$(curl -sS -I --max-time 20 -H "$a" -H "Authorization: Bearer $t" "$u" | tr -d '\r') \
      || exit 3
  ;;
esac
printf '%s\n' "$h"
"""


@dataclass(frozen=True)
class ManifestHead:
    """The registry's answer for one tag.

    Attributes:
        status: the HTTP status (0 when no answer came: the error says why).
        digest: ``Docker-Content-Digest`` ("" when absent).
        error: what went wrong ("" on a 200 with a digest).
    """

    status: int
    digest: str = ""
    error: str = ""


def manifest_url(ref: ImageRef, *, insecure: bool = False) -> str:
    """The manifest URL of ``ref``'s tag (``http://`` for a registry listed as insecure)."""
    scheme = "http" if insecure else "https"
    return f"{scheme}://{ref.api_host}/v2/{ref.repository}/manifests/{ref.tag}"


def manifest_head_command(ref: ImageRef, *, insecure: bool = False) -> str:
    """The host command asking the registry for ``ref``'s tag; parse with `parse_manifest_head`."""
    return _SCRIPT.format(
        no_curl=EXIT_NO_CURL,
        url=shlex.quote(manifest_url(ref, insecure=insecure)),
        accept=shlex.quote(f"Accept: {ACCEPT}"),
        scope=shlex.quote(f"scope=repository:{ref.repository}:pull"),
    ).strip()


def parse_manifest_head(exit_code: int, stdout: str, stderr: str) -> ManifestHead:
    """Parse the command's result: status line and headers, or curl's error."""
    if exit_code == EXIT_NO_CURL:
        return ManifestHead(0, error="the host has no curl (needed to ask the registry)")
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    # Each response starts with "HTTP/..."; the last one is the answer (after redirects).
    starts = [i for i, ln in enumerate(lines) if ln.upper().startswith("HTTP/")]
    if exit_code != 0 or not starts:
        why = (stderr.strip() or stdout.strip() or f"exit {exit_code}").splitlines()[-1]
        return ManifestHead(0, error=f"no answer from the registry: {why}")
    head = lines[starts[-1] :]
    parts = head[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for ln in head[1:]:
        key, sep, value = ln.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    digest = headers.get("docker-content-digest", "")
    if status == 200 and digest:
        return ManifestHead(200, digest)
    if status == 200:
        return ManifestHead(200, error="the registry sent no Docker-Content-Digest")
    meaning = {401: "needs credentials (not supported)", 404: "no such tag or repository"}
    return ManifestHead(status, error=f"HTTP {status}: {meaning.get(status, 'refused')}")
