"""The secret scanner: every form of cases/secrets/forms.yaml is found, at its byte offset, in a
planted file (also gzipped); hits name the secret, never its value."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pytest
from secret_forms import FORM_CASES, build

from nornir_homehub.testing.secret_scan import (
    CHUNK,
    MIN_SECRET,
    Hit,
    scan_bytes,
    scan_file,
    scan_tree,
    secret_forms,
)

NAME = "vault_x_key"


@pytest.mark.parametrize("case", FORM_CASES, ids=[c["id"] for c in FORM_CASES])
def test_scanner_finds_every_form_in_a_planted_file(case: dict[str, Any], tmp_path: Path) -> None:
    text, start = build(case)
    planted = tmp_path / "artefact.log"
    planted.write_bytes(text.encode())
    hits, stats = scan_file(planted, {NAME: case["value"], "other": "NotInTheFile0123456789"})
    assert stats.files == 1
    offset = len(text[:start].encode())
    assert [(h.offset, h.secret) for h in hits] == [(offset, NAME)], [str(h) for h in hits]
    # The report of a hit names the file, the offset and the secret: never the value.
    shown = str(hits[0])
    assert shown.startswith(f"{planted}: byte {offset}: secret {NAME} (")
    assert case["value"] not in shown


def test_gzipped_content_is_scanned(tmp_path: Path) -> None:
    value = "ArchivedSecretValue0123456789"
    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(gzip.compress(b"data\n" * 100 + b"KEY=" + value.encode() + b"\n"))
    hits, _ = scan_file(archive, {"vault_k": value})
    assert [str(h) for h in hits] == [f"{archive} (gunzipped): byte 504: secret vault_k (raw)"]


def test_log_scanned_from_an_offset(tmp_path: Path) -> None:
    value = "LoggedBeforeTheSession012345"
    log = tmp_path / "sshd.log"
    log.write_bytes(value.encode() + b"\nold line\n")
    start = log.stat().st_size
    with log.open("ab") as fh:
        fh.write(b"new line " + value.encode() + b"\n")
    hits, _ = scan_file(log, {"k": value}, start=start)
    assert [h.offset for h in hits] == [start + len("new line ")]


def test_a_long_file_is_searched_whole_also_across_its_chunks(tmp_path: Path) -> None:
    # Past the end of the first chunk, one value written across the cut between two chunks
    # (and wrapped over a line there), and one 5 chunks in (beyond the 64 MiB this once read).
    value = "LongLogSecretValue0123456789"
    raw = value.encode()
    filler = b"x" * 99 + b"\n"
    log = tmp_path / "dockerd.log"
    with log.open("wb") as fh:
        across = CHUNK - 10
        fh.write((filler * (across // len(filler) + 1))[:across])
        fh.write(raw[:12] + b"\n  " + raw[12:] + b"\n")
        far = 5 * CHUNK
        fh.write(b"y" * (far - fh.tell()))
        fh.write(b"KEY=" + raw + b"\n")
    hits, stats = scan_file(log, {"vault_log": value})
    assert [(h.offset, h.secret) for h in hits] == [(across, "vault_log"), (far + 4, "vault_log")]
    assert stats.cut == 0
    assert stats.bytes == log.stat().st_size
    archive = tmp_path / "dockerd.log.gz"
    archive.write_bytes(gzip.compress(log.read_bytes(), compresslevel=1))
    hits, _ = scan_file(archive, {"vault_log": value})
    assert [(h.path, h.offset) for h in hits] == [
        (f"{archive} (gunzipped)", across),
        (f"{archive} (gunzipped)", far + 4),
    ]


def test_tree_skips_allowed_files_old_files_and_skipped_dirs(tmp_path: Path) -> None:
    value = "TreeSecretValue0123456789"
    (tmp_path / "a").mkdir()
    (tmp_path / "docker").mkdir()
    (tmp_path / "a" / "leak.txt").write_text(f"x {value}")
    (tmp_path / "a" / "vault_pass.txt").write_text(value)
    (tmp_path / "docker" / "config.v2.json").write_text(value)
    old = tmp_path / "a" / "old.txt"
    old.write_text(value)
    os.utime(old, (1_000_000, 1_000_000))
    (tmp_path / "a" / "link").symlink_to(tmp_path / "docker" / "config.v2.json")
    hits, stats = scan_tree(
        [tmp_path, tmp_path / "missing"],
        {"k": value},
        allowed=lambda p: p.name == "vault_pass.txt",
        since=2_000_000,
        skip_dirs=[tmp_path / "docker"],
    )
    assert hits == [Hit(str(tmp_path / "a" / "leak.txt"), 2, "k", "raw")]
    assert (stats.files, stats.allowed) == (1, 1)


def test_short_values_are_not_searched() -> None:
    assert scan_bytes(b"abc abc abc", {"short": "abc"}) == []
    assert all(len(f) >= MIN_SECRET for f in secret_forms("abcdefgh").values())
    forms = secret_forms("QdrantLabKey0123456789")
    assert {"raw", "hex", "base64+0", "base64+1", "base64+2"} <= set(forms)
    assert scan_bytes(
        b"x" + b"QdrantLabKey0123456789".hex().upper().encode(),
        {"k": "QdrantLabKey0123456789"},
    ) == [(1, "k", "hex")]
    # Forms that are the same bytes (an alphanumeric value URL-encodes to itself) once.
    assert len(set(forms.values())) == len(forms)
