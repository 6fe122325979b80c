"""The bad-input cases (tests/unit/cases/bad_input/*.yaml): build a case's files, run it.

Each case starts from a copy of the lab inventory whose hosts point at 127.0.0.1 on a port
nothing listens on, applies its mistake (``edits``), runs one command through the real CLI and
records what a user would see: exit code, stdout, stderr, every connection attempt (the guard
refuses them all) and every file created. Case file keys:

    about:      one line: the mistake and what must happen
    argv:       the command after ``--config <case>/inv/config.yaml``
    config:     false: no ``--config`` option (e.g. HOMEHUB_CONFIG names the file)
    edits:      list of {set|delete: [FILE, [KEY, ...], VALUE?]}, {text|append: [FILE, TEXT]},
                {bytes: [FILE, HEX]}, {mkdir: PATH}, {file: [PATH, TEXT]}, {symlink: [PATH, TARGET]},
                {remove: PATH}, {copy: [REPO_PATH, PATH]}, {pad: [FILE, BYTES]}; paths
                relative to <case>/inv
    env:        environment variables for the command
    exit:       expected exit code
    expect:     fragments that must all appear in stderr
    writes:     paths (relative to <case>) where files may be created; nothing else may appear
    subprocess: also run it as a real ``python -m nornir_homehub`` subprocess

Strings may use {case}, {inv} and {repo}.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from conftest import ROOT, run_captured

LAB = ROOT / "inventory" / "lab"
CASES = Path(__file__).parent / "cases" / "bad_input"
GUARD_SCRIPT = Path(__file__).parent / "no_connect_cli.py"


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = closed_port()


def build_template(case: Path) -> Path:
    """Write the valid starting point under ``case/inv``; return its config.yaml."""
    inv = case / "inv"
    inv.mkdir(parents=True)
    hosts = yaml.safe_load((LAB / "hosts.yaml").read_text())
    for body in hosts.values():
        body["hostname"] = "127.0.0.1"
        body["port"] = PORT
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    shutil.copy(LAB / "groups.yaml", inv / "groups.yaml")
    defaults = yaml.safe_load((LAB / "defaults.yaml").read_text())
    extras = defaults["connection_options"]["homehub_ssh"]["extras"]
    extras.pop("lab_bridge")
    extras["known_hosts"] = "known_hosts"
    extras["key_file"] = "id_ed25519"
    (inv / "known_hosts").write_text("")
    (inv / "id_ed25519").write_text("not a real key: nothing may ever connect in these tests\n")
    (inv / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    for name in ("vault.yml", "vault_pass.txt"):
        shutil.copy(LAB / name, inv / name)
    config = yaml.safe_load((LAB / "config.yaml").read_text())
    config["homehub"] = {
        "stacks_dir": str(ROOT / "stacks"),
        "runbooks_dir": str(ROOT / "runbooks"),
        "vault_file": "vault.yml",
        "vault_password_file": "vault_pass.txt",
        "report_dir": "reports",
        "history_dir": "runs",
        "lab_dir": "lab",
    }
    (inv / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return inv / "config.yaml"


def _fill(value: Any, case: Path) -> Any:
    if isinstance(value, str):
        for name, path in (("{case}", case), ("{inv}", case / "inv"), ("{repo}", ROOT)):
            value = value.replace(name, str(path))
        return value
    if isinstance(value, list):
        return [_fill(v, case) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, case) for k, v in value.items()}
    return value


def _set(data: Any, keys: list[Any], value: Any, *, delete: bool = False) -> None:
    for key in keys[:-1]:
        data = data[key]
    if delete:
        del data[keys[-1]]
    else:
        data[keys[-1]] = value


def _edit_yaml(inv: Path, args: list[Any], *, delete: bool = False) -> None:
    path = inv / args[0]
    data = yaml.safe_load(path.read_text())
    _set(data, args[1], None if delete else args[2], delete=delete)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _append(inv: Path, args: list[Any]) -> None:
    with (inv / args[0]).open("a") as fh:
        fh.write(args[1])


def _append_bytes(inv: Path, args: list[Any]) -> None:
    with (inv / args[0]).open("ab") as fh:
        fh.write(bytes.fromhex(args[1]))


def _mkdir(inv: Path, path: str) -> None:
    target = inv / path
    if target.is_file():
        target.unlink()
    target.mkdir(parents=True, exist_ok=True)


def _write(inv: Path, args: list[Any]) -> None:
    target = inv / args[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(args[1])


def _symlink(inv: Path, args: list[Any]) -> None:
    target = inv / args[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(args[1])


_EDITS: dict[str, Any] = {
    "set": _edit_yaml,
    "delete": lambda inv, args: _edit_yaml(inv, args, delete=True),
    "text": lambda inv, args: (inv / args[0]).write_text(args[1]),
    "append": _append,
    "bytes": _append_bytes,
    "pad": lambda inv, args: _append(inv, [args[0], "#" * int(args[1]) + "\n"]),
    "mkdir": _mkdir,
    "file": _write,
    "symlink": _symlink,
    "copy": lambda inv, args: shutil.copytree(ROOT / args[0], inv / args[1]),
    "remove": lambda inv, path: (inv / path).unlink(),
}


def apply_edits(case: Path, edits: list[dict[str, Any]]) -> None:
    """Apply a case's ``edits`` to the files under ``case/inv``."""
    for edit in edits:
        (op, args), *rest = edit.items()
        assert not rest, f"one operation per edit: {edit}"
        assert op in _EDITS, f"unknown edit {op!r}"
        _EDITS[op](case / "inv", _fill(args, case))


@dataclass
class Outcome:
    """What the user saw."""

    exit_code: int
    stdout: str
    stderr: str
    connects: list[Any] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (files, folders, links), relative."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(str(Path(dirpath, name).relative_to(root)))
    return out


@contextmanager
def no_connections(monkeypatch: Any) -> Iterator[list[Any]]:
    """Record and refuse every socket connection and name lookup, whatever the address."""
    attempts: list[Any] = []

    def refuse_connect(self: socket.socket, address: Any) -> None:
        attempts.append(("connect", address))
        raise ConnectionRefusedError(f"bad-input test: no connection allowed ({address})")

    def refuse_connect_ex(self: socket.socket, address: Any) -> int:
        attempts.append(("connect_ex", address))
        return 111

    def refuse_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(("getaddrinfo", host))
        raise socket.gaierror(f"bad-input test: no name lookup allowed ({host})")

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    yield attempts


def load_case(path: Path) -> dict[str, Any]:
    """A case file, checked for the keys the harness knows."""
    case = yaml.safe_load(path.read_text())
    known = {"about", "argv", "config", "edits", "env", "exit", "expect", "writes", "subprocess"}
    unknown = set(case) - known
    assert not unknown, f"{path.name}: unknown keys {unknown}"
    assert case.get("about") and "argv" in case and "exit" in case and case.get("expect"), path
    return case


def command(case: dict[str, Any], root: Path) -> list[str]:
    """The CLI arguments of a case."""
    argv = [str(a) for a in _fill(case["argv"], root)]
    if case.get("config", True) is False:
        return argv
    return ["--config", str(root / "inv" / "config.yaml"), *argv]


def run_in_process(case: dict[str, Any], root: Path, monkeypatch: Any) -> Outcome:
    """Run the case through click's CliRunner in this process, connections refused."""
    from click.testing import CliRunner

    from nornir_homehub.cli import cli

    env = {k: str(v) for k, v in _fill(case.get("env") or {}, root).items()}
    monkeypatch.chdir(root)
    with no_connections(monkeypatch) as attempts:
        res = CliRunner().invoke(cli, command(case, root), env=env)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        # CliRunner keeps what would have been a traceback: show it as the test's failure.
        raise res.exception
    return Outcome(res.exit_code, res.stdout, res.stderr, attempts)


def run_subprocess(case: dict[str, Any], root: Path, log: Path) -> Outcome:
    """Run the case as a real subprocess whose sockets are guarded the same way (log: where)."""
    env = {
        **os.environ,
        **{k: str(v) for k, v in _fill(case.get("env") or {}, root).items()},
        "HOMEHUB_TEST_CONNECT_LOG": str(log),
    }
    res = run_captured(
        [sys.executable, str(GUARD_SCRIPT), *command(case, root)], env=env, timeout=120, cwd=root
    )
    attempts = log.read_text().splitlines() if log.exists() else []
    return Outcome(res.returncode, res.stdout, res.stderr, attempts)
