"""The deploy's facts commands, run for real by the local shell, read by their parsers.

Files (mode, owner, group, sha256; a missing one), data dirs and state records as the host
reports them in the first round trip of every deploy, on files this test makes.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import subprocess
from pathlib import Path

from nornir_homehub.connection.batch import parse_batch, render_batch
from nornir_homehub.defaults import STACK_STATE_FILE
from nornir_homehub.facts.stacks import parse_dirs, parse_files, parse_states, stack_fact_commands


def test_files_dirs_and_states_as_the_host_reports_them(tmp_path: Path) -> None:
    project = tmp_path / "opt" / "stacks" / "litellm"
    (project / "config").mkdir(parents=True)
    compose = project / "compose.yaml"
    compose.write_bytes(b"services: {}\n")
    env = project / ".env.litellm"
    env.write_bytes(b"KEY=value\n")
    env.chmod(0o600)
    config = project / "config" / "config.yaml"
    config.write_bytes(b"")  # empty: a hash all the same
    missing = project / "gone.yaml"
    data = tmp_path / "srv" / "litellm"
    data.mkdir(parents=True)
    data.chmod(0o750)
    (project / STACK_STATE_FILE).write_text(
        json.dumps({"config_hash": "abc", "files": {str(compose): "h1"}}, indent=2)
    )
    other = tmp_path / "opt" / "stacks" / "other"
    other.mkdir()
    files = [str(compose), str(env), str(missing), str(config)]
    cmds = stack_fact_commands(
        files, [str(data), str(tmp_path / "nodir")], [str(project), str(other)]
    )
    cmds.pop("containers")
    out = subprocess.run(
        ["sh", "-c", render_batch(cmds, parallel=True)], capture_output=True, check=True
    ).stdout.decode()
    res = parse_batch(out, cmds)
    assert all(r.exit_code == 0 for r in res.values()), res
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    got = parse_files(res["files"].stdout)
    assert set(got) == set(files)
    for path in (compose, env, config):
        f = got[str(path)]
        assert f.exists and f.mode == path.stat().st_mode & 0o777
        assert (f.owner, f.group) == (owner, group)
        assert f.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not got[str(missing)].exists
    dirs = parse_dirs(res["dirs"].stdout)
    assert dirs[str(data)].exists and dirs[str(data)].mode == 0o750
    assert not dirs[str(tmp_path / "nodir")].exists
    states = parse_states(res["states"].stdout)
    assert list(states) == [str(project)]
    assert states[str(project)].config_hash == "abc"
    assert states[str(project)].files == {str(compose): "h1"}


def test_no_files_and_no_dirs_is_not_an_error(tmp_path: Path) -> None:
    cmds = stack_fact_commands([], [], [str(tmp_path)])
    cmds.pop("containers")
    out = subprocess.run(
        ["sh", "-c", render_batch(cmds)], capture_output=True, check=True
    ).stdout.decode()
    res = parse_batch(out, cmds)
    assert all(r.exit_code == 0 and r.stdout == "" for r in res.values()), res


def test_a_batch_frames_empty_and_binary_outputs_alike_one_after_another_or_side_by_side() -> None:
    cmds = {
        "quiet": "true",
        "both": "printf 'a\\000b\\n'; printf 'oops' >&2; exit 3",
        "err": "echo only-err >&2",
        "none": "exit 7",
    }
    for parallel in (False, True):
        out = subprocess.run(
            ["sh", "-c", render_batch(cmds, parallel=parallel)], capture_output=True, check=True
        ).stdout.decode()
        res = parse_batch(out, cmds)
        assert [(r.exit_code, r.stdout, r.stderr) for r in res.values()] == [
            (0, "", ""),
            (3, "a\x00b\n", "oops"),
            (0, "", "only-err\n"),
            (7, "", ""),
        ]
