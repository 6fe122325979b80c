"""The script that installs an upload on a host only when it arrived whole (pure: text only).

`HostConnection.put_file` runs it with the file's bytes on stdin. The host checks length and
sha256, sets mode and owner, fsyncs and renames the temporary file onto the target, so an
interrupted transfer leaves the old file byte for byte.
"""

from __future__ import annotations

import os
import shlex

from nornir_homehub.codes import EXIT_UPLOAD_FAILED


def render_upload_script(
    path: str,
    tmp: str,
    *,
    size: int,
    sha256: str,
    mode: int,
    owner: str | None = None,
    group: str | None = None,
    reader: str = "cat",
) -> str:
    """The POSIX shell script that installs stdin at ``path`` only when it arrived whole.

    Pure: builds text, runs nothing. The script creates the folder when missing (with the
    login's umask), writes stdin to ``tmp`` (077 umask), checks its length and sha256 against
    ``size``/``sha256``, applies ``mode`` and owner/group, fsyncs it, renames it onto
    ``path`` with ``mv -fT`` and fsyncs the folder. Any failure, a signal or a closed channel
    (``cat`` then sees an early EOF and the length check fails) removes ``tmp`` and exits
    `EXIT_UPLOAD_FAILED` (86) with a message on stderr. Temporary files of ``path`` left by a
    shell that was killed outright are removed first.

    Args:
        path: the file to install.
        tmp: the temporary file, in the same folder as ``path``.
        size: number of bytes the controller sends.
        sha256: hex digest of those bytes.
        mode: permission bits of the installed file.
        owner: user to own the file (default: the login user).
        group: group of the file.
        reader: the command that copies the file's bytes from stdin (default ``cat``: all
            of stdin; `batch_upload_script` reads exactly ``size`` bytes of it).

    Returns:
        The script, to run with the content on stdin.
    """
    parent, base = os.path.split(path)
    q = shlex.quote
    stale = f'"$d"/{q("." + base + ".homehub-")}*'
    failed = EXIT_UPLOAD_FAILED
    lines = [
        # The first line names the command in errors ("connection lost during `...`").
        "# upload of " + path.replace("\n", "?") + f" ({size} bytes)",
        f"p={q(path)}; t={q(tmp)}; d={q(parent or '/')}",
        f'fail() {{ rm -f -- "$t"; echo "upload of $p failed: $1" >&2; exit {failed}; }}',
        f"trap 'rm -f -- \"$t\"; exit {failed}' HUP INT TERM PIPE",
        # The folder gets the login's umask (named must read /etc/bind/zones); only the
        # temporary file is private.
        'mkdir -p -- "$d" || fail "cannot create $d"',
        "umask 077",
        f'for f in {stale}; do [ -e "$f" ] && rm -f -- "$f"; done',
        f'{reader} > "$t" || fail "cannot write $t"',
        'n=$(stat -c %s -- "$t") || fail "cannot stat $t"',
        f'[ "$n" = {size} ] || fail "received $n of {size} bytes (transfer cut short)"',
        'h=$(sha256sum < "$t") || fail "sha256sum failed"',
        f'[ "${{h%% *}}" = {sha256} ] || fail "sha256 of the received bytes differs"',
        f'chmod {mode:o} -- "$t" || fail "chmod {mode:o} failed"',
    ]
    if owner or group:
        who = q((owner or "") + (":" + group if group else ""))
        lines.append(f'chown {who} -- "$t" || fail "chown {who} failed"')
    lines += [
        'sync -- "$t" || fail "fsync failed"',
        'mv -fT -- "$t" "$p" || fail "cannot rename onto $p"',
        'sync -- "$d" 2>/dev/null || :',
    ]
    return "\n".join(lines)


# Reads exactly N bytes of stdin: GNU head -c never reads past them on a pipe; elsewhere (BusyBox
# head reads ahead through stdio) dd, one byte per read, which is exact everywhere.
_EXACT_READER = (
    'if head --version 2>/dev/null | grep -q GNU; then rd() { head -c "$1"; }; '
    'else rd() { dd bs=1 count="$1" 2>/dev/null; }; fi'
)


def batch_upload_script(files: list[tuple[str, str, int, str, int, str | None, str | None]]) -> str:
    """The script that installs several files, one after the other, from one stdin (pure).

    ``files``: (path, temporary path, size, sha256, mode, owner, group) in the order their
    bytes follow each other on stdin. Each file is installed as `render_upload_script`
    installs one (whole or not at all), reading exactly its ``size`` bytes; the first that
    fails stops the script with its exit status and message, the earlier ones installed.
    """
    total = sum(f[2] for f in files)
    names = ", ".join(f[0].replace("\n", "?") for f in files)
    lines = [f"# upload of {len(files)} files ({total} bytes): {names}", _EXACT_READER]
    for path, tmp, size, sha, mode, owner, group in files:
        one = render_upload_script(
            path, tmp, size=size, sha256=sha, mode=mode, owner=owner, group=group,
            reader=f"rd {size}",
        )  # fmt: skip
        lines.append(f"(\n{one}\n) || exit $?")
    return "\n".join(lines)
