"""`prune_images` (``prune``) through the scripted double: the dry run sends no removal, the
real run sends exactly the planned ``docker image rm <id>``, an image a container took since
is skipped, a failed removal fails the host naming the image.

The stacks are the built-in ollama and qdrant stacks rendered for the lab's compute host
(`compute_double`), so the repositories come from their real compose files.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from compute_double import HOST_DATA, compute_stacks
from prune_double import OLLAMA_OLD, QDRANT_V0, QDRANT_V1, prune_script, rm

from nornir_homehub.facts.images import prune_fact_batch
from nornir_homehub.tasks.prune import prune_images
from nornir_homehub.testing import ScriptedHost, scripted_nornir


def _run(host: ScriptedHost, **kw: Any) -> Any:
    nr = scripted_nornir({"compute": ({**HOST_DATA, **kw.pop("data", {})}, host)})
    return nr.run(task=prune_images, rendered={"compute": compute_stacks()}, **kw)["compute"][0]


def _plan(res: Any) -> list[tuple[str, str]]:
    return [(d.name, "remove" if d.remove else "keep") for d in res.result.plan.images]


def test_the_dry_run_lists_every_stack_image_with_its_reason_and_sends_no_removal() -> None:
    script, batch = prune_script()
    host = ScriptedHost("compute", script)
    res = _run(host, dry_run=True)
    assert not res.failed and not res.changed
    assert _plan(res) == [
        ("192.0.2.133:5000/homehub-standin/ollama:lab", "keep"),
        ("192.0.2.133:5000/homehub-standin/ollama:old", "keep"),
        ("192.0.2.133:5000/homehub-standin/qdrant:lab", "keep"),
        ("192.0.2.133:5000/homehub-standin/qdrant:v1", "keep"),
        ("192.0.2.133:5000/homehub-standin/qdrant:v0", "remove"),
    ]
    reasons = {d.name: d.reason for d in res.result.plan.images}
    assert reasons["192.0.2.133:5000/homehub-standin/qdrant:lab"] == "in use by container qdrant"
    assert "newest 1 unused" in reasons["192.0.2.133:5000/homehub-standin/qdrant:v1"]
    assert host.ran == list(batch.values()) and host.commands_run == 1  # one round trip
    assert not any("rm" in c.split()[:3] for c in host.ran)
    assert res.result.removals == ()


def test_the_real_run_with_every_answer_removes_what_the_dry_run_listed() -> None:
    script, _ = prune_script()
    listed = _run(ScriptedHost("compute", script), keep=0, dry_run=True).result.plan.commands()
    assert listed == [
        f"docker image rm {OLLAMA_OLD}",
        f"docker image rm {QDRANT_V1}",
        f"docker image rm {QDRANT_V0}",
    ]
    script, batch = prune_script(rm(OLLAMA_OLD), rm(QDRANT_V1), rm(QDRANT_V0))
    host = ScriptedHost("compute", script)
    res = _run(host, keep=0)
    assert not res.failed and res.changed
    assert host.ran == [*batch.values(), *listed]  # exactly the dry run's list, nothing more
    assert host.commands_run == 2 and host.unused() == []
    assert [(r.name, r.outcome) for r in res.result.removals] == [
        ("192.0.2.133:5000/homehub-standin/ollama:old", "removed"),
        ("192.0.2.133:5000/homehub-standin/qdrant:v1", "removed"),
        ("192.0.2.133:5000/homehub-standin/qdrant:v0", "removed"),
    ]
    assert not any(" -f" in c or "--force" in c for c in host.ran)


def test_an_image_a_container_took_since_the_facts_is_skipped_not_forced() -> None:
    busy = (
        "Error response from daemon: conflict: unable to delete a0a0a0a0a0a0 (cannot be "
        "forced) - image is being used by running container 5e5e5e5e5e5e\n"
    )
    script, _ = prune_script(rm(QDRANT_V0, exit=1, err=busy))
    host = ScriptedHost("compute", script)
    res = _run(host)
    assert not res.failed and not res.changed
    (removal,) = res.result.removals
    assert (removal.name, removal.outcome) == (
        "192.0.2.133:5000/homehub-standin/qdrant:v0",
        "in use",
    )
    assert "being used by running container" in removal.detail
    assert host.ran[-1] == f"docker image rm {QDRANT_V0}"


def test_a_failed_removal_fails_the_host_and_names_the_image() -> None:
    err = "Error response from daemon: failed to remove image: device or resource busy\n"
    script, _ = prune_script(rm(QDRANT_V0, exit=1, err=err))
    res = _run(ScriptedHost("compute", script))
    assert res.failed and res.exception is None
    (removal,) = res.result.failed
    assert (
        removal.name == "192.0.2.133:5000/homehub-standin/qdrant:v0"
        and removal.image_id == QDRANT_V0
    )
    assert removal.detail == err.strip()


def test_images_keep_from_the_inventory_and_keep_overrides_it() -> None:
    script, _ = prune_script()
    res = _run(ScriptedHost("compute", script), dry_run=True, data={"images_keep": 2})
    assert res.result.plan.keep == 2 and res.result.plan.removals == ()
    script, _ = prune_script()
    res = _run(ScriptedHost("compute", script), dry_run=True, keep=0, data={"images_keep": 2})
    assert res.result.plan.keep == 0 and len(res.result.plan.removals) == 3


def test_docker_down_fails_the_host_with_what_to_check() -> None:
    batch = prune_fact_batch()
    script, _ = prune_script()
    script[0].exit, script[0].out = 90, ""
    script[0].err = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n"
    res = _run(ScriptedHost("compute", script), dry_run=True)
    assert res.failed and "Docker Engine not usable (Cannot connect" in str(res.exception)
    assert script[0].cmd == batch["images"]


def test_a_host_without_stacks_is_not_contacted() -> None:
    host = ScriptedHost("dns")
    nr = scripted_nornir({"dns": ({"role": "dns"}, host)})
    res = nr.run(task=prune_images, rendered={"dns": []}, dry_run=True)["dns"][0]
    assert not res.failed and res.result.plan.images == ()
    assert host.ran == []


def test_the_fact_commands_hand_docker_the_format_intact(tmp_path: Path) -> None:
    """Run the real ``images`` command with a stand-in ``docker`` that records its arguments."""
    log = tmp_path / "args"
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {log}\n'
        'if [ "$2" = ls ]; then printf "sha256:b\\nsha256:a\\nsha256:b\\n"; fi\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    command = prune_fact_batch()["images"]
    done = subprocess.run(["sh", "-c", command], env=env, check=False, capture_output=True)
    assert done.returncode == 0, done.stderr
    ls, inspect = log.read_text().splitlines()
    assert ls == "image ls -q --no-trunc"
    assert inspect.startswith('image inspect --format {"id":{{json .Id}},"repo_tags":')
    assert inspect.endswith('"parent":{{json .Parent}}} sha256:a sha256:b')  # once each


def test_an_image_list_docker_could_not_print_fails_instead_of_pruning_nothing() -> None:
    script, _ = prune_script()
    script[0].out = ""
    script[0].err = 'template: :1:140: executing "" at <.Parent>: can\'t evaluate field Parent\n'
    res = _run(ScriptedHost("compute", script), dry_run=True)
    assert res.failed and "cannot read the images: template: :1:140" in str(res.exception)


def test_an_image_removed_while_the_list_was_read_is_no_error() -> None:
    script, _ = prune_script()
    script[0].err = "Error: No such image: sha256:0000\n"
    res = _run(ScriptedHost("compute", script), dry_run=True)
    assert not res.failed and len(res.result.plan.images) == 5
