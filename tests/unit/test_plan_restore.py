"""plan_restore and its parsers: data-driven cases (manifest + hashes on the host -> the plan).

``tests/unit/cases/plan_restore/*.yaml``: ``stacks`` (stack -> its data dirs on the host),
``manifest`` (the run's manifest.json as the backup writes it, or ``manifest_text`` verbatim),
``sums`` (``sha256sum`` output in the run folder), ``sizes`` (data dir -> bytes, null when
missing), optional ``only``; ``expect`` the items ``[stack, path, archive]`` in order, the
skipped ``[what, why fragment]``, the refused archives ``[file, why fragment]`` and lines of
the dry run; or ``error``, a fragment of the PlanError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from compute_double import bare_stack

from nornir_homehub.errors import PlanError
from nornir_homehub.plan.restore import parse_manifest, parse_sums, pick_run, plan_restore

CASES = sorted((Path(__file__).parent / "cases" / "plan_restore").glob("*.yaml"))
RUN = "20261201T120000Z"


def _plan(case: dict[str, Any]) -> Any:
    text = case.get("manifest_text") or json.dumps(case["manifest"])
    entries = parse_manifest("compute", f"/srv/backups/homehub/{RUN}/manifest.json", text)
    stacks = [bare_stack(name, *dirs) for name, dirs in case["stacks"].items()]
    return plan_restore(
        "compute",
        stacks,
        entries,
        backup_dir="/srv/backups/homehub",
        run=RUN,
        data_root="/srv/docker",
        sums=parse_sums(case.get("sums", "")),
        data_sizes=case.get("sizes", {}),
        only=case.get("only"),
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_restore(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    if "error" in case:
        with pytest.raises(PlanError, match=case["error"]):
            _plan(case)
        return
    plan = _plan(case)
    expect = case["expect"]
    assert [[i.entry.stack, i.entry.path, i.entry.file] for i in plan.items] == expect["items"]
    assert len(plan.skipped) == len(expect.get("skipped", []))
    for (what, why), (want, fragment) in zip(plan.skipped, expect.get("skipped", []), strict=True):
        assert what == want and fragment in why
    assert plan.refused is bool(expect.get("refused"))
    for (file, why), (want, fragment) in zip(
        plan.mismatches, expect.get("refused") or [], strict=True
    ):
        assert file == want and fragment in why
    text = plan.describe()
    for line in expect.get("lines", []):
        assert line in text, text
    assert json.loads(json.dumps(plan.to_dict()))["refused"] is plan.refused


def test_pick_run_defaults_to_the_newest_and_names_what_is_wrong() -> None:
    runs = ("20261129T120000Z", "20261130T120000Z")
    assert pick_run("compute", runs, None) == "20261130T120000Z"
    assert pick_run("compute", runs, "20261129T120000Z") == "20261129T120000Z"
    with pytest.raises(PlanError, match=r"no backup run 20261128T120000Z .* newest: 2026"):
        pick_run("compute", runs, "20261128T120000Z")
    with pytest.raises(PlanError, match="not a run name"):
        pick_run("compute", runs, "../etc")
    with pytest.raises(PlanError, match="run `run backup` first"):
        pick_run("compute", (), None)


def test_parse_sums_reads_sha256sum_lines_and_ignores_the_rest() -> None:
    digest = "a" * 64
    text = (
        f"{digest}  qdrant--qdrant_storage.tar.gz\n{digest} *b.tar.gz\nsha256sum: x: No such file\n"
    )
    assert parse_sums(text) == {"qdrant--qdrant_storage.tar.gz": digest}
