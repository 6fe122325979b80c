"""`deploy_stacks` end to end through the scripted connection double, without the lab.

The stacks are the built-in ollama and qdrant stacks rendered from the real templates with the
lab inventory (a test secret; `compute_double`). The host answers each command from a script: the fact batch,
``install -d``, Compose, the container listing of the health wait, Qdrant's readiness probe,
Ollama's model step. Every upload lands in the double's filesystem with its mode, so the
tests assert what a user would find on the host: the files and their modes, the compose
commands run, the state records, and on a no-op, nothing uploaded and nothing run but the facts.
"""

from __future__ import annotations

import json
from typing import Any

from compute_double import (
    HOST_DATA,
    KEY,
    PULL,
    RUNNING,
    SECRETS,
    STACKS,
    RecordingHost,
    compute_stacks,
    in_place_facts,
    probe_answer,
)
from nornir.core.task import AggregatedResult

from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command
from nornir_homehub.facts.images import running_images_command
from nornir_homehub.facts.stacks import STATE_FILE, stack_fact_batch
from nornir_homehub.render import RenderedStack
from nornir_homehub.tasks.apply import compose_command
from nornir_homehub.tasks.deploy import deploy_stacks, gather_stack_facts
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


def _run(host: ScriptedHost, stacks: list[RenderedStack], **kw: Any) -> AggregatedResult:
    nr = scripted_nornir({"compute": (HOST_DATA, host)})
    return nr.run(
        task=deploy_stacks,
        stacks_dir=STACKS,
        secrets=SECRETS,
        rendered={"compute": stacks},
        **kw,
    )


def _first_deploy_script(
    stacks: list[RenderedStack], *, qdrant_compose_exit: int = 0
) -> list[Command]:
    batch = stack_fact_batch(stacks)
    ollama, qdrant = stacks
    missing = "".join(f"{p} MISSING\n" for s in stacks for p in s.files)
    dirs = "".join(f"{d.path} MISSING\n" for s in stacks for d in s.data_dirs)
    unless = next(st.unless for st in ollama.post_deploy if st.unless)
    return [
        Command(batch["files"], out=missing),
        Command(batch["dirs"], out=dirs),
        Command(batch["states"]),
        Command(batch["containers"]),  # an engine without containers
        Command(unless, exit=1, err="Error response from daemon: No such container: ollama\n"),
        Command("install -d -m 750 -o root -g root /srv/docker/ollama/data"),
        Command("install -d -m 750 -o root -g root /srv/docker/qdrant/storage"),
        Command(f"cd {ollama.project_dir} && docker compose -p ollama up -d --remove-orphans"),
        Command(
            f"cd {qdrant.project_dir} && docker compose -p qdrant up -d --remove-orphans",
            exit=qdrant_compose_exit,
            err="Error response from daemon: pull access denied for qdrant/qdrant\n",
        ),
        Command(containers_command(label=PROJECT_LABEL), out=RUNNING),
        Command("homehub-http request", match="contains", out=probe_answer(200)),
        Command(PULL),
        Command(running_images_command(), out=RUNNING_IMAGES),
    ]


REG = "192.0.2.133:5000/homehub-standin"
QDRANT_DIGEST = "sha256:" + "5d" * 32
# What `running_images_command` prints: ollama's image was pulled (a RepoDigest), qdrant's
# has none (built on the host), so its image id stands in.
RUNNING_IMAGES = "".join(
    json.dumps(line) + "\n"
    for line in (
        {
            "container": "/ollama",
            "image": f"{REG}/ollama:lab",
            "image_id": "sha256:" + "1b" * 32,
            "project": "ollama",
            "service": "ollama",
        },
        {
            "container": "/qdrant",
            "image": f"{REG}/qdrant:lab",
            "image_id": "sha256:" + "7f" * 32,
            "project": "qdrant",
            "service": "qdrant",
        },
        {"image_id": "sha256:" + "1b" * 32, "repo_digests": [f"{REG}/ollama@{QDRANT_DIGEST}"]},
        {"image_id": "sha256:" + "7f" * 32, "repo_digests": ["other/repo@sha256:" + "ee" * 32]},
    )
)


def test_first_deploy_uploads_every_file_with_its_mode_runs_compose_and_records_state() -> None:
    stacks = compute_stacks()
    host = RecordingHost("compute", _first_deploy_script(stacks))
    agg = _run(host, stacks)
    assert not agg.failed, agg["compute"][0].exception
    assert agg["compute"][0].changed
    for stack in stacks:
        for path, f in stack.files.items():
            assert host.files[path].content == f.content, path
            assert host.files[path].mode == f.mode, path
        assert {host.files[p].mode for p in stack.files} == {0o644, 0o600}
        env = next(p for p in stack.files if "/.env." in p)
        assert host.files[env].mode == 0o600  # the secrets' file
        state = host.files[f"{stack.project_dir}/{STATE_FILE}"]
        assert state.mode == 0o600
        assert json.loads(state.content) == {
            "version": 2,
            "stack": stack.name,
            "config_hash": stack.config_hash,
            "files": {p: f.sha256 for p, f in sorted(stack.files.items())},
        }
    ran = host.ran
    compose = [ran.index(c) for c in ran if " docker compose -p " in c]
    assert len(compose) == 2
    # Files before compose; the state records last, after the health wait and the model pull.
    uploads = [i for i, c in enumerate(ran) if c.startswith("<upload") and STATE_FILE not in c]
    states = [i for i, c in enumerate(ran) if c.startswith("<upload") and STATE_FILE in c]
    assert max(uploads) < min(compose) and len(states) == 2
    assert min(states) > ran.index(PULL) > max(compose)
    summary = agg["compute"][0].result
    assert summary.bytes_uploaded == sum(len(host.files[p].content) for p in host.uploads)
    assert not any(KEY in c for c in ran)  # no secret on a remote command line
    assert host.unused() == []
    digests = next(r for r in agg["compute"] if r.name == "image digests").result
    assert digests == {
        "ollama": {
            "ollama": {
                "image": f"{REG}/ollama:lab",
                "digest": QDRANT_DIGEST,
                "digest_source": "repo_digest",
            }
        },
        "qdrant": {  # a digest of another repository is not this image's registry digest
            "qdrant": {
                "image": f"{REG}/qdrant:lab",
                "digest": "sha256:" + "7f" * 32,
                "digest_source": "image_id",
            }
        },
    }


def test_a_no_op_uploads_nothing_and_runs_only_the_facts() -> None:
    stacks = compute_stacks()
    batch = stack_fact_batch(stacks)
    files, dirs, states = in_place_facts(stacks)
    unless = next(st.unless for st in stacks[0].post_deploy if st.unless)
    host = RecordingHost(
        "compute",
        [
            Command(batch["files"], out=files),
            Command(batch["dirs"], out=dirs),
            Command(batch["states"], out=states),
            Command(batch["containers"], out=RUNNING),
            Command(unless),  # the model is there
        ],
    )
    agg = _run(host, stacks)
    assert not agg.failed and not agg["compute"].changed
    assert host.uploads == [] and host.bytes_uploaded == 0
    assert host.ran == list(batch.values())  # one round trip, nothing else
    assert host.commands_run == 1
    outcomes = [r.result for r in agg["compute"][1:]]
    assert [o.plan.noop_reason for o in outcomes] == [
        "files, data dirs and containers match; post-deploy steps satisfied"
    ] * 2


def test_a_dry_run_shows_the_diffs_and_changes_nothing() -> None:
    stacks = compute_stacks()
    script = _first_deploy_script(stacks)[:5]  # the facts only
    host = RecordingHost("compute", script)
    agg = _run(host, stacks, dry_run=True)
    assert not agg.failed and agg["compute"][0].changed
    assert host.uploads == [] and host.files == {}
    diff = agg["compute"][2].diff  # stack:qdrant
    assert "+++ compute:/opt/stacks/qdrant/.env.qdrant" in diff
    assert "QDRANT__SERVICE__API_KEY=<secret " in diff and KEY not in diff
    assert not any("docker compose" in c for c in host.ran)


def test_a_failed_compose_fails_its_stack_and_leaves_it_without_a_state_record() -> None:
    """ollama converges; qdrant's compose fails: no state record, so the next run retries it."""
    stacks = compute_stacks()
    host = RecordingHost("compute", _first_deploy_script(stacks, qdrant_compose_exit=1))
    agg = _run(host, stacks)
    assert agg.failed
    failed = [r for r in agg["compute"][1:] if r.failed]
    assert [r.name for r in failed] == ["compose + health + post-deploy"]
    error = failed[0].exception
    assert isinstance(error, StackFailed)
    assert str(error).startswith("compute: stack qdrant: `docker compose -p qdrant up -d")
    assert "exited 1: Error response from daemon: pull access denied" in str(error)
    assert f"/opt/stacks/ollama/{STATE_FILE}" in host.files
    assert f"/opt/stacks/qdrant/{STATE_FILE}" not in host.files
    assert compose_command(stacks[1], agg["compute"][2].result.plan) in host.ran


def test_the_fact_batch_is_one_round_trip() -> None:
    stacks = compute_stacks()
    script = _first_deploy_script(stacks)[:5]
    host = ScriptedHost("compute", script)
    facts = gather_stack_facts(host, stacks)
    assert host.commands_run == 1 and host.unused() == []
    assert all(not f.exists for f in facts.files.values()) and facts.containers == ()
    assert facts.checks == {"ollama:0": 1}


def test_the_image_digests_come_from_the_stable_windows_listing_while_nothing_ran_since(
    monkeypatch: Any,
) -> None:
    """With a stable window, its idle time lists the images; `image digests` then reads none.

    When a post-deploy step ran after that listing (the model pull), it is read again.
    """
    from fake_clock import FakeClock

    from nornir_homehub.tasks import health

    monkeypatch.setattr(health, "time", FakeClock())
    for pulled in (False, True):
        stacks = compute_stacks()
        script = _first_deploy_script(stacks)
        unless = next(st.unless for st in stacks[0].post_deploy if st.unless)
        if not pulled:  # missing at the facts, there by the window: no step runs
            script[4] = Command(unless, exit=1, times=1)
            script = [c for c in script if c.cmd != PULL]
            script.append(Command(unless))
        host = RecordingHost("compute", script)
        nr = scripted_nornir({"compute": ({**HOST_DATA, "deploy_stable_window": 1.0}, host)})
        agg = nr.run(
            task=deploy_stacks, stacks_dir=STACKS, secrets=SECRETS, rendered={"compute": stacks}
        )
        assert not agg.failed, agg["compute"][0].exception
        listings = [i for i, c in enumerate(host.ran) if c == running_images_command()]
        assert len(listings) == (2 if pulled else 1), pulled
        states = [i for i, c in enumerate(host.ran) if c.startswith("<upload") and STATE_FILE in c]
        # Read in the window, before the steps and the state records.
        assert listings[0] < min(states)
        assert (PULL in host.ran) is pulled
        digests = next(r for r in agg["compute"] if r.name == "image digests").result
        assert digests["ollama"]["ollama"]["digest"] == QDRANT_DIGEST
        assert digests["qdrant"]["qdrant"]["digest_source"] == "image_id"


def test_the_models_checks_answers_ride_on_round_trips_the_stage_makes_anyway() -> None:
    """A no-op: on the facts' round trip. A deploy whose step pulled a model: read again with
    what follows the steps (the listings of the records), after the pull, not before it."""
    from nornir_homehub.tasks.models import ModelsAhead

    tags = Command("/api/tags", match="contains", out=probe_answer(200))
    ps = Command("/api/ps", match="contains", out=probe_answer(200))
    stacks = compute_stacks()
    batch = stack_fact_batch(stacks)
    files, dirs, states = in_place_facts(stacks)
    unless = next(st.unless for st in stacks[0].post_deploy if st.unless)
    noop = [
        Command(batch["files"], out=files),
        Command(batch["dirs"], out=dirs),
        Command(batch["states"], out=states),
        Command(batch["containers"], out=RUNNING),
        Command(unless),
    ]
    data = {**HOST_DATA, "stacks": ["ollama", "qdrant"], "ollama_models": ["qwen2.5-coder:14b"]}
    for script, pulled in ((noop, False), (_first_deploy_script(stacks), True)):
        host = RecordingHost("compute", [*script, tags, ps])
        nr = scripted_nornir({"compute": (data, host)})
        models = ModelsAhead(nr.inventory.hosts.values())
        agg = nr.run(
            task=deploy_stacks,
            stacks_dir=STACKS,
            secrets=SECRETS,
            rendered={"compute": stacks},
            models=models,
        )
        assert not agg.failed, agg["compute"][0].exception
        reads = list(models.commands("compute").values())
        # Read in the facts' round trip, whatever the stage then did.
        assert host.ran[: len(batch) + 2][-2:] == reads
        assert models.take("compute") is not None
        at = [i for i, c in enumerate(host.ran) if c == reads[0]]
        if pulled:  # read again after the step, beside the release listing
            assert len(at) == 2 and at[1] > host.ran.index(PULL)
        else:  # the no-op: still one round trip in all
            assert len(at) == 1 and host.commands_run == 1
