"""HTTP requests made ON a host, over its existing connection (no extra SSH, no port forward).

The request runs as one shell script on the host with ``curl`` when present, else GNU or
BusyBox ``wget``. Every HTTP status (401, 403, 302, 500, ...) is returned as a status, not an
error; only "no answer at all" (refused, timeout, no tool) raises. Request headers and the
body travel on the command's stdin, base64-framed, and reach the client through files in a
0700 temporary folder (curl ``-H @file``, GNU wget ``--config file``), never on a command
line: a secret header value cannot appear in the host's process list (``ps``), in the
command string, or in an error message. BusyBox wget takes headers only as arguments, so a
request with headers is not made with it at all (`NoSafeHttpClient`).

Redirects: curl never follows them (the 3xx itself is returned). BusyBox wget cannot be told
not to follow them; the first response's status and headers are returned (the 3xx), with an
empty body.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from nornir_homehub.codes import (
    EXIT_NO_ADDRESS,
    EXIT_NO_HTTP_CLIENT,
    EXIT_NO_SAFE_HTTP_CLIENT,
    EXIT_NO_TEMP_DIR,
)
from nornir_homehub.errors import CommandTimeout, HomehubError, NoSafeHttpClient, TransportError
from nornir_homehub.secrets import redact_all, redact_head, redact_tail

if TYPE_CHECKING:
    from nornir_homehub.connection import CommandResult, HostConnection

_MARK = "homehub-http"
# curl exit codes meaning "no HTTP answer": resolve, connect, timeout, empty reply, recv error.
_CURL_TIMEOUT = 28
_EXIT_NO_CLIENT = EXIT_NO_HTTP_CLIENT
_EXIT_NO_SAFE_CLIENT = EXIT_NO_SAFE_HTTP_CLIENT


@dataclass(frozen=True)
class HttpResponse:
    """What the server answered.

    Attributes:
        status: the HTTP status code of the (first) response.
        headers: response headers, names lower-cased (the last value wins when repeated).
        body: the raw response body (empty for a redirect seen through wget).
        tool: the client that made the request on the host: ``curl`` or ``wget``.

    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    tool: str = "curl"

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """Return the body parsed as JSON.

        Raises:
            ValueError: the body is not JSON.

        """
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (body as text, cut at 2000 characters)."""
        return {
            "status": self.status,
            "headers": self.headers,
            "body": redact_head(self.text, 2000),
            "tool": self.tool,
        }


def safe_url(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_SCRIPT = """\
# homehub-http request (headers and body arrive on stdin)
t=$(mktemp -d) || exit {no_temp}
trap 'rm -rf "$t"' EXIT
IFS= read -r h || true
IFS= read -r b || true
printf %s "$h" | base64 -d >"$t/h"
printf %s "$b" | base64 -d >"$t/b"
: >"$t/rh"; : >"$t/rb"; : >"$t/e"
if command -v curl >/dev/null 2>&1; then
  tool=curl
  code=$(curl -sS -X {method} -D "$t/rh" -o "$t/rb" --max-time {timeout} -w '%{{http_code}}' \
    {curl_extra} -- {url} 2>"$t/e"); rc=$?
else
  tool=wget; code=000
{wget}
fi
printf 'homehub-http %s %s %s\\n' "$tool" "$rc" "$code"
base64 -w0 <"$t/rh"; echo; base64 -w0 <"$t/rb"; echo; base64 -w0 <"$t/e"; echo
"""

# No request header, or only public ones: BusyBox wget (its 1.35 static build crashes on -T:
# bounded with timeout instead), else GNU wget; headers become --header arguments.
_WGET_PLAIN = """\
  if busybox wget --help >/dev/null 2>&1; then w="busybox timeout {timeout} busybox wget -q"
  elif command -v wget >/dev/null 2>&1; then w="wget --max-redirect=0 -T {timeout}"
  else exit {no_client}; fi
  set --
  while IFS= read -r line || [ -n "$line" ]; do set -- "$@" --header "$line"; done <"$t/h"
  $w -S -O "$t/rb" {wget_extra} "$@" {url} 2>"$t/e"; rc=$?"""

# Request headers (maybe secret): only GNU wget reads them from a file (a wgetrc given with
# --config, written by shell builtins); BusyBox wget would need them as arguments (exit 94).
_WGET_HEADERS = """\
  case "$(wget --version 2>/dev/null)" in
    *"GNU Wget"*) ;;
    *) if command -v wget >/dev/null 2>&1 || command -v busybox >/dev/null 2>&1; then
         exit {no_safe}; fi; exit {no_client} ;;
  esac
  while IFS= read -r line || [ -n "$line" ]; do printf 'header = %s\\n' "$line"; done \
    <"$t/h" >"$t/rc"
  wget --config="$t/rc" --max-redirect=0 -T {timeout} -S -O "$t/rb" {wget_extra} {url} \
    2>"$t/e"; rc=$?"""


def build_script(
    url: str,
    *,
    method: str,
    has_headers: bool,
    has_body: bool,
    timeout: float,
    public_headers: bool = False,
) -> str:
    """Return the shell script that makes the request on the host (pure; no secret in it).

    The script reads two base64 lines on stdin (header lines, then body) and prints a marker
    line ``homehub-http TOOL RC STATUS`` followed by three base64 lines: response headers,
    response body, the client's stderr. It exits 96 when the host has neither curl nor wget,
    and 94 when it has headers to send but only BusyBox wget (which would put them in its
    command line, visible to every local user). With ``public_headers`` (a ``Host`` header,
    never a secret) any wget may take them as arguments.
    """
    curl_extra = []
    wget_extra = []
    if has_headers:
        curl_extra.append('-H @"$t/h"')
    if has_body:
        curl_extra.append('--data-binary @"$t/b"')
        wget_extra.append('--post-file "$t/b"')
    seconds = max(1, round(timeout))
    quoted = shlex.quote(url)
    codes = {
        "no_client": EXIT_NO_HTTP_CLIENT,
        "no_safe": EXIT_NO_SAFE_HTTP_CLIENT,
        "no_temp": EXIT_NO_TEMP_DIR,
    }
    wget = (_WGET_HEADERS if has_headers and not public_headers else _WGET_PLAIN).format(
        timeout=seconds, url=quoted, wget_extra=" ".join(wget_extra), **codes
    )
    return _SCRIPT.format(
        method=shlex.quote(method.upper()),
        url=quoted,
        timeout=seconds,
        curl_extra=" ".join(curl_extra),
        wget=wget,
        **codes,
    )


def _parse_header_blocks(text: str, *, indent: bool) -> list[tuple[int, dict[str, str]]]:
    """Split raw response headers into (status, headers) blocks, one per response seen."""
    blocks: list[tuple[int, dict[str, str]]] = []
    for raw in text.splitlines():
        if indent and not raw.startswith(" "):
            continue
        line = raw.strip()
        if line.startswith("HTTP/"):
            fields = line.split()
            code = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
            blocks.append((code, {}))
        elif blocks and ":" in line:
            name, _, value = line.partition(":")
            blocks[-1][1][name.strip().lower()] = value.strip()
    return blocks


def parse_response(stdout: str, *, where: str) -> HttpResponse:
    """Turn the output of `build_script` into an `HttpResponse`.

    Args:
        stdout: what the script printed.
        where: ``host: METHOD url`` for messages.

    Raises:
        CommandTimeout: the client gave up waiting for the server.
        TransportError: no HTTP answer (refused, unreachable, garbled output).

    """
    lines = stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("homehub-http "))
        _, tool, rc_text, code_text = lines[start].split(" ")
        rh, rb, err = (base64.b64decode(x) for x in lines[start + 1 : start + 4])
    except (StopIteration, ValueError) as exc:
        raise TransportError(f"{where}: unreadable answer from the HTTP client: {exc}") from None
    rc = int(rc_text)
    err_text = err.decode("utf-8", "replace").strip()
    if tool == "curl":
        blocks = _parse_header_blocks(rh.decode("latin-1"), indent=False)
        status = int(code_text) if code_text.isdigit() else 0
        headers = blocks[-1][1] if blocks else {}
        body = rb
    else:
        blocks = _parse_header_blocks(err.decode("latin-1"), indent=True)
        status, headers = blocks[0] if blocks else (0, {})
        body = rb if len(blocks) <= 1 else b""
        err_text = "\n".join(
            line for line in err_text.splitlines() if not line.startswith(" ")
        ).strip()
    if status == 0:
        reason = err_text.splitlines()[-1] if err_text else f"{tool} exited {rc}"
        if (tool == "curl" and rc == _CURL_TIMEOUT) or (tool == "wget" and rc in (124, 143)):
            raise CommandTimeout(f"{where}: no answer: {reason}")
        raise TransportError(f"{where}: no HTTP answer: {reason}")
    return HttpResponse(status=status, headers=headers, body=body, tool=tool)


def http_get(
    conn: HostConnection,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    body: bytes | str | None = None,
    timeout: float = 5,
) -> HttpResponse:
    """Make an HTTP request from the host itself and return whatever status it answers.

    Args:
        conn: the host's connection (`nornir_homehub.connection.host_connection`).
        url: the URL as seen from the host, e.g. ``http://127.0.0.1:11434/api/tags``.
        headers: request headers; values may be secrets: they travel on stdin only and never
            appear in messages.
        method: GET, POST, ... (the wget fallback supports GET and POST only).
        body: request body (a str is sent as UTF-8); sent with ``method`` as given.
        timeout: seconds the client waits for the server.

    Returns:
        The response: a 401, 403, 302 or 500 is a response, not an error.

    Raises:
        NoSafeHttpClient: ``headers`` were given but the host has only BusyBox wget, which
            would take them on its command line; nothing was sent.
        TransportError: no HTTP answer (connection refused, unreachable), neither curl nor
            wget on the host, or the wget fallback asked for a method other than GET/POST.
        CommandTimeout: the server did not answer within ``timeout``.

    """
    where = f"{conn.name}: {method.upper()} {safe_url(url)}"
    for name, value in (headers or {}).items():
        if any(c in name + value for c in "\r\n") or not name.strip():
            raise TransportError(f"{where}: header {name!r} has an empty name or a line break")
    header_blob = "".join(f"{k}: {v}\n" for k, v in (headers or {}).items()).encode()
    body_bytes = body.encode() if isinstance(body, str) else (body or b"")
    script = build_script(
        url,
        method=method,
        has_headers=bool(header_blob),
        has_body=body is not None,
        timeout=timeout,
    )
    stdin = base64.b64encode(header_blob) + b"\n" + base64.b64encode(body_bytes) + b"\n"
    res = conn.run(script, stdin=stdin, timeout=timeout + 15)
    return _answer(conn, res, where, method)


def http_get_many(
    conn: HostConnection, urls: Sequence[str], *, timeout: float = 5
) -> dict[str, HttpResponse | TransportError]:
    """GET each of ``urls`` from the host, side by side in one round trip (no headers, no body).

    Returns:
        url -> its response, or the `TransportError` `http_get` would have raised for it.
    """
    results = conn.run_parallel(get_commands(urls, timeout=timeout), timeout=timeout + 15)
    return get_answers(conn, results)


def get_commands(urls: Sequence[str], *, timeout: float = 5) -> dict[str, str]:
    """The scripts that GET each of ``urls`` (by url), for a batch; see `get_answers`.

    With stdin closed (a batch) the script reads no header and no body: a plain GET.
    """
    return {
        url: build_script(url, method="GET", has_headers=False, has_body=False, timeout=timeout)
        for url in urls
    }


def get_answers(
    conn: HostConnection, results: Mapping[str, CommandResult]
) -> dict[str, HttpResponse | TransportError]:
    """The response in each url's `get_commands` script result, or why there was none."""
    out: dict[str, HttpResponse | TransportError] = {}
    for url, res in results.items():
        try:
            out[url] = _answer(conn, res, f"{conn.name}: GET {safe_url(url)}", "GET")
        except TransportError as exc:
            out[url] = exc
    return out


def _answer(conn: HostConnection, res: CommandResult, where: str, method: str) -> HttpResponse:
    """The response in the request script's output, or the error its exit code means."""
    if res.exit_code == _EXIT_NO_CLIENT:
        raise TransportError(f"{where}: the host has neither curl nor wget")
    if res.exit_code == _EXIT_NO_SAFE_CLIENT:
        raise NoSafeHttpClient(
            f"{where}: not sent: the host has no curl, and its BusyBox wget takes request "
            "headers only on its command line, where every local user can read them (ps)",
            f"install curl (or GNU wget) on {conn.name}: apt-get install curl",
        )
    if res.exit_code != 0:
        raise TransportError(
            f"{where}: HTTP client script exited {res.exit_code}: "
            f"{redact_tail(res.stderr.strip(), 200)}"
        )
    response = parse_response(res.stdout, where=where)
    if response.tool == "wget" and method.upper() not in ("GET", "POST"):
        raise TransportError(f"{where}: wget cannot send {method.upper()}; install curl")
    return response


# ---------------------------------------------------------------------------------------------
# Requests batched with other commands (`run_batch`), and what a probe saw
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeOutcome:
    """What one HTTP request saw: a status (0 when there was no HTTP answer) or an error.

    Attributes:
        url: the URL requested (no credentials in it).
        status: the HTTP status, 0 when there was no answer.
        body: the response body as text (cut at 2000 characters).
        location: the ``Location`` response header, empty when absent.
        error: why there was no answer (refused, timeout, no address), empty otherwise.

    """

    url: str
    status: int = 0
    body: str = ""
    location: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "url": self.url,
            "status": self.status,
            "location": self.location,
            "error": self.error,
            "body": redact_head(self.body, 300),
        }


def http_command(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5) -> str:
    """Shell command making a request on the host, for `run_batch`; parse with `parse_probe`.

    Header values go on the command line (base64): never pass a secret here (`http_get`
    keeps them off it).
    """
    blob = "".join(f"{k}: {v}\n" for k, v in (headers or {}).items()).encode()
    script = build_script(
        url,
        method="GET",
        has_headers=bool(blob),
        has_body=False,
        timeout=timeout,
        public_headers=True,
    )
    lines = f"{base64.b64encode(blob).decode()}\n\n"
    return f"printf %s {shlex.quote(lines)} | sh -c {shlex.quote(script)}"


def container_http_command(container: str, port: int, path: str, *, timeout: float = 5) -> str:
    """Shell command requesting ``http://<container address>:port/path`` from the host.

    An unpublished port is reached on the container's address (the host is on every bridge
    network it creates), so the probe does not depend on the tools inside the image. Exits 95
    when the container has no address (not running).
    """
    marker = "homehub-container-address"
    url = f"http://{marker}:{port}{path}"
    script = build_script(url, method="GET", has_headers=False, has_body=False, timeout=timeout)
    # The URL sits in the script either bare or single-quoted: expand the address either way.
    quoted = shlex.quote(url) != url
    script = script.replace(marker, "'\"$addr\"'" if quoted else '"$addr"')
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    return (
        f"addr=$(docker inspect -f {shlex.quote(fmt)} {shlex.quote(container)} 2>/dev/null "
        "| awk '{print $1}'); "
        f"[ -n \"$addr\" ] || {{ echo 'container {container} has no address' >&2; "
        f"exit {EXIT_NO_ADDRESS}; }}; "
        f"export addr; printf '\\n\\n' | sh -c {shlex.quote(script)}"
    )


def parse_probe(result: CommandResult, url: str, *, where: str) -> ProbeOutcome:
    """Turn the result of `http_command`/`container_http_command` into a `ProbeOutcome`."""
    if result.exit_code != 0:
        detail = redact_all((result.stderr or result.stdout).strip()).splitlines()
        return ProbeOutcome(url, error=detail[-1] if detail else f"exit {result.exit_code}")
    try:
        res = parse_response(result.stdout, where=where)
    except HomehubError as exc:
        return ProbeOutcome(url, error=str(exc).removeprefix(f"{where}: "))
    return ProbeOutcome(
        url, res.status, redact_head(res.text, 2000), res.headers.get("location", "")
    )
