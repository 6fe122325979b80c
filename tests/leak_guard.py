"""Session-end secret scan (a pytest plugin, loaded by conftest.py): one hit fails the session.

At the end of every test session, everything the suite produced is searched for every lab
secret (the values of inventory/lab/vault.yml, the vault password, and every
``HOMEHUB_SECRET_*`` value a test set) in every form `nornir_homehub.testing.secret_scan`
knows (raw, URL-encoded, JSON-escaped, hex, base64 at 3 alignments, wrapped over lines):

- the session's pytest temporary folder (tmp_path_factory's base), which also holds the
  captured stdout and stderr of every CLI call (`keep_output`, CliRunner.invoke);
- ``.homehub`` (reports, history, everything else written there during the session);
- the lab's sshd, dockerd and named logs (only what was appended during the session) and the
  containers' logs;
- files on the lab hosts outside the intended secret files (`scan_lab`, called by the lab
  fixture before it takes the lab down); skipped, saying so, when the session used no lab.

Intended secret files are not searched: copies of the lab's vault and password file, rendered
``.env.*`` files of mode 0600, and on the lab hosts Docker's and containerd's own state (a
container's configuration holds its environment). A hit names the file, the byte offset and the secret's
name, never its value.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shlex
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nornir_homehub.testing.secret_scan import Hit, ScanStats, scan_bytes, scan_file, scan_tree

ROOT = Path(__file__).resolve().parents[1]
LAB_INVENTORY = ROOT / "inventory" / "lab"
HOMEHUB_DIR = ROOT / ".homehub"
LAB_DIR = HOMEHUB_DIR / "lab"
LAB_LOGS = ("sshd.log", "dockerd.log", "named.log")
# On each lab host: where files are written (stacks, data, backups, zones, temp, home, logs).
HOST_ROOTS = (
    "/opt",
    "/srv",
    "/etc",
    "/tmp",
    "/var/tmp",
    "/var/log",
    "/root",
    "/home",
    "/run",
    "/var/lib/homehub",  # releases and the audit log (issue 15): never a secret value
)
# Docker's and containerd's state: the containers' configuration holds their environment (the
# stacks' secrets) by design, like /var/lib/docker (not scanned either).
HOST_STATE = ("/run/docker/", "/run/containerd/")
HOST_MAX_FILES = 100_000
HOST_MAX_FILE_KB = 4096
HOST_MAX_BYTES = 256 * 1024 * 1024
HOST_BATCH = 100
ENV_SECRET_PREFIX = "HOMEHUB_SECRET_"


class _State:
    def __init__(self) -> None:
        self.config: pytest.Config | None = None
        self.start = time.time()
        self.env_secrets: dict[str, str] = {}
        self.log_offsets: dict[Path, int] = {}
        self.counter = itertools.count(1)
        self.lab_hits: list[Hit] = []
        self.lab_stats = ScanStats()
        self.lab_notes: list[str] = []
        self.lab_scanned = False
        self.hits: list[Hit] = []
        self.stats = ScanStats()


_state = _State()


# --------------------------------------------------------------------------- what is secret


def note_env(env: Mapping[str, str] | None) -> None:
    """Remember the ``HOMEHUB_SECRET_*`` values (and a vault password) set in ``env``."""
    for name, value in (env or {}).items():
        if value and (name.startswith(ENV_SECRET_PREFIX) or name == "HOMEHUB_VAULT_PASSWORD"):
            _state.env_secrets[f"env {name}"] = value


def lab_secrets() -> dict[str, str]:
    """Every secret to search for: name -> value (the names are what a hit shows)."""
    from nornir_homehub.secrets import load_vault_file

    password = (LAB_INVENTORY / "vault_pass.txt").read_text().strip()
    found = load_vault_file(LAB_INVENTORY / "vault.yml", password)
    found["vault_password"] = password
    found.update(_state.env_secrets)
    return found


def assert_clean(*texts: str, extra: dict[str, str] | None = None) -> None:
    """No form of any lab secret (or of ``extra``: name -> value) in any of ``texts``."""
    search = {**lab_secrets(), **(extra or {})}
    for text in texts:
        hits = scan_bytes(text.encode(), search)
        assert hits == [], [f"{name} ({form}) at byte {at}" for at, name, form in hits]


def _intended_contents() -> set[bytes]:
    return {(LAB_INVENTORY / n).read_bytes() for n in ("vault.yml", "vault_pass.txt")}


def intended(path: Path, contents: set[bytes]) -> bool:
    """A file meant to hold a secret: a rendered 0600 ``.env.*`` file or a copy of the vault."""
    try:
        st = path.lstat()
        if path.name.startswith(".env.") and stat.S_IMODE(st.st_mode) == 0o600:
            return True
        return st.st_size in {len(c) for c in contents} and path.read_bytes() in contents
    except OSError:
        return False


# --------------------------------------------------------------------------- capture


def _capture_dir() -> Path | None:
    if _state.config is None:
        return None
    base = _state.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    folder = Path(base) / "cli-output"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def keep_output(
    args: Iterable[Any], stdout: str, stderr: str, env: Mapping[str, str] | None = None
) -> None:
    """Keep a CLI call's stdout and stderr in the session folder that the scan searches.

    Its arguments are not kept: a test may type a secret there on purpose (``exec -- echo
    KEY``), and a process's arguments are not an artefact (the redaction of the command line
    is checked in the report, which records it).
    """
    note_env(env)
    folder = _capture_dir()
    if folder is None:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test").split(" ")[0]
    stem = f"{next(_state.counter):05d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", test)[-120:]
    (folder / f"{stem}.stdout").write_text(stdout or "", errors="surrogateescape")
    (folder / f"{stem}.stderr").write_text(stderr or "", errors="surrogateescape")


def _wrap_cli_runner() -> None:
    from click.testing import CliRunner, Result

    if getattr(CliRunner.invoke, "_leak_guard", False):
        return
    original = CliRunner.invoke

    def invoke(self: CliRunner, cli: Any, args: Any = None, *a: Any, **kw: Any) -> Result:
        result = original(self, cli, args, *a, **kw)
        try:
            out, err = result.stdout, result.stderr
        except ValueError:  # click < 8.2 without separate stderr
            out, err = result.output, ""
        keep_output(args if isinstance(args, list | tuple) else [args], out, err, kw.get("env"))
        return result

    invoke._leak_guard = True  # type: ignore[attr-defined]
    CliRunner.invoke = invoke  # type: ignore[method-assign]


# --------------------------------------------------------------------------- lab hosts


def _lab_logs() -> Iterator[Path]:
    hosts = LAB_DIR / "hosts"
    if hosts.is_dir():
        for host in sorted(hosts.iterdir()):
            for name in LAB_LOGS:
                if (host / name).is_file():
                    yield host / name


_LIST_SCRIPT = """\
lower=$(stat -c %d /usr/bin/env) || exit 3
find {roots} -xdev -type f -size -{kb}k -printf '%D %s %T@ %m %p\\n' 2>/dev/null \\
  | awk -v lower="$lower" -v start={start} '$1 != lower || $3 >= start' | head -n {limit}
big=$(find {roots} -xdev -type f -size +{kb_less}k -printf '%D\\n' 2>/dev/null \\
  | awk -v lower="$lower" '$1 != lower' | wc -l)
echo "big $big"
echo "lower $lower"
"""


def _host_candidates(lab: Any, host: str) -> tuple[list[tuple[str, int, bool]], list[str]]:
    """(path, mode, seen in the lower layer) of the files to read on ``host``, and notes.

    A lab host's root is an overlay of this machine's ``/``. Files its own layer holds (new
    ones report another device) are read; a file of the lower layer is read only when it
    differs from the machine's own file at that path (changed on the host).
    """
    script = _LIST_SCRIPT.format(
        roots=" ".join(HOST_ROOTS),
        kb=HOST_MAX_FILE_KB,
        start=int(_state.start),
        kb_less=HOST_MAX_FILE_KB - 1,
        limit=HOST_MAX_FILES + 1,
    )
    res = lab.host_exec(host, script, timeout=300)
    lines = res.stdout.splitlines()
    notes: list[str] = []
    if res.returncode != 0 or not lines or not lines[-1].startswith("lower "):
        return [], [f"{host}: files not listed (exit {res.returncode})"]
    lower = lines[-1].split()[1]
    rows = lines[:-1]
    if rows and rows[-1].startswith("big "):
        big = int(rows.pop().split()[1] or 0)
        if big:  # written by the host (its own layer); the machine's own files are not its
            notes.append(
                f"{host}: {big} file(s) of {HOST_MAX_FILE_KB // 1024} MiB or more not read"
            )
    if len(rows) > HOST_MAX_FILES:
        notes.append(f"{host}: more than {HOST_MAX_FILES} files, the rest not scanned")
        rows = rows[:HOST_MAX_FILES]
    out: list[tuple[str, int, bool]] = []
    for row in rows:
        try:
            dev, size, mtime, mode, path = row.split(" ", 4)
        except ValueError:  # a file name with a line break: listed on two lines
            notes.append(f"{host}: unreadable listing line skipped")
            continue
        is_lower = dev == lower
        if is_lower:
            try:
                real = os.stat(path)
            except OSError:
                real = None
            if (
                real is not None
                and real.st_size == int(size)
                and abs(real.st_mtime - float(mtime)) < 1e-3
            ):
                continue
        out.append((path, int(mode, 8), is_lower))
    return out, notes


def _host_read(lab: Any, host: str, paths: list[str]) -> Iterator[tuple[str, bytes]]:
    for i in range(0, len(paths), HOST_BATCH):
        batch = paths[i : i + HOST_BATCH]
        script = (
            f"for f in {' '.join(shlex.quote(p) for p in batch)}; do "
            'printf "@@ %s\\n" "$(printf %s "$f" | base64 -w0)"; '
            'base64 -w0 < "$f" 2>/dev/null; echo; done'
        )
        res = lab.host_exec(host, script, timeout=300)
        lines = res.stdout.splitlines()
        for head, body in zip(lines[::2], lines[1::2], strict=False):
            if head.startswith("@@ "):
                yield base64.b64decode(head[3:]).decode(errors="replace"), base64.b64decode(body)


def scan_lab(lab: Any) -> None:
    """Search the files written on every lab host (call before the lab is taken down)."""
    secrets = lab_secrets()
    contents = _intended_contents()
    _state.lab_scanned = True
    budget = HOST_MAX_BYTES
    for h in lab.hosts:
        # A host that cannot be listed (stopped by a fault test) must not hide the others.
        try:
            candidates, notes = _host_candidates(lab, h.name)
        except Exception as exc:
            _state.lab_notes.append(f"{h.name}: not scanned ({type(exc).__name__})")
            continue
        _state.lab_notes.extend(notes)
        modes = {p: (m, low) for p, m, low in candidates}
        wanted = []
        for path, mode, _ in candidates:
            env_file = Path(path).name.startswith(".env.") and stat.S_IMODE(mode) == 0o600
            if env_file or path.startswith(HOST_STATE):
                _state.lab_stats.allowed += 1
            else:
                wanted.append(path)
        for path, data in _host_read(lab, h.name, wanted):
            if budget <= 0:
                _state.lab_notes.append(f"{h.name}: byte budget spent, the rest not scanned")
                break
            budget -= len(data)
            if data in contents:
                _state.lab_stats.allowed += 1
                continue
            if modes.get(path, (0, False))[1]:
                # A file of the machine's own tree, changed after the host listed it.
                try:
                    if Path(path).read_bytes() == data:
                        continue
                except OSError:
                    pass
            _state.lab_stats.files += 1
            _state.lab_stats.bytes += len(data)
            _state.lab_hits += [
                Hit(f"lab host {h.name}:{path}", at, name, form)
                for at, name, form in scan_bytes(data, secrets)
            ]


# --------------------------------------------------------------------------- session


def run_scan() -> tuple[list[Hit], ScanStats]:
    """Search the session's temporary folder, .homehub and the lab's logs."""
    secrets = lab_secrets()
    contents = _intended_contents()
    roots: list[Path] = []
    if _state.config is not None:
        roots.append(Path(_state.config._tmp_path_factory.getbasetemp()))  # type: ignore[attr-defined]

    def allowed(path: Path) -> bool:
        return intended(path, contents)

    hits, stats = scan_tree(roots, secrets, allowed=allowed)
    more, st = scan_tree(
        [HOMEHUB_DIR],
        secrets,
        allowed=allowed,
        since=_state.start,
        skip_dirs=[LAB_DIR / "hosts"],
    )
    hits += more
    stats.add(st)
    for log in _lab_logs():
        found, st = scan_file(log, secrets, start=_state.log_offsets.get(log, 0))
        hits += found
        stats.add(st)
    containers = sorted(LAB_DIR.glob("hosts/*/docker-data/containers/*/*-json.log*"))
    recent = [p for p in containers if p.stat().st_mtime >= _state.start]
    found, st = scan_tree(recent, secrets)
    hits += found
    stats.add(st)
    return hits, stats


def pytest_configure(config: pytest.Config) -> None:
    """Note the session's start, the lab logs' sizes and wrap CliRunner."""
    _state.config = config
    _state.start = time.time() - 1
    note_env(os.environ)
    for log in _lab_logs():
        _state.log_offsets[log] = log.stat().st_size
    _wrap_cli_runner()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Collect the HOMEHUB_SECRET_* values a test set (before monkeypatch undoes them)."""
    note_env(os.environ)
    return (yield)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Run the scan; any hit fails the session (and so does a scan that cannot run)."""
    try:
        hits, stats = run_scan()
    except Exception as exc:
        _state.lab_notes.append(f"the scan could not run: {type(exc).__name__}: {exc}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    hits += _state.lab_hits
    stats.add(_state.lab_stats)
    _state.hits, _state.stats = hits, stats
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say what the scan covered and list every hit (file, offset, secret name)."""
    tr = terminalreporter
    st = _state.stats
    lab = (
        "lab hosts scanned"
        if _state.lab_scanned
        else "lab hosts not scanned: the session did not use the lab"
    )
    tr.write_sep("-", "secret scan")
    tr.write_line(
        f"secret scan: {st.files} files, {st.bytes} bytes, {st.allowed} intended secret files "
        f"skipped, {len(lab_secrets())} secrets in every form; {lab}; {len(_state.hits)} hit(s)"
    )
    for note in _state.lab_notes:
        tr.write_line(f"secret scan: {note}")
    if st.cut:
        tr.write_line(f"secret scan: {st.cut} file(s) longer than the limit, scanned in part")
    for hit in _state.hits[:100]:
        tr.write_line(f"SECRET LEAK: {hit}", red=True)
    if len(_state.hits) > 100:
        tr.write_line(f"SECRET LEAK: ... and {len(_state.hits) - 100} more", red=True)
    if _state.hits:
        tr.write_line("secret scan FAILED: the session fails (exit 1)", red=True)
