"""render_upload_script: data-driven cases, each run for real by dash, bash and BusyBox.

The script is what a host runs for every upload. Here it runs on this machine against a
temporary folder, with stdin cut short, corrupted or too long as a dropped channel would
leave it. The BusyBox flavour puts only BusyBox applets on PATH, so a coreutils-only option
would fail here before it fails on a small host.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.connection import render_upload_script

CASES = sorted((Path(__file__).parent / "cases" / "upload_script").glob("*.yaml"))
APPLETS = ("cat", "stat", "sha256sum", "chmod", "chown", "sync", "mv", "rm", "mkdir")


def _shells(tmp: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    found: dict[str, tuple[list[str], dict[str, str]]] = {}
    for name in ("dash", "bash"):
        if shutil.which(name):
            found[name] = ([name], {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    busybox = shutil.which("busybox")
    if busybox:
        bin_dir = tmp / "busybox-bin"
        bin_dir.mkdir(exist_ok=True)
        for applet in APPLETS:
            link = bin_dir / applet
            if not link.exists():
                link.symlink_to(busybox)
        found["busybox"] = ([busybox, "sh"], {"PATH": str(bin_dir)})
    return found


def _payload(case: dict[str, Any], content: bytes) -> bytes:
    send = case.get("send") or {}
    if "truncate" in send:
        return content[: int(send["truncate"])]
    if "replace" in send:
        return str(send["replace"]).encode()
    if "append" in send:
        return content + str(send["append"]).encode()
    return content


@pytest.mark.parametrize("shell", ["dash", "bash", "busybox"])
@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_upload_script(case_file: Path, shell: str, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    shells = _shells(tmp_path)
    if shell not in shells:
        pytest.skip(f"{shell} is not installed here")
    argv, env = shells[shell]
    folder = tmp_path / "site" / "conf"
    name = case.get("name", "app.env")
    path = folder / name
    existing = case["existing"]
    if isinstance(existing, dict):
        path.mkdir(parents=True)
        (path / "keep").write_text("inside\n")
    elif existing is not None:
        folder.mkdir(parents=True)
        path.write_text(existing)
        path.chmod(0o640)
    if case.get("stale"):
        (folder / f".{name}.homehub-1-1").write_bytes(b"part of an upload whose shell was killed")
    content = case["content"].encode()
    mode = int(case["mode"], 8)
    script = render_upload_script(
        str(path),
        f"{folder}/.{name}.homehub-42-{shell}",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        mode=mode,
        owner=case.get("owner"),
        group=case.get("group"),
    )
    res = subprocess.run(
        [*argv, "-c", f"umask 022\n{script}"],  # sshd's login umask
        input=_payload(case, content),
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    expect = case["expect"]
    stderr = res.stderr.decode()
    assert res.returncode == expect["exit"], stderr
    if "stderr_contains" in expect:
        assert expect["stderr_contains"] in stderr
    if expect["file"] == "new":
        assert path.read_bytes() == content
        assert (path.stat().st_mode & 0o777) == int(expect["mode"], 8)
    elif expect["file"] == "old":
        assert path.read_text() == existing  # byte for byte, and its old mode
        assert (path.stat().st_mode & 0o777) == 0o640
    elif expect["file"] == "dir":
        assert sorted(p.name for p in path.iterdir()) == ["keep"]
    if "folder_mode" in expect:
        # A folder the upload creates gets the login's umask, not the temporary file's 077
        # (named could not read /etc/bind/zones when it did).
        assert (folder.stat().st_mode & 0o777) == int(expect["folder_mode"], 8)
    # Never a temporary file left behind, whatever happened.
    assert sorted(p.name for p in folder.iterdir()) == [name]


def test_the_case_files_describe_what_they_test() -> None:
    assert len(CASES) >= 10
    for case_file in CASES:
        case = yaml.safe_load(case_file.read_text())
        assert case["description"] and case["expect"]["file"] in {"new", "old", "dir"}


def _batch(tmp: Path, contents: list[bytes]) -> tuple[str, list[Path]]:
    from nornir_homehub.connection.upload import batch_upload_script

    paths = [tmp / "dest" / f"f{i}" for i in range(len(contents))]
    rows = [
        (str(p), f"{p.parent}/.{p.name}.homehub-1-{i}", len(c), hashlib.sha256(c).hexdigest(),
         0o600 if i % 2 else 0o644, None, None)
        for i, (p, c) in enumerate(zip(paths, contents, strict=True))
    ]  # fmt: skip
    return batch_upload_script(rows), paths


def _batch_shell(tmp: Path, shell: str) -> tuple[list[str], dict[str, str]]:
    """`_shells`' ``shell`` (skipped when missing); BusyBox also gets what a batch reads with."""
    shells = _shells(tmp)
    if shell not in shells:
        pytest.skip(f"{shell} is not installed here")
    argv, env = shells[shell]
    if shell == "busybox":
        for applet in ("head", "grep", "dd"):
            link = Path(env["PATH"]) / applet
            if not link.exists():
                link.symlink_to(argv[0])
    return argv, env


@pytest.mark.parametrize("shell", ["dash", "bash", "busybox"])
def test_a_batch_installs_each_file_from_one_stdin_exactly(shell: str, tmp_path: Path) -> None:
    """Each file gets exactly its bytes (GNU head -c, or dd under BusyBox), with its mode."""
    argv, env = _batch_shell(tmp_path, shell)
    big = bytes(range(256)) * 300  # 76800 bytes: more than one pipe buffer
    contents = [b"first\n", b"", big, b"last line, no newline"]
    script, paths = _batch(tmp_path, contents)
    res = subprocess.run([*argv, "-c", script], input=b"".join(contents), env=env,
                         capture_output=True, timeout=60, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert [p.read_bytes() for p in paths] == contents
    assert [p.stat().st_mode & 0o777 for p in paths] == [0o644, 0o600, 0o644, 0o600]
    assert sorted(q.name for q in paths[0].parent.iterdir()) == ["f0", "f1", "f2", "f3"]


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_a_batch_cut_short_keeps_the_files_it_had_not_received_whole(
    shell: str, tmp_path: Path
) -> None:
    argv, env = _batch_shell(tmp_path, shell)
    contents = [b"new one\n", b"new two\n", b"new three\n"]
    script, paths = _batch(tmp_path, contents)
    paths[0].parent.mkdir()
    for p in paths:
        p.write_bytes(b"old\n")
    sent = b"".join(contents)[: len(contents[0]) + 3]  # the channel dropped in the second file
    res = subprocess.run([*argv, "-c", script], input=sent, env=env,
                         capture_output=True, timeout=60, check=False)  # fmt: skip
    assert res.returncode == 86
    assert f"upload of {paths[1]} failed: received 3 of 8 bytes" in res.stderr.decode()
    assert [p.read_bytes() for p in paths] == [b"new one\n", b"old\n", b"old\n"]
    assert sorted(q.name for q in paths[0].parent.iterdir()) == ["f0", "f1", "f2"]
