"""Container logs of a compose project: one command for every container, one parser.

``docker logs --timestamps`` of each container of the project, each line prefixed on the host
with the container's name (``qdrant | 2026-12-01T09:01:24.050977250Z message``), stdout and
stderr together. The timestamps let ``logs --follow`` ask again ``--since`` the last line and
drop what it already printed (`fresh_lines`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nornir_homehub.codes import EXIT_NO_DOCKER
from nornir_homehub.facts.docker import PROJECT_LABEL

# What `docker logs --since` accepts: a duration (10m, 1h30m), a Unix time, an RFC 3339 date.
SINCE = re.compile(
    r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$|^\d+(\.\d+)?$"
    r"|^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")


@dataclass(frozen=True)
class LogLine:
    """One line a container logged (``timestamp`` as Docker wrote it, RFC 3339 nano).

    A line without a timestamp (``timestamp`` "") is Docker's own error for that container.
    """

    container: str
    timestamp: str
    text: str


def logs_command(project: str, *, tail: int | None = None, since: str | None = None) -> str:
    """Shell command printing the logs of every container of compose ``project``.

    Exits `EXIT_NO_DOCKER` when ``docker ps`` fails; parse with `parse_logs`.
    """
    opts = " --timestamps"
    if tail is not None:
        opts += f" --tail {int(tail)}"
    if since:
        opts += f" --since {shlex.quote(since)}"
    label = shlex.quote(f"label={PROJECT_LABEL}={project}")
    return (
        f"names=$(docker ps -a --filter {label} --format '{{{{.Names}}}}') "
        f"|| exit {EXIT_NO_DOCKER}; "
        "for c in $names; do docker logs" + opts + ' "$c" 2>&1 | sed "s/^/$c | /"; done'
    )


def parse_logs(text: str) -> list[LogLine]:
    """Parse what `logs_command` printed: ``container | timestamp text`` lines, in order."""
    out = []
    for raw in text.splitlines():
        container, sep, rest = raw.partition(" | ")
        if not sep:
            continue
        stamp, _, message = rest.partition(" ")
        if not _STAMP.match(stamp):  # `docker logs` failing for this container says why
            stamp, message = "", rest
        out.append(LogLine(container, stamp, message))
    return out


def fresh_lines(
    lines: Iterable[LogLine], seen: Mapping[str, str]
) -> tuple[list[LogLine], dict[str, str]]:
    """The lines newer than the last one seen of their container, and the new last ones.

    ``--since`` is inclusive, so a poll repeats the last line it saw: it is dropped here. A
    line without a timestamp (an error) is always kept.
    Docker's timestamps have a fixed width, so comparing them as text orders them in time.
    """
    last = dict(seen)
    fresh = []
    for line in lines:
        if line.timestamp and line.timestamp <= last.get(line.container, ""):
            continue
        fresh.append(line)
        if line.timestamp:
            last[line.container] = line.timestamp
    return fresh, last
