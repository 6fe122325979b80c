"""The published JSON Schema of the report (``schema/report.v1.json``) and its validation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nornir_homehub.errors import ReportSchemaError


def report_schema() -> dict[str, Any]:
    """Return the published JSON Schema of the report (``schema/report.v1.json``)."""
    from importlib import resources

    text = resources.files("nornir_homehub").joinpath("schema", "report.v1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_report(data: Mapping[str, Any]) -> None:
    """Check a report document against the JSON Schema.

    Raises:
        ReportSchemaError: listing the JSON path and message of the first violations.

    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{e.json_path}: {_short(e.message)}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportSchemaError(
            "report does not match schema report.v1.json:\n  " + "\n  ".join(lines) + more
        )
