"""The deploy's pre-pull through the scripted double (`tasks.pull`, `plan.pull`).

The compute host runs ollama and qdrant from older image references and the inventory names
new ones: both stacks pull, side by side, before any of their files is written. A pull the
registry refuses fails only that stack, with the registry's message and a remedy; nothing of
it is uploaded, recreated or recorded, while the other stack deploys as usual.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compute_double import (
    HOST_DATA,
    PULL,
    RUNNING,
    SECRETS,
    STACKS,
    RecordingHost,
    compute_stacks,
    container,
    in_place_facts,
    listing,
    probe_answer,
)
from nornir.core.task import AggregatedResult

from nornir_homehub.errors import ImagePullFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command
from nornir_homehub.facts.images import pull_command, running_images_command
from nornir_homehub.facts.stacks import STATE_FILE, stack_fact_batch
from nornir_homehub.plan.pull import compose_images, image_updates, plan_pull
from nornir_homehub.plan.stacks import plan_stack
from nornir_homehub.render import RenderedStack
from nornir_homehub.tasks.deploy import deploy_stacks, gather_stack_facts
from nornir_homehub.testing import Command, scripted_nornir

REFUSED = (
    "Error response from daemon: manifest for 192.0.2.133:5000/homehub-standin/qdrant:lab "
    "not found: manifest unknown: manifest unknown\n"
)
NEW_ID = "sha256:" + "9a" * 32


def _old(name: str, health: str | None) -> Any:
    c = container(name, health)
    return dataclasses.replace(c, image=c.image.replace(":lab", ":old"))


def _facts_script(stacks: list[RenderedStack]) -> list[Command]:
    """Every file in place except the compose files (they name the new images)."""
    batch = stack_fact_batch(stacks)
    files, dirs, states = in_place_facts(stacks, differ={s.compose_file for s in stacks})
    unless = next(st.unless for st in stacks[0].post_deploy if st.unless)
    return [
        Command(batch["files"], out=files),
        Command(batch["dirs"], out=dirs),
        Command(batch["states"], out=states),
        Command(batch["containers"], out=listing(_old("ollama", "healthy"), _old("qdrant", None))),
        Command(unless),
    ]


def _run(host: RecordingHost, stacks: list[RenderedStack], **kw: Any) -> AggregatedResult:
    nr = scripted_nornir({"compute": (HOST_DATA, host)})
    return nr.run(
        task=deploy_stacks, stacks_dir=STACKS, secrets=SECRETS, rendered={"compute": stacks}, **kw
    )


def test_the_plan_pulls_only_images_that_replace_a_running_container() -> None:
    stacks = compute_stacks()
    host = RecordingHost("compute", _facts_script(stacks))
    facts = gather_stack_facts(host, stacks)
    ollama = stacks[0]
    pulled = plan_pull(ollama, plan_stack(ollama, facts), facts)
    image = compose_images(ollama)["ollama"]
    assert pulled.images == (image,)
    assert pulled.reasons == (f"ollama: image {image.replace(':lab', ':old')} -> {image}",)
    # Not planned (nothing runs compose): nothing to pull; --pull: every image.
    assert plan_pull(ollama, None, facts).images == ()
    assert plan_pull(ollama, None, facts, always=True).images == (image,)


def test_a_refused_pull_fails_only_its_stack_before_anything_of_it_changes() -> None:
    stacks = compute_stacks()
    ollama, qdrant = stacks
    o_img, q_img = compose_images(ollama)["ollama"], compose_images(qdrant)["qdrant"]
    script = [
        *_facts_script(stacks),
        Command(pull_command([o_img]), out=f"{o_img} {NEW_ID}\n"),
        Command(pull_command([q_img]), exit=1, err=REFUSED),
        Command(f"cd {ollama.project_dir} && docker compose -p ollama up -d --remove-orphans"),
        Command(containers_command(label=PROJECT_LABEL), out=RUNNING),
        Command("homehub-http request", match="contains", out=probe_answer(200)),
        Command(PULL),
        Command(running_images_command()),
    ]
    host = RecordingHost("compute", script)
    agg = _run(host, stacks)
    assert agg.failed
    error = agg["compute"][0].exception
    assert isinstance(error, ImagePullFailed)
    message = str(error)
    assert "stack qdrant" in message and "manifest unknown" in message  # the registry's words
    assert "old containers keep running" in message and "remedy:" in message
    assert "stack ollama" not in message
    ran = host.ran
    pulls = [ran.index(pull_command([o_img])), ran.index(pull_command([q_img]))]
    uploads = [i for i, c in enumerate(ran) if c.startswith("<upload")]
    assert max(pulls) < min(uploads)  # pulled before any file was written
    # qdrant: no file written, no compose, no state record; ollama deployed and recorded.
    assert not any(qdrant.project_dir in c for c in ran if c.startswith("<upload"))
    assert not any("docker compose -p qdrant" in c for c in ran)
    assert f"{ollama.project_dir}/{STATE_FILE}" in host.files
    assert f"{qdrant.project_dir}/{STATE_FILE}" not in host.files
    pull_step = next(r for r in agg["compute"] if r.name == "pull").result
    assert pull_step["stacks"] == {"ollama": [o_img], "qdrant": [q_img]}
    assert list(pull_step["failed"]) == ["qdrant"]


def test_image_updates_name_services_whose_tag_now_names_another_image() -> None:
    from nornir_homehub.facts.images import RunningImage

    ollama = compute_stacks()[0]
    image = compose_images(ollama)["ollama"]
    old = "sha256:" + "1b" * 32
    running = (RunningImage("ollama", "ollama", "ollama", image, old),)
    assert image_updates(ollama, {image: old}, running) == ()
    (reason,) = image_updates(ollama, {image: NEW_ID}, running)
    assert reason.startswith(f"ollama: {image} now names sha256:9a9a")
    assert image_updates(ollama, {}, running) == ()  # nothing pulled: nothing known
