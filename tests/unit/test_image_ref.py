"""`imageref.parse_reference` from data cases (tests/unit/cases/image_ref/*.yaml).

Each case gives a reference and the parts it has (registry, repository, tag, digest and the
host that serves its API), or the error it raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.imageref import parse_reference

CASES = sorted((Path(__file__).parent / "cases" / "image_ref").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_image_ref_case(path: Path) -> None:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    assert case.get("description"), path
    if "raises" in case:
        with pytest.raises(ValueError, match=case["raises"]["match"]):
            parse_reference(case["input"])
        return
    ref = parse_reference(case["input"])
    assert {**ref.to_dict(), "api_host": ref.api_host} == case["expect"]
