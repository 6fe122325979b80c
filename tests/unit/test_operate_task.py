"""`inspect_stacks` and `fetch_logs` (``status``, ``drift``, ``logs``) through the scripted double.

The stacks are the built-in ollama and qdrant stacks rendered for the lab's compute host
(`compute_double`); the host answers the deploy's fact batch plus the runtime facts in the
shapes the real commands print. The tests assert what an operator reads: which file,
container or step drifted and the command that fixes it, each container's state, image,
digest, uptime and restarts, the stack's release, one round trip and nothing written.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compute_double import HOST_DATA, compute_stacks, container, listing
from operate_double import NOW, OLLAMA_DIGEST, OLLAMA_ID, PROJECTS
from operate_double import operate_script as _script

from nornir_homehub.facts.logs import logs_command
from nornir_homehub.facts.stacks import render_state
from nornir_homehub.records import as_dict
from nornir_homehub.render import RenderedStack
from nornir_homehub.tasks.operate import fetch_logs, inspect_stacks
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


def _inspect(host: ScriptedHost, stacks: list[RenderedStack]) -> Any:
    nr = scripted_nornir({"compute": (HOST_DATA, host)})
    agg = nr.run(task=inspect_stacks, rendered={"compute": stacks}, projects=PROJECTS, now=NOW)
    assert not agg.failed, agg["compute"][0].exception
    assert not agg["compute"][0].changed
    return agg["compute"][0].result


def _drift(found: Any) -> list[tuple[str, str, str]]:
    return [(d.kind.value, d.name, d.what) for s in found.stacks for d in s.drift] + [
        (d.kind.value, d.name, d.what) for d in found.extra
    ]


def test_right_after_a_deploy_nothing_drifted_and_status_shows_every_container() -> None:
    stacks = compute_stacks()
    script, batch = _script(stacks)
    host = ScriptedHost("compute", script)
    found = _inspect(host, stacks)
    assert _drift(found) == []
    assert host.ran == list(batch.values()) and host.commands_run == 1  # one round trip
    assert host.uploads == []
    ollama, qdrant = found.stacks
    assert [as_dict(c) for c in ollama.containers] == [
        {
            "service": "ollama",
            "name": "ollama",
            "state": "running",
            "health": "healthy",
            "image": "192.0.2.133:5000/homehub-standin/ollama:lab",
            "image_id": OLLAMA_ID,
            "repo_digest": OLLAMA_DIGEST,
            "started_at": "2026-12-01T09:01:24Z",
            "uptime_s": 3 * 3600,
            "restarts": 0,
            "config_hash": "0e" * 32,
        }
    ]
    assert qdrant.containers[0].health == "none" and qdrant.containers[0].repo_digest == ""
    assert qdrant.release is not None and qdrant.release.current
    assert qdrant.release.config_hash == stacks[1].config_hash
    assert qdrant.release.deployed_at == "2026-12-01T09:01:30+00:00"


def test_a_hand_edited_compose_file_is_named_with_the_deploy_that_fixes_it() -> None:
    stacks = compute_stacks()
    compose = stacks[1].compose_file
    script, _ = _script(stacks, files={compose: "ab" * 32})
    found = _inspect(ScriptedHost("compute", script), stacks)
    assert compose == "/opt/stacks/qdrant/compose.yaml"
    assert _drift(found) == [
        ("file", compose, "content differs from the rendered file (edited on the host?)")
    ]
    item = found.stacks[1].drift[0]
    assert "deploy --stacks qdrant --limit compute" in item.remedy
    assert found.stacks[1].drifted and not found.stacks[0].drifted


def test_missing_extra_stopped_and_other_image_containers_are_drift() -> None:
    stacks = compute_stacks()
    stopped = dataclasses.replace(container("ollama", None), state="exited")
    other_image = dataclasses.replace(container("qdrant", None), image="qdrant/qdrant:v1.9.0")
    helper = container("qdrant-helper", None, project="qdrant", service="helper")
    litellm = container("litellm", "healthy")  # a trusted stack's project on this host
    script, _ = _script(stacks, containers=listing(stopped, other_image, helper, litellm))
    found = _inspect(ScriptedHost("compute", script), stacks)
    assert _drift(found) == [
        ("container", "ollama", "is exited, desired running"),
        (
            "container",
            "qdrant",
            "runs image qdrant/qdrant:v1.9.0, compose says 192.0.2.133:5000/homehub-standin/qdrant:lab",
        ),
        ("container", "qdrant-helper", "extra: service helper is not in the compose file"),
        ("container", "litellm", "extra: stack litellm is not in this host's stacks"),
    ]
    assert "docker compose -p litellm down" in found.extra[0].remedy
    assert found.stacks[0].containers[0].uptime_s is None  # not running: no uptime


def test_a_missing_container_and_a_model_not_pulled_are_drift() -> None:
    stacks = compute_stacks()
    script, _ = _script(stacks, containers=listing(container("qdrant", None)), model_there=False)
    found = _inspect(ScriptedHost("compute", script), stacks)
    assert _drift(found) == [
        ("container", "ollama", "missing (service ollama)"),
        ("step", "pull qwen2.5-coder:14b", "post-deploy step not satisfied"),
    ]


def test_a_file_on_the_host_that_the_last_deploy_did_not_apply_is_drift() -> None:
    """The host holds the rendered .env, but the state record says the deploy never finished."""
    stacks = compute_stacks()
    script, batch = _script(stacks)
    env = next(p for p in stacks[1].files if "/.env." in p)
    recorded = {p: f.sha256 for p, f in stacks[1].files.items()} | {env: "00" * 32}
    stale = f"{stacks[1].project_dir} " + render_state("qdrant", "old", recorded).decode()
    states = next(c for c in script if c.cmd == batch["states"])
    states.out = states.out.splitlines()[0] + "\n" + stale + "\n"
    found = _inspect(ScriptedHost("compute", script), stacks)
    assert _drift(found) == [
        ("state", env, "on the host but not applied: containers run without it")
    ]
    release = found.stacks[1].release
    assert release is not None and not release.current


def test_engine_down_fails_the_host_with_what_to_check() -> None:
    stacks = compute_stacks()
    script, batch = _script(stacks)
    docker = next(c for c in script if c.cmd == batch["containers"])
    docker.exit, docker.out, docker.err = 90, "", "Cannot connect to the Docker daemon\n"
    nr = scripted_nornir({"compute": (HOST_DATA, ScriptedHost("compute", script))})
    agg = nr.run(task=inspect_stacks, rendered={"compute": stacks}, projects=PROJECTS)
    assert agg.failed
    assert "Docker Engine not usable" in str(agg["compute"][0].exception)


def test_a_host_without_stacks_is_not_contacted() -> None:
    host = ScriptedHost("dns")
    nr = scripted_nornir({"dns": ({"role": "dns"}, host)})
    agg = nr.run(task=inspect_stacks, rendered={"dns": []}, projects=PROJECTS)
    assert not agg.failed and agg["dns"][0].result.stacks == ()
    assert host.ran == []


def test_logs_come_back_per_container_from_one_command() -> None:
    out = (
        "qdrant | 2026-12-01T09:01:24.050977250Z starting Qdrant\n"
        "qdrant | 2026-12-01T09:01:25.000000000Z Qdrant HTTP listening on 6333\n"
    )
    command = logs_command("qdrant", tail=5)
    host = ScriptedHost("compute", [Command(command, out=out)])
    agg = scripted_nornir({"compute": (HOST_DATA, host)}).run(
        task=fetch_logs, project="qdrant", tail=5
    )
    lines = agg["compute"][0].result
    assert [(ln.container, ln.text) for ln in lines] == [
        ("qdrant", "starting Qdrant"),
        ("qdrant", "Qdrant HTTP listening on 6333"),
    ]
    assert "--tail 5" in command and "label=com.docker.compose.project=qdrant" in command
    assert host.ran == [command]


def test_logs_when_docker_does_not_answer_fail_the_host() -> None:
    command = logs_command("qdrant")
    host = ScriptedHost("compute", [Command(command, exit=90, err="permission denied\n")])
    agg = scripted_nornir({"compute": (HOST_DATA, host)}).run(task=fetch_logs, project="qdrant")
    assert agg.failed
    assert "cannot read the logs of qdrant: permission denied" in str(agg["compute"][0].exception)


def test_follow_drops_lines_already_seen_and_keeps_docker_errors() -> None:
    from nornir_homehub.facts.logs import LogLine, fresh_lines

    seen = {"qdrant": "2026-12-01T09:01:25.000000000Z"}
    lines = [
        LogLine("qdrant", "2026-12-01T09:01:25.000000000Z", "seen before (--since is inclusive)"),
        LogLine("qdrant", "2026-12-01T09:01:26.000000000Z", "new"),
        LogLine("qdrant", "", "Error response from daemon: no such container"),
        LogLine("ollama", "2026-12-01T09:00:00.000000000Z", "first of another container"),
    ]
    fresh, last = fresh_lines(lines, seen)
    assert [ln.text for ln in fresh] == [
        "new",
        "Error response from daemon: no such container",
        "first of another container",
    ]
    assert last == {
        "qdrant": "2026-12-01T09:01:26.000000000Z",
        "ollama": "2026-12-01T09:00:00.000000000Z",
    }
