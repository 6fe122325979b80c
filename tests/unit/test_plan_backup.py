"""Backup planning: archives per data dir, retention, safety of backup_dir. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from compute_double import bare_stack

from nornir_homehub.errors import PlanError
from nornir_homehub.plan.backup import (
    parse_runs,
    parse_sizes,
    plan_backup,
    plan_retention,
    run_name,
)


@pytest.mark.parametrize(
    ("existing", "new", "keep", "kept", "deleted"),
    [
        ([], "20250102T000000Z", 7, ["20250102T000000Z"], []),
        (
            ["20250101T000000Z", "20240101T000000Z"],
            "20250102T000000Z",
            2,
            ["20250101T000000Z", "20250102T000000Z"],
            ["20240101T000000Z"],
        ),
        (
            ["20250101T000000Z", "notes", "x.tar.gz"],
            "20250102T000000Z",
            1,
            ["20250102T000000Z"],
            ["20250101T000000Z"],
        ),
        (["20250101T000000Z"], None, 1, ["20250101T000000Z"], []),
    ],
)
def test_retention_keeps_the_newest_and_ignores_other_names(
    existing: list[str], new: str | None, keep: int, kept: list[str], deleted: list[str]
) -> None:
    r = plan_retention(existing, new, keep)
    assert (list(r.keep), list(r.delete)) == (kept, deleted)


def test_keep_below_one_is_refused() -> None:
    with pytest.raises(PlanError, match="backup_keep"):
        plan_retention([], None, 0)


def test_plan_archives_each_existing_data_dir_and_stops_listed_stacks() -> None:
    plan = plan_backup(
        "compute",
        [
            bare_stack("ollama", "/srv/docker/ollama/data"),
            bare_stack("qdrant", "/srv/docker/qdrant/storage"),
        ],
        backup_dir="/srv/backups/homehub",
        data_root="/srv/docker",
        run="20250102T000000Z",
        keep=7,
        stop={"qdrant"},
        existing_runs=[],
        data_sizes={"/srv/docker/ollama/data": 10, "/srv/docker/qdrant/storage": None},
    )
    assert [(i.archive, i.rel, i.stop) for i in plan.items] == [
        ("ollama--ollama_data.tar.gz", "ollama/data", False)
    ]
    assert plan.skipped[0][0] == "/srv/docker/qdrant/storage"
    assert plan.run_dir == "/srv/backups/homehub/20250102T000000Z"
    assert "archive /srv/docker/ollama/data -> ollama--ollama_data.tar.gz" in plan.describe()


@pytest.mark.parametrize(
    "backup_dir", ["/srv/docker", "/srv/docker/backups", "/srv", "backups", "/"]
)
def test_backup_dir_overlapping_the_data_or_relative_is_refused(backup_dir: str) -> None:
    with pytest.raises(PlanError, match="backup_dir"):
        plan_backup(
            "compute",
            [],
            backup_dir=backup_dir,
            data_root="/srv/docker",
            run="20250102T000000Z",
            keep=7,
            stop=set(),
            existing_runs=[],
            data_sizes={},
        )


def test_parsers_and_run_name() -> None:
    assert parse_runs("notes\n20250101T000000Z\n") == ("20250101T000000Z",)
    assert parse_sizes("12 /a\nMISSING /b\n") == {"/a": 12, "/b": None}
    assert run_name(datetime(2025, 10, 13, 10, 15, tzinfo=UTC)) == "20251013T101500Z"
