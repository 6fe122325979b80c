"""Issue 16's ``prune`` against the lab: an old image of a stack's repository goes, nothing else.

After a full ``deploy`` (the `deployed` fixture of test_operate), an extra image of Qdrant's
stand-in repository is built on the compute host: ``homehub-standin/qdrant:old-test``, ``FROM``
the image the stack runs plus a label, so it is a distinct image id that no container uses.
It is newer than the running one, so the default ``--keep 1`` keeps it (the newest unused image
of the repository); ``--keep 0`` lists it (dry run: still there), then removes it, and a second
run removes nothing. The stacks' current images and every container stay as they were (same
ids). The image is removed in a ``finally`` should a step fail (other sessions share the lab).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_operate import cli, deployed  # noqa: F401 - deployed is the module's fixture

OLD = "192.0.2.133:5000/homehub-standin/qdrant:old-test"
CURRENT = (
    "192.0.2.133:5000/homehub-standin/qdrant:lab",
    "192.0.2.133:5000/homehub-standin/ollama:lab",
)
BUILD = (
    f"printf 'FROM {CURRENT[0]}\\nLABEL org.homehub.test=prune-old\\n' "
    f"| DOCKER_BUILDKIT=0 docker build -q -t {OLD} -"
)


def image_id(lab: Any, ref: str) -> str | None:
    """The id of image ``ref`` on the compute host (None when there is none)."""
    res = lab.host_exec("compute", f"docker image inspect --format '{{{{.Id}}}}' {ref}")
    return res.stdout.strip() if res.returncode == 0 else None


def containers(lab: Any) -> list[str]:
    """``name id image-id`` of every container on the compute host (running or stopped)."""
    res = lab.host_exec(
        "compute",
        "docker inspect --type container --format '{{.Name}} {{.Id}} {{.Image}}' "
        "$(docker ps -aq --no-trunc)",
    )
    assert res.returncode == 0, res.stderr
    return sorted(res.stdout.splitlines())


def prune(*args: str) -> dict[str, Any]:
    """``prune --limit compute --json ARGS`` (exit 0); its document."""
    doc: dict[str, Any] = json.loads(cli("prune", "--limit", "compute", "--json", *args).stdout)
    assert doc["command"] == "prune" and doc["errors"] == {}, doc
    return doc


def row(doc: dict[str, Any], image: str) -> dict[str, Any]:
    """The document's row of image id ``image``."""
    (found,) = [i for i in doc["images"] if i["image_id"] == image]
    return found


# `lab up` also tags each pulled stand-in with its plain name (other tests build FROM it); that
# name is outside the stacks' repositories, so prune would keep the image for that reason
# first: untag it for this test, tag it again afterwards.
ALIASES = {ref: ref.removeprefix("192.0.2.133:5000/") for ref in CURRENT}


@pytest.fixture
def old_image(deployed: Any) -> Any:  # noqa: F811 - the imported fixture, requested here
    """Build the extra image; yield its id; remove it afterwards if a step left it."""
    lab = deployed
    built = lab.host_exec("compute", BUILD, timeout=300)
    assert built.returncode == 0, built.stderr
    old = image_id(lab, OLD)
    assert old is not None and old != image_id(lab, CURRENT[0])
    for alias in ALIASES.values():
        lab.host_exec("compute", f"docker image rm {alias} >/dev/null 2>&1")  # untag only
    try:
        yield old
    finally:
        if image_id(lab, OLD) is not None:
            lab.host_exec("compute", f"docker image rm {OLD}")
        for ref, alias in ALIASES.items():
            lab.host_exec("compute", f"docker tag {ref} {alias}")


def test_prune_lists_then_removes_only_the_old_image(deployed: Any, old_image: str) -> None:  # noqa: F811
    lab = deployed
    before = containers(lab)
    current = {ref: image_id(lab, ref) for ref in CURRENT}
    assert all(current.values()), current

    kept = prune("--dry-run")  # default keep 1: the newest unused image of the repository stays
    assert kept["dry_run"] is True
    assert row(kept, old_image)["action"] == "keep", row(kept, old_image)
    assert "newest 1 unused" in row(kept, old_image)["why"]
    in_use = row(kept, str(current[CURRENT[0]]))["why"]
    assert in_use.startswith("in use by container ") and "qdrant" in in_use, in_use

    listed = prune("--dry-run", "--keep", "0")
    old = row(listed, old_image)
    assert (old["host"], old["name"], old["action"]) == ("compute", OLD, "would remove"), old
    assert old["size"] > 0 and old["created"]
    assert image_id(lab, OLD) == old_image  # the dry run removed nothing
    would = [i["image_id"] for i in listed["images"] if i["action"] == "would remove"]
    assert not set(would) & set(current.values())

    done = prune("--keep", "0")
    assert done["dry_run"] is False
    removed = [i["image_id"] for i in done["images"] if i["action"] == "removed"]
    assert removed == would, done["images"]  # exactly what the dry run listed
    assert image_id(lab, OLD) is None
    assert {ref: image_id(lab, ref) for ref in CURRENT} == current
    assert containers(lab) == before  # no container touched: same names, ids and images

    again = prune("--keep", "0")
    assert [i for i in again["images"] if i["action"] != "keep"] == [], again["images"]
    assert "removed 0 image(s)" in cli("prune", "--limit", "compute", "--keep", "0").stderr
    assert containers(lab) == before
