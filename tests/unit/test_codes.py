"""The sentinel exit codes (`nornir_homehub.codes`): distinct, clear of the shells' own codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nornir_homehub import codes
from nornir_homehub.connection import HomehubLocal
from nornir_homehub.errors import TransportError


def test_every_sentinel_is_distinct_and_no_shell_code() -> None:
    values = list(codes.SENTINELS.values())
    assert len(set(values)) == len(values)
    # 1 and 2: ordinary failures and usage errors; 126/127: not executable / not found;
    # 128 + N: killed by signal N.
    assert all(2 < v < 126 for v in values), codes.SENTINELS
    declared = {n: getattr(codes, n) for n in dir(codes) if n.startswith("EXIT_")}
    assert declared == codes.SENTINELS


def _local() -> HomehubLocal:
    conn = HomehubLocal()
    conn.open("localhost", None, None, None, None, {"inventory_name": "controller"})
    return conn


def test_read_file_tells_a_missing_file_from_an_unreadable_one(tmp_path: Path) -> None:
    conn = _local()
    (tmp_path / "present").write_bytes(b"\x00bytes\xff")
    assert conn.read_file(str(tmp_path / "present")) == b"\x00bytes\xff"
    assert conn.read_file(str(tmp_path / "absent")) is None  # EXIT_MISSING, not an error
    with pytest.raises(TransportError, match=r"controller: cannot read .*: cat: "):
        conn.read_file(str(tmp_path))  # exists, but cat fails on a folder
