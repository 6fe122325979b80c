"""Models as desired state, pure code: one YAML case per situation (tests/unit/cases/models/).

Each case names the ``function`` (`plan_model_pulls`, `plan_model_prune`, `entry_problems`,
`parse_model_entries`), its input (``entries`` + ``installed``, or ``value``) and ``expect``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.plan.models import (
    entry_problems,
    parse_model_entries,
    plan_model_prune,
    plan_model_pulls,
)

CASES = sorted((Path(__file__).parent / "cases" / "models").glob("*.yaml"))


def _run(case: dict[str, Any]) -> Any:
    fn = case["function"]
    if fn == "plan_model_pulls":
        plans = plan_model_pulls(parse_model_entries(case["entries"]), case["installed"])
        if "pull_refs" in case:
            assert [p.entry.pull_ref for p in plans] == case["pull_refs"]
        return [p.to_dict() for p in plans]
    if fn == "plan_model_prune":
        return plan_model_prune(parse_model_entries(case["entries"]), case["installed"])
    if fn == "entry_problems":
        return [[list(where), message] for where, message in entry_problems(case["value"])]
    assert fn == "parse_model_entries", fn
    return [e.to_dict() for e in parse_model_entries(case["value"])]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_models_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert _run(case) == case["expect"]
