"""Releases: the pure rollback/pin/prune plans, and `prune_releases` through the scripted double.

What a user would observe: which release a rollback returns to (and the error naming the ids
when there is none), the compose file with exactly the image lines pinned, which releases
``prune`` removes (the newest ``releases_keep`` of each stack stay), and that a release never
holds a secret file's content.
"""

from __future__ import annotations

import json

import pytest
from compute_double import HOST_DATA, compute_stacks

from nornir_homehub.errors import PlanError
from nornir_homehub.facts.images import ImagePin
from nornir_homehub.facts.releases import (
    Release,
    ReleaseFile,
    list_releases_command,
    parse_releases,
)
from nornir_homehub.plan.releases import (
    local_pin_tag,
    pin_compose,
    plan_release_prune,
    plan_rollback,
)
from nornir_homehub.tasks.prune import prune_releases
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


def release(stack: str, n: int, **kw: object) -> Release:
    return Release(
        id=f"20261201T1300{n:02d}000000Z-run{n}",
        stack=stack,
        host="compute",
        time=f"2026-12-01T13:00:{n:02d}Z",
        user="root@ctl",
        command="deploy",
        run_id=f"run{n}",
        files={
            "/opt/stacks/qdrant/compose.yaml": ReleaseFile("aa", 0o644, False, b"image: x\n"),
            "/opt/stacks/qdrant/.env.qdrant": ReleaseFile("bb", 0o600, True, b"KEY=hush\n"),
        },
        images={"qdrant": ImagePin("homehub-standin/qdrant:lab", "sha256:" + "7f" * 32)},
        **kw,  # type: ignore[arg-type]
    )


def test_a_rollback_returns_to_the_previous_release_or_the_one_named() -> None:
    rels = [release("qdrant", 1), release("qdrant", 2), release("qdrant", 3), release("x", 4)]
    plan = plan_rollback("compute", "qdrant", rels, None)
    assert (plan.current.run_id, plan.target.run_id) == ("run3", "run2")
    assert plan_rollback("compute", "qdrant", rels, rels[0].id).target.run_id == "run1"
    assert plan_rollback("compute", "qdrant", rels, "20261201T130001").target.run_id == "run1"


@pytest.mark.parametrize(
    ("releases", "to", "message"),
    [
        ([], None, "no release recorded, nothing to roll back to"),
        ([1], None, "only one release"),
        ([1, 2], "nope", "--to 'nope' is not a release; releases: 20261201T130002"),
        ([1, 2], "20261201T1300", "matches several releases"),
    ],
)
def test_no_release_to_return_to_is_an_error_naming_what_there_is(
    releases: list[int], to: str | None, message: str
) -> None:
    with pytest.raises(PlanError, match="compute: stack qdrant: ") as err:
        plan_rollback("compute", "qdrant", [release("qdrant", n) for n in releases], to)
    assert message in str(err.value)


def test_pin_compose_replaces_exactly_the_recorded_image_lines() -> None:
    text = (
        "services:\n  qdrant:\n    image: homehub-standin/qdrant:lab\n"
        '  side:\n    image: "busybox:1.36"  \n    labels: [image: homehub-standin/qdrant:lab]\n'
    )
    pinned = pin_compose(
        text, {"homehub-standin/qdrant:lab": "reg:5000/q@sha256:11", "busybox:1.36": "b@sha256:2"}
    )
    assert pinned.splitlines() == [
        "services:",
        "  qdrant:",
        "    image: reg:5000/q@sha256:11",
        "  side:",
        "    image: b@sha256:2",
        "    labels: [image: homehub-standin/qdrant:lab]",
    ]
    pin = ImagePin("reg:5000/homehub-standin/qdrant:lab", "sha256:" + "ab" * 32)
    assert local_pin_tag(pin) == "reg:5000/homehub-standin/qdrant:homehub-abababababab"


def test_prune_keeps_the_newest_releases_keep_of_each_stack() -> None:
    rels = [release("qdrant", n) for n in range(1, 8)] + [release("ollama", 9)]
    going = plan_release_prune(rels, 5)
    assert [r.run_id for r in going] == ["run2", "run1"]
    assert [r.run_id for r in plan_release_prune(rels, 0)] == [f"run{n}" for n in range(6, 0, -1)]


def test_a_release_file_keeps_no_secret_and_reads_back() -> None:
    rec = release("qdrant", 1, rollback_of="r0", reason="automatic: health wait failed")
    data = rec.to_json()
    assert b"hush" not in data
    doc = json.loads(data)
    assert doc["files"]["/opt/stacks/qdrant/.env.qdrant"]["content_b64"] is None
    (back,) = parse_releases("compute", data.decode() + '{"torn\n')
    assert back.files["/opt/stacks/qdrant/compose.yaml"].content == b"image: x\n"
    assert back.files["/opt/stacks/qdrant/.env.qdrant"].content is None
    assert (back.rollback_of, back.images) == ("r0", rec.images)


def _listing(*rels: Release) -> str:
    return "".join(r.to_json().decode() for r in rels)


@pytest.mark.parametrize("dry_run", [True, False])
def test_prune_releases_removes_beyond_releases_keep(dry_run: bool) -> None:
    rels = [release("qdrant", n) for n in range(1, 5)]
    script = [Command(list_releases_command("/var/lib/homehub"), out=_listing(*rels))]
    if not dry_run:
        script.append(Command("rm -rf -- ", match="prefix"))
    host = ScriptedHost("compute", script)
    nr = scripted_nornir({"compute": ({**HOST_DATA, "releases_keep": 2}, host)})
    res = nr.run(task=prune_releases, rendered={"compute": compute_stacks()}, dry_run=dry_run)
    done = res["compute"][0].result
    assert done.removals == (("qdrant", rels[1].id), ("qdrant", rels[0].id)) and done.kept == 2
    assert host.unused() == []
    if not dry_run:
        assert host.ran[-1] == (
            f"rm -rf -- /var/lib/homehub/releases/qdrant/{rels[1].id} "
            f"/var/lib/homehub/releases/qdrant/{rels[0].id}"
        )
    else:
        assert len(host.ran) == 1


def test_the_wide_runtime_listing_serves_the_release_records_and_the_image_digests() -> None:
    """One listing read in the stable window: `parse_runtime` and `parse_running_images` both."""
    import json as _json

    from nornir_homehub.facts.images import parse_running_images
    from nornir_homehub.facts.runtime import parse_runtime, runtime_commands

    cmd = runtime_commands((), wide=True)["runtime"]
    for field in ('"config_hash":', '"image":{{json .Config.Image}}', '"project":', '"service":'):
        assert field in cmd
    ollama = "sha256:" + "ac" * 32
    digest = "192.0.2.133:5000/homehub-standin/ollama@sha256:" + "05" * 32
    out = "".join(
        _json.dumps(line) + "\n"
        for line in (
            {"container": "/ollama", "image_id": ollama, "config_hash": "ab" * 32,
             "image": "192.0.2.133:5000/homehub-standin/ollama:lab", "project": "ollama",
             "service": "ollama"},
            {"container": "/other", "image_id": ollama, "config_hash": None, "image": "x",
             "project": None, "service": None},
            {"image_id": ollama, "repo_digests": [digest]},
        )
    )  # fmt: skip
    runtime = parse_runtime(out, "")
    assert runtime.of("ollama").repo_digests == (digest,)
    assert runtime.of("ollama").config_hash == "ab" * 32
    (running,) = parse_running_images(out)  # the container outside compose is not one
    assert (running.project, running.service, running.container) == ("ollama", "ollama", "ollama")
    assert running.digest() == ("sha256:" + "05" * 32, "repo_digest")
