"""`plan.outdated.plan_outdated`: one verdict per service, each with its reason (pure)."""

from __future__ import annotations

import pytest

from nornir_homehub.facts.images import RunningImage
from nornir_homehub.facts.registry import ManifestHead
from nornir_homehub.plan.outdated import Freshness, plan_outdated

REPO = "192.0.2.133:5000/homehub-standin/qdrant"
OLD, NEW = "sha256:" + "0d" * 32, "sha256:" + "e1" * 32
PIN = f"{REPO}:lab@{OLD}"


def _running(image: str, digests: tuple[str, ...]) -> tuple[RunningImage, ...]:
    return (RunningImage("qdrant", "qdrant", "qdrant", image, "sha256:" + "77" * 32, digests),)


@pytest.mark.parametrize(
    ("image", "running", "head", "state", "why"),
    [
        (
            f"{REPO}:lab",
            (f"{REPO}@{OLD}",),
            ManifestHead(200, NEW),
            Freshness.OUTDATED,
            "now names",
        ),
        (f"{REPO}:lab", (f"{REPO}@{OLD}",), ManifestHead(200, OLD), Freshness.CURRENT, "still"),
        (PIN, (f"{REPO}@{OLD}",), None, Freshness.PINNED, "pinned to"),
        (f"{REPO}:lab", (), ManifestHead(200, NEW), Freshness.UNKNOWN, "local build"),
        (
            f"{REPO}:lab",
            (f"{REPO}@{OLD}",),
            ManifestHead(404, error="HTTP 404: no such tag or repository"),
            Freshness.UNKNOWN,
            "no such tag",
        ),
    ],
    ids=["outdated", "current", "pinned", "local-build", "registry-404"],
)
def test_each_verdict_and_its_reason(
    image: str,
    running: tuple[str, ...],
    head: ManifestHead | None,
    state: Freshness,
    why: str,
) -> None:
    heads = {image: head} if head else {}
    (row,) = plan_outdated(
        "compute", "qdrant", {"qdrant": image}, _running(image, running), heads, "qdrant"
    )
    assert row.state is state and why in row.why, row
    if state is Freshness.OUTDATED:
        assert (row.running, row.latest) == (OLD, NEW)


def test_a_service_without_container_is_not_running() -> None:
    (row,) = plan_outdated("compute", "qdrant", {"qdrant": f"{REPO}:lab"}, (), {}, "qdrant")
    assert row.state is Freshness.NOT_RUNNING and row.to_dict()["state"] == "not running"
