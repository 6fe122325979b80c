"""The sentinel exit codes of the shell commands nornir_homehub sends to hosts.

A command builder makes a remote script exit with one of these when something its parser must
tell apart from an ordinary failure happens (a file that does not exist, no Docker Engine, no
HTTP client); the parser of that command's result compares with the same name. They lie above
the codes shells and common tools use (1, 2, 126, 127, 128 + signal number) and differ from
each other, so one never reads as another (tests/unit/test_codes.py).
"""

from __future__ import annotations

# The deploy lock is held by another run (`facts.hostlock`).
EXIT_LOCK_HELD = 75
# The file to read does not exist (`HostConnection.read_file`, the DNS facts).
EXIT_MISSING = 44
# An upload was refused or cut short; the host removed the temporary file (the upload script).
EXIT_UPLOAD_FAILED = 86
# `docker ps` itself failed: the engine does not answer (`facts.docker.containers_command`).
EXIT_NO_DOCKER = 90
# Headers to send, but only BusyBox wget, which would put them on its command line.
EXIT_NO_SAFE_HTTP_CLIENT = 94
# The container to probe has no address on any of its networks.
EXIT_NO_ADDRESS = 95
# The host has neither curl nor wget.
EXIT_NO_HTTP_CLIENT = 96
# `mktemp -d` failed on the host (a batch of facts, an HTTP request).
EXIT_NO_TEMP_DIR = 97

SENTINELS: dict[str, int] = {
    "EXIT_LOCK_HELD": EXIT_LOCK_HELD,
    "EXIT_MISSING": EXIT_MISSING,
    "EXIT_UPLOAD_FAILED": EXIT_UPLOAD_FAILED,
    "EXIT_NO_DOCKER": EXIT_NO_DOCKER,
    "EXIT_NO_SAFE_HTTP_CLIENT": EXIT_NO_SAFE_HTTP_CLIENT,
    "EXIT_NO_ADDRESS": EXIT_NO_ADDRESS,
    "EXIT_NO_HTTP_CLIENT": EXIT_NO_HTTP_CLIENT,
    "EXIT_NO_TEMP_DIR": EXIT_NO_TEMP_DIR,
}
