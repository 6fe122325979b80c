"""Issue 15 (part B) against the lab: releases, rollback, and the automatic rollback.

(1) A deploy of a changed value records a new release; ``releases --json`` lists it with the
image each service runs; ``rollback litellm`` returns to the previous release's files and
image, its checks pass, and the next deploy converges; ``rollback --dry-run`` before it shows
that diff and changes nothing. (3) An Open WebUI image that turns
unhealthy (a STAND-IN variant built on the host with the stand-ins' fault knob) is rolled back
automatically, the report says to which release and why, and the service answers afterwards;
with ``--no-rollback`` the failed state stays; the next good deploy converges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, copy_lab_inventory, run_cli

LITELLM_CONFIG = "/opt/stacks/litellm/config/config.yaml"


def edit(config: Path, **data: Any) -> None:
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"].update(data)
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))


def releases(stack: str) -> list[dict[str, Any]]:
    res = run_cli("releases", stack, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    found: list[dict[str, Any]] = json.loads(res.stdout)["releases"]
    return found


def sha(lab: Any, path: str) -> str:
    return str(lab.host_exec("trusted", f"sha256sum {path}").stdout.split()[0])


def image_id(lab: Any, container: str) -> str:
    return lab.host_exec(
        "trusted", f"docker inspect -f '{{{{.Image}}}}' {container}"
    ).stdout.strip()


def health(lab: Any, container: str) -> str:
    fmt = "'{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}'"
    return lab.host_exec("trusted", f"docker inspect -f {fmt} {container}").stdout.strip()


def converges(config: Path = LAB_CONFIG) -> None:
    res = run_cli("deploy", "--no-verify", config=config)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    noop = run_cli("deploy", "--no-verify", "--json", config=config)
    assert noop.returncode == 0, noop.stderr[-3000:]
    assert json.loads(noop.stdout)["summary"]["hosts_changed"] == 0


@pytest.fixture(scope="module", autouse=True)
def deployed(lab: Any) -> Any:
    """Every stack deployed first, so that this module also runs alone on a fresh lab."""
    converges()
    return lab


def test_a_changed_value_records_a_release_and_rollback_returns_to_the_previous(
    lab: Any, tmp_path: Path
) -> None:
    # A release of every stack to start from (a forced deploy completes every stack).
    base = run_cli("deploy", "--no-verify", "--force", "--stacks", "litellm")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]
    before = releases("litellm")
    assert before and before[0]["current"] is True
    old_config = sha(lab, LITELLM_CONFIG)
    old_image = image_id(lab, "litellm")
    assert before[0]["files"][LITELLM_CONFIG] == old_config
    assert before[0]["images"]["litellm"]["image_id"] == old_image
    # A changed value (one more model in LiteLLM's config) deployed from an inventory copy.
    copy = copy_lab_inventory(tmp_path / "inv")
    doc = yaml.safe_load((copy.parent / "defaults.yaml").read_text())
    edit(copy, ollama_models=[*doc["data"]["ollama_models"], "llama3.2:3b"])
    changed = run_cli("deploy", "--no-verify", "--stacks", "litellm", config=copy)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    after = releases("litellm")
    assert len(after) == len(before) + 1
    new = after[0]
    assert new["current"] is True and new["rollback_of"] is None
    assert new["files"][LITELLM_CONFIG] == sha(lab, LITELLM_CONFIG) != old_config
    assert new["images"]["litellm"]["image_id"] == image_id(lab, "litellm")
    assert new["command"].endswith("deploy --no-verify --stacks litellm")
    # A dry run first: the diff it would make (the added model goes), and nothing changed:
    # the file and the image on the host, the releases, the audit log.
    audits = len(json.loads(run_cli("audit", "--json").stdout)["entries"])
    dry = run_cli("rollback", "litellm", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    preview = json.loads(dry.stdout)
    assert preview["dry_run"] is True and preview["ok"] is True
    tasks = {t["name"]: t for t in preview["hosts"]["trusted"]["tasks"]}
    assert tasks["rollback litellm"]["result"]["to"] == before[0]["id"]
    assert f"--- trusted:{LITELLM_CONFIG}" in tasks["stack:litellm"]["diff"]
    assert '-  - model_name: "llama3.2:3b"' in tasks["stack:litellm"]["diff"].splitlines()
    assert sha(lab, LITELLM_CONFIG) == new["files"][LITELLM_CONFIG]
    assert image_id(lab, "litellm") == new["images"]["litellm"]["image_id"]
    assert len(releases("litellm")) == len(after)
    assert len(json.loads(run_cli("audit", "--json").stdout)["entries"]) == audits
    # The Python API's dry run: the same target, nothing changed either.
    from nornir_homehub import HomeHub

    api = HomeHub(LAB_CONFIG).rollback("litellm", dry_run=True)
    assert api.ok and api.dry_run
    api_tasks = {t["name"]: t for t in api.to_dict()["hosts"]["trusted"]["tasks"]}
    assert api_tasks["rollback litellm"]["result"]["to"] == before[0]["id"]
    assert sha(lab, LITELLM_CONFIG) == new["files"][LITELLM_CONFIG]
    assert len(releases("litellm")) == len(after)
    # Back to the previous release: its config file byte for byte, its image; checks pass.
    back = run_cli("rollback", "litellm", "--json")
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert sha(lab, LITELLM_CONFIG) == old_config
    assert image_id(lab, "litellm") == old_image
    assert "llama3.2:3b" not in lab.host_exec("trusted", f"cat {LITELLM_CONFIG}").stdout
    report = json.loads(back.stdout)
    assert report["ok"] is True
    rolled = releases("litellm")[0]
    assert rolled["rollback_of"] == before[0]["id"] and rolled["current"] is True
    # The audit has the rollback, with the release it returned to.
    audit = json.loads(run_cli("audit", "--json", "--filter", "command=rollback").stdout)
    entry = next(e for e in audit["entries"] if e["host"] == "trusted")
    assert entry["stacks"]["litellm"]["rolled_back_to"] == before[0]["id"]
    converges()


def test_an_unhealthy_image_is_rolled_back_automatically(lab: Any, tmp_path: Path) -> None:
    base = run_cli("deploy", "--no-verify", "--force", "--stacks", "openwebui")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]
    good = releases("openwebui")[0]
    good_image = image_id(lab, "open-webui")
    # A STAND-IN variant whose server exits 2 s after each start (the stand-ins' fault knob).
    lab.host_exec(
        "trusted",
        "printf 'FROM homehub-standin/openwebui:lab\\nENV STANDIN_EXIT_AFTER=2\\n' | "
        "DOCKER_BUILDKIT=0 docker build -q -t homehub-test/openwebui-unhealthy:lab -",
        timeout=180,
    )
    copy = copy_lab_inventory(tmp_path / "inv")
    doc = yaml.safe_load((copy.parent / "defaults.yaml").read_text())
    edit(
        copy,
        images={**doc["data"]["images"], "openwebui": "homehub-test/openwebui-unhealthy:lab"},
        deploy_stable_window=5,
    )
    report = tmp_path / "auto.json"
    res = run_cli(
        "deploy", "--no-verify", "--stacks", "openwebui", "--report", str(report), config=copy
    )
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    text = report.read_text()
    assert f"rolled back automatically to release {good['id']}" in text, text[-3000:]
    assert "because its health wait failed" in text
    # The service answers again on the good release's image.
    assert image_id(lab, "open-webui") == good_image
    assert health(lab, "open-webui") == "running healthy"
    answer = lab.host_exec(
        "trusted", "docker exec open-webui wget -q -O /dev/null http://127.0.0.1:8080/health"
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    newest = releases("openwebui")[0]
    assert newest["rollback_of"] == good["id"] and "health wait failed" in newest["reason"]
    # --no-rollback keeps the failed state for debugging.
    kept = run_cli("deploy", "--no-verify", "--stacks", "openwebui", "--no-rollback", config=copy)
    assert kept.returncode == 1, kept.stdout[-3000:] + kept.stderr[-3000:]
    assert "rolled back" not in kept.stdout + kept.stderr
    assert image_id(lab, "open-webui") != good_image
    assert releases("openwebui")[0]["id"] == newest["id"]  # no release for a failed deploy
    # The next good deploy converges.
    converges()
    assert health(lab, "open-webui") == "running healthy"
    lab.host_exec("trusted", "docker rmi homehub-test/openwebui-unhealthy:lab >/dev/null 2>&1")
