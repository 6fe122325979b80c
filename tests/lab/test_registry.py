"""The lab's real registry (Distribution 2.8 on the dns host): outdated, --pull, pre-pull.

(1) A new qdrant stand-in pushed under the same tag (built on trusted, pushed there, so the
compute host really pulls it): ``outdated`` names compute/qdrant and exits 1; ``deploy --pull``
pulls it and recreates only qdrant, records a new release with the new digest, and the
report's ``image digests`` step shows it; ``outdated`` then exits 0; ``rollback qdrant``
returns to the previous release's digest (pinned), its checks pass, and ``outdated`` names the
stack again. The original image is pushed back and deployed at the end.
(2) A tag the registry does not have: deploy exits 1 with the registry's own message, the old
Open WebUI container still answers through Traefik, nothing of the stack changed on the host
(files, state record, container) and no release is recorded; the next run with the good tag
converges.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, run_cli

from nornir_homehub.lab.images import content_tag, context_files, context_hash

REG = "192.0.2.133:5000"
QDRANT = f"{REG}/homehub-standin/qdrant:lab"
VARIANT = (
    f"printf 'FROM {QDRANT}\\nLABEL org.homehub.test=registry-variant\\n' "
    f"| DOCKER_BUILDKIT=0 docker build -q -t {QDRANT} - >/dev/null && docker push -q {QDRANT}"
)


def host(lab: Any, name: str, command: str) -> str:
    res = lab.host_exec(name, command, timeout=300)
    assert res.returncode == 0, (command, res.stdout, res.stderr)
    return str(res.stdout)


def outdated(config: Path = LAB_CONFIG) -> tuple[int, dict[str, Any]]:
    res = run_cli("outdated", "--json", config=config)
    assert res.returncode in (0, 1), res.stdout[-2000:] + res.stderr[-2000:]
    return res.returncode, json.loads(res.stdout)


def deploy(*args: str, config: Path = LAB_CONFIG) -> subprocess.CompletedProcess[str]:
    return run_cli("deploy", "--no-verify", "--json", *args, config=config)


def releases(stack: str) -> list[dict[str, Any]]:
    res = run_cli("releases", stack, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    found: list[dict[str, Any]] = json.loads(res.stdout)["releases"]
    return found


def changed_stacks(data: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (h, t["name"])
        for h, v in data["hosts"].items()
        for t in v["tasks"]
        if t["changed"] and t["name"].startswith("stack:")
    )


def converge(config: Path = LAB_CONFIG) -> None:
    """A deploy exits 0 and the next one is a no-op."""
    res = deploy(config=config)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    noop = deploy(config=config)
    assert noop.returncode == 0, noop.stdout[-3000:] + noop.stderr[-3000:]
    assert changed_stacks(json.loads(noop.stdout)) == []


@pytest.fixture(scope="module")
def converged(lab: Any) -> Any:
    converge()
    return lab


def test_a_new_image_under_the_same_tag_is_outdated_then_pulled_and_deployed(
    converged: Any,
) -> None:
    lab = converged
    # A release of qdrant as it runs now (a forced deploy completes the stack and records one).
    base = deploy("--force", "--stacks", "qdrant")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]
    code, doc = outdated()
    assert code == 0 and doc["outdated"] == [], doc
    rows = {(r["host"], r["stack"]): r for r in doc["images"]}
    assert rows[("compute", "qdrant")]["state"] == "current", rows
    old_digest = rows[("compute", "qdrant")]["running"]
    assert old_digest.startswith("sha256:")
    old_id = host(lab, "compute", "docker inspect --format '{{.Image}}' qdrant").strip()
    ollama_id = host(lab, "compute", "docker inspect --format '{{.Id}}' ollama").strip()
    original = f"{REG}/homehub-standin/qdrant:{content_tag(context_hash(context_files('qdrant')))}"
    host(lab, "trusted", VARIANT)  # a new image under the same tag, pushed to the registry
    try:
        code, doc = outdated()
        assert code == 1 and doc["outdated"] == ["compute/qdrant"], doc
        row = next(r for r in doc["images"] if (r["host"], r["stack"]) == ("compute", "qdrant"))
        assert row["state"] == "outdated" and row["running"] == old_digest
        new_digest = row["latest"]
        assert new_digest.startswith("sha256:") and new_digest != old_digest
        # Nothing was pulled or changed by asking.
        assert host(lab, "compute", "docker inspect --format '{{.Image}}' qdrant").strip() == old_id

        res = deploy("--pull")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        data = json.loads(res.stdout)
        assert changed_stacks(data) == [("compute", "stack:qdrant")]
        tasks = data["hosts"]["compute"]["tasks"]
        digests = next(t["result"] for t in tasks if t["name"] == "image digests")
        assert digests["qdrant"]["qdrant"] == {
            "image": QDRANT,
            "digest": new_digest,
            "digest_source": "repo_digest",
        }
        assert host(lab, "compute", "docker inspect --format '{{.Image}}' qdrant").strip() != old_id
        # Only qdrant was recreated: ollama is the same container.
        assert host(lab, "compute", "docker inspect --format '{{.Id}}' ollama").strip() == ollama_id
        code, doc = outdated()
        assert code == 0 and doc["outdated"] == [], doc
        # The deploy recorded a release with the digest now running; the one before has the old.
        new, previous = releases("qdrant")[:2]
        assert new["current"] is True and new["rollback_of"] is None
        assert new["images"]["qdrant"]["repo_digest"].endswith("@" + new_digest), new
        assert previous["images"]["qdrant"]["image_id"] == old_id, previous
        # Rollback: the previous release's digest pinned, compose up, health, its checks pass.
        back = run_cli("rollback", "qdrant", "--json")
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
        assert json.loads(back.stdout)["ok"] is True
        assert host(lab, "compute", "docker inspect --format '{{.Image}}' qdrant").strip() == old_id
        pinned = host(lab, "compute", "grep 'image:' /opt/stacks/qdrant/compose.yaml")
        assert "@sha256:" in pinned, pinned
        rolled = releases("qdrant")[0]
        assert rolled["rollback_of"] == previous["id"] and rolled["current"] is True
        # The tag still names the new image: outdated says so again.
        code, doc = outdated()
        assert code == 1 and doc["outdated"] == ["compute/qdrant"], doc
    finally:
        host(lab, "trusted", f"docker tag {original} {QDRANT} && docker push -q {QDRANT}")
        back = deploy("--pull")
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    code, doc = outdated()
    assert code == 0, doc
    assert host(lab, "compute", "docker inspect --format '{{.Image}}' qdrant").strip() == old_id


def _set_image(config: Path, stack: str, ref: str) -> None:
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"]["images"][stack] = ref
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_tag_the_registry_lacks_fails_the_stack_and_the_old_container_serves(
    converged: Any, lab_copy: Path
) -> None:
    lab = converged
    snap = (
        "cd /opt/stacks/openwebui && sha256sum compose.yaml .env.openwebui .homehub-state.json "
        "&& docker inspect --format '{{.Id}} {{.State.Status}}' open-webui"
    )
    before = host(lab, "trusted", snap)
    recorded = [r["id"] for r in releases("openwebui")]
    good = yaml.safe_load((lab_copy.parent / "defaults.yaml").read_text())["data"]["images"]
    _set_image(lab_copy, "openwebui", f"{REG}/homehub-standin/openwebui:no-such-tag")
    res = deploy(config=lab_copy)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    data = json.loads(res.stdout)
    errors = [t["error"] for t in data["hosts"]["trusted"]["tasks"] if t.get("error")]
    message = " ".join(e["message"] for e in errors)
    assert "stack openwebui" in message and "manifest unknown" in message, errors
    assert "remedy:" in message
    # Nothing of the stack changed: files, state record, the very same container running.
    assert host(lab, "trusted", snap) == before
    assert [r["id"] for r in releases("openwebui")] == recorded, "a release was recorded"
    answer = host(
        lab,
        "trusted",
        "curl -s -o /dev/null -w '%{http_code}' -H 'Host: chat.homehub.test' "
        "-H 'X-Lab-Auth: homehub-lab' http://127.0.0.1/",
    )
    assert answer == "200", answer
    # No pull ran for the stacks whose image did not change.
    pull = next(t for t in data["hosts"]["trusted"]["tasks"] if t["name"] == "pull")
    assert list(pull["result"]["stacks"]) == ["openwebui"], pull
    # The good tag back: converges (exit 0, then a no-op).
    _set_image(lab_copy, "openwebui", good["openwebui"])
    converge(lab_copy)
