"""plan_prune: data-driven cases (images + containers + compose images -> what goes, what stays).

``tests/unit/cases/plan_prune/*.yaml``: ``keep``, ``wanted`` (image reference a compose file
names -> its stack), ``containers`` (container -> image id) and ``images`` (id, tags, digests,
created, size, parent) in; ``expect`` the stacks' repositories, every listed image as ``[name,
id, keep|remove, a fragment of the reason]`` in order, and the exact removal commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.facts.images import ImageFact
from nornir_homehub.plan.prune import ImageRef, parse_reference, plan_prune, removal_outcome

CASES = sorted((Path(__file__).parent / "cases" / "plan_prune").glob("*.yaml"))


def _images(case: dict[str, Any]) -> list[ImageFact]:
    return [
        ImageFact(
            i["id"],
            tuple(i.get("tags", ())),
            tuple(i.get("digests", ())),
            i.get("created", ""),
            i.get("size", 0),
            i.get("parent", ""),
        )
        for i in case["images"]
    ]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_prune(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    in_use: dict[str, list[str]] = {}
    for container, image_id in (case.get("containers") or {}).items():
        in_use.setdefault(image_id, []).append(container)
    plan = plan_prune("compute", _images(case), in_use, case["wanted"], case["keep"])
    want = case["expect"]
    assert list(plan.repositories) == want["repositories"]
    got = [[d.name, d.image_id, "remove" if d.remove else "keep", d.reason] for d in plan.images]
    assert [g[:3] for g in got] == [w[:3] for w in want["images"]], got
    for g, w in zip(got, want["images"], strict=True):
        assert w[3] in g[3], (g, w)
    assert plan.commands() == want["commands"]
    assert all(d.host == "compute" for d in plan.images)
    assert plan.to_dict()["images"][0]["reason"] == plan.images[0].reason


def test_there_are_enough_cases_and_none_forces() -> None:
    assert len(CASES) >= 6
    for path in CASES:
        assert "-f" not in " ".join(yaml.safe_load(path.read_text())["expect"]["commands"])


# A reference as compose names it -> (repository, tag, digest) as Docker shows them.
REFERENCES = {
    "qdrant/qdrant:v1.12.4": ("qdrant/qdrant", "v1.12.4", ""),
    "docker.io/library/redis": ("redis", "latest", ""),
    "index.docker.io/ollama/ollama:0.5.4": ("ollama/ollama", "0.5.4", ""),
    "ghcr.io/library/x:1": ("ghcr.io/library/x", "1", ""),
    "registry.local:5000/app": ("registry.local:5000/app", "latest", ""),
    "ollama/ollama:0.5.4@sha256:5d": ("ollama/ollama", "0.5.4", "sha256:5d"),
    "ollama/ollama@sha256:5d": ("ollama/ollama", "", "sha256:5d"),
}


@pytest.mark.parametrize("ref", list(REFERENCES))
def test_references_are_read_as_docker_shows_them(ref: str) -> None:
    assert parse_reference(ref) == ImageRef(*REFERENCES[ref])


@pytest.mark.parametrize(
    ("code", "stderr", "outcome"),
    [
        (0, "", "removed"),
        (
            1,
            "Error response from daemon: conflict: unable to delete 3c3c8f2b1a0e (cannot be "
            "forced) - image is being used by running container 1f2e3d4c5b6a\n",
            "in use",
        ),
        (
            1,
            "Error response from daemon: conflict: unable to delete 3c3c8f2b1a0e (must be "
            "forced) - image is being used by stopped container 1f2e3d4c5b6a\n",
            "in use",
        ),
        (1, "Error response from daemon: No such image: sha256:3c3c\n", "gone"),
        (
            1,
            "Error response from daemon: conflict: unable to delete 3c3c8f2b1a0e (cannot be "
            "forced) - image has dependent child images\n",
            "failed",
        ),
        (125, "", "failed"),
    ],
)
def test_what_docker_image_rm_answered(code: int, stderr: str, outcome: str) -> None:
    got, detail = removal_outcome(code, stderr)
    assert got == outcome
    assert detail == ("" if code == 0 else stderr.strip() or f"exit {code}")
