"""Remember a green suite run by the exact inputs it ran on, so an unchanged rerun is instant.

`scripts/test.sh` asks `check` before running pytest and calls `record` after a green run. The
key covers everything a run depends on that this machine can see: the bytes and exec bit of
every file git tracks or would track (untracked files that are not ignored included, deleted
ones named as deleted), the pytest arguments, the Python version, every installed Python
distribution, every installed Debian package and the kernel release. Anything else changed, or
`--force`, or `HOMEHUB_TESTS_FORCE=1` (what `.ci/run` sets), runs the suite for real. This is
how build tools cache test results (Bazel, Gradle): a rerun on identical inputs only tells you
what the last run said, and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

STAMP = Path(".homehub/tests/green.json")
PENDING = Path(".homehub/tests/pending.key")


def _run(argv: list[str], root: Path) -> str:
    """Return a command's stdout, or a marker naming why it could not run."""
    try:
        proc = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<{argv[0]} unavailable: {type(exc).__name__}>"
    return proc.stdout if proc.returncode == 0 else f"<{argv[0]} exit {proc.returncode}>"


def tree_digest(root: Path) -> str | None:
    """Hash every file git tracks or would track under root; None outside a git checkout."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    digest = hashlib.sha256()
    for name in sorted(set(filter(None, listing.split(b"\0")))):
        path = root / os.fsdecode(name)
        digest.update(name + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.fsencode(os.readlink(path)))
        elif path.is_file():
            digest.update(b"x" if os.access(path, os.X_OK) else b"-")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            digest.update(b"<absent>")
    return digest.hexdigest()


def suite_key(root: Path, args: list[str]) -> str | None:
    """The key of a run of the suite with these pytest arguments; None when it cannot be known."""
    tree = tree_digest(root)
    if tree is None:
        return None
    parts = {
        "tree": tree,
        "args": args,
        "python": sys.version,
        "pip": _run([sys.executable, "-m", "pip", "freeze", "--all"], root),
        "dpkg": _run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"], root),
        "kernel": os.uname().release,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def check(root: Path, args: list[str]) -> int:
    """Exit 0 (and say what was green) when the stamp matches; 1 when the suite must run.

    Either way the key of the run about to happen is written to PENDING for `record`.
    """
    key = suite_key(root, args)
    pending = root / PENDING
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_text(key or "")
    if key is None or os.environ.get("HOMEHUB_TESTS_FORCE") == "1":
        return 1
    try:
        stamp = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return 1
    if stamp.get("key") != key:
        return 1
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp["finished"]))
    print(
        f"The suite passed on exactly these inputs at {when}: {stamp['summary']}\n"
        "Nothing it depends on changed since (files, arguments, Python and Debian packages,"
        " kernel), so it is not run again. Run `bash scripts/test.sh --force` to run it anyway.",
        file=sys.stderr,
    )
    return 0


def record(root: Path, args: list[str], junit: Path, started: float) -> int:
    """Write the stamp after a green run, from the run's JUnit XML (0 failures, 0 errors).

    The key must be the same before and after the run: a suite that changed its own inputs has
    not tested the tree it would be remembered for.
    """
    key = suite_key(root, args)
    try:
        before = (root / PENDING).read_text()
    except OSError:
        before = ""
    if key != before:
        print("suite cache: the run changed its own inputs; not remembered", file=sys.stderr)
        return 0
    try:
        suites = ElementTree.parse(junit).getroot()  # noqa: S314 - our own pytest wrote it
    except (OSError, ElementTree.ParseError):
        return 0
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites.iter("testsuite"):
        for name in counts:
            counts[name] += int(suite.get(name, "0"))
    if key is None or counts["tests"] == 0 or counts["failures"] or counts["errors"]:
        return 0
    finished = time.time()
    passed = counts["tests"] - counts["skipped"]
    summary = f"{passed} passed, {counts['skipped']} skipped in {finished - started:.0f} s"
    stamp = root / STAMP
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"key": key, "summary": summary, "started": started, "finished": finished}, indent=1
        )
    )
    tmp.replace(stamp)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`check [PYTEST ARGS]` or `record JUNIT STARTED [PYTEST ARGS]`, from the repository root."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path.cwd()
    if argv[:1] == ["check"]:
        return check(root, argv[1:])
    if argv[:1] == ["record"] and len(argv) >= 3:
        return record(root, argv[3:], Path(argv[1]), float(argv[2]))
    print("usage: suite_cache.py check [ARGS] | record JUNIT STARTED [ARGS]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
