"""``prune`` through the engine and the real CLI, without a lab.

The library command runs on the lab inventory's compute host with a scripted connection (the
stacks rendered with the lab vault, as a run renders them); the CLI runs with every connection
refused (hosts on a closed loopback port): what a user sees when the hosts are down, and that
nothing is removed by a dry run, is checked as the real command prints it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from bad_input import no_connections
from prune_double import (
    OLLAMA_OLD,
    QDRANT_V0,
    QDRANT_V1,
    RELEASES,
    lock_script,
    prune_script,
    rm,
)
from test_operate_commands import _compute, _invoke, _refused_site, _site

from nornir_homehub.config import load_settings
from nornir_homehub.prune import PRUNE_HEADER, prune_images


def test_the_dry_run_report_lists_each_image_with_why_and_removes_nothing(tmp_path: Path) -> None:
    config = _site(tmp_path)
    script, batch = prune_script(releases=True)
    nr, host = _compute(config, script)
    found = prune_images(nr, load_settings(config), dry_run=True)
    assert found.ok and host.ran == [*batch.values(), RELEASES]
    doc = found.to_dict()
    assert (doc["format"], doc["command"], doc["dry_run"], doc["errors"]) == (1, "prune", True, {})
    assert doc["run_id"]
    rows = [(i["host"], i["name"], i["action"]) for i in doc["images"]]
    assert rows == [
        ("compute", "192.0.2.133:5000/homehub-standin/ollama:lab", "keep"),
        ("compute", "192.0.2.133:5000/homehub-standin/ollama:old", "keep"),
        ("compute", "192.0.2.133:5000/homehub-standin/qdrant:lab", "keep"),
        ("compute", "192.0.2.133:5000/homehub-standin/qdrant:v1", "keep"),
        ("compute", "192.0.2.133:5000/homehub-standin/qdrant:v0", "would remove"),
    ]
    gone = doc["images"][-1]
    assert gone["image_id"] == QDRANT_V0 and gone["size"] == 1_100_000
    assert gone["created"] == "2026-11-10T08:00:00Z" and "beyond the newest 1" in gone["why"]
    text = repr(found)
    assert text.splitlines()[0].split() == PRUNE_HEADER
    last = text.splitlines()[-1].split()
    assert last[:8] == [
        "compute",
        "192.0.2.133:5000/homehub-standin/qdrant:v0",
        "a0" * 6,
        "1.1",
        "MB",
        "2026-11-10T08:00:00",
        "would",
        "remove",
    ]
    assert found.summary() == "dry run: 1 image(s) would be removed (1.1 MB), 4 kept"
    assert "<td>would remove</td>" in found._repr_html_()


def test_images_keep_in_the_inventory_and_the_real_run(tmp_path: Path) -> None:
    config = _site(tmp_path)
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"]["images_keep"] = 0
    defaults.write_text(yaml.safe_dump(doc))
    script, _ = prune_script(rm(OLLAMA_OLD), rm(QDRANT_V1), rm(QDRANT_V0), releases=True)
    nr, host = _compute(config, [*lock_script(), *script])
    found = prune_images(nr, load_settings(config))
    assert found.ok and host.unused() == []
    # The real run takes the host's deploy lock first, appends its audit line, releases last.
    assert "mkdir /var/lib/homehub/lock" in host.ran[0]
    assert host.ran[3:6] == [f"docker image rm {i}" for i in (OLLAMA_OLD, QDRANT_V1, QDRANT_V0)]
    assert host.ran[6] == RELEASES  # the releases stage: none here
    assert "audit.jsonl" in host.ran[7] and '"command":"prune"' in host.ran[7]
    assert "rmdir /var/lib/homehub/lock" in host.ran[8] and len(host.ran) == 9
    assert [r["action"] for r in found.to_dict()["images"]].count("removed") == 3
    assert found.summary().startswith("removed 3 image(s) (3.3 MB), 2 kept")
    assert found.report is not None and not found.report.failed_hosts


def test_a_failed_removal_is_exit_1_material_naming_host_and_image(tmp_path: Path) -> None:
    config = _site(tmp_path)
    script, _ = prune_script(
        rm(QDRANT_V0, exit=1, err="Error response from daemon: busy\n"), releases=True
    )
    nr, host = _compute(config, [*lock_script(), *script])
    found = prune_images(nr, load_settings(config))
    assert not found.ok and found.errors == {}
    # The host failed in the run, and still gets its audit line and its lock back.
    assert "audit.jsonl" in host.ran[-2] and "rmdir /var/lib/homehub/lock" in host.ran[-1]
    (row,) = [r for r in found.cells() if r[5] == "failed"]
    assert row[:2] == ["compute", "192.0.2.133:5000/homehub-standin/qdrant:v0"]
    assert row[6].endswith("; Error response from daemon: busy")


def test_prune_with_hosts_down_names_each_host_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, attempts = _invoke(_refused_site(tmp_path), monkeypatch, "prune", "--dry-run", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["command"] == "prune" and doc["dry_run"] is True and doc["images"] == []
    assert sorted(doc["errors"]) == ["compute", "trusted"]  # the dns host has no stacks
    assert attempts and "Traceback" not in res.output


def test_prune_text_with_the_host_down_says_which_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, _ = _invoke(_refused_site(tmp_path), monkeypatch, "prune", "--limit", "compute")
    assert res.exit_code == 1, res.output
    assert [ln.split()[:2] for ln in res.stdout.splitlines()[1:]] == [["compute", "-"]]
    assert "error" in res.stdout.splitlines()[1]
    assert "removed 0 image(s)" in res.stderr


def test_the_notebook_gets_the_same_report_and_a_dry_run_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nornir_homehub import HomeHub

    hub = HomeHub(_refused_site(tmp_path)).filter(role="compute")
    monkeypatch.chdir(tmp_path)
    with no_connections(monkeypatch) as attempts:
        found = hub.prune(keep=0)
    assert attempts and found.dry_run and list(found.errors) == ["compute"]
    html = found._repr_html_()
    assert not found.ok and "<td>compute</td>" in html and "<td>error</td>" in html
