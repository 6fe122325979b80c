"""Run reports: what every command that touches hosts leaves behind.

A `RunRecorder` collects Nornir results, checks and host errors stage by stage while a command
runs; `RunRecorder.finish` freezes them into a `RunReport`, the versioned JSON document (schema
``schema/report.v1.json``) that CI reads, the terminal summarises and notebooks display.
`recording` guarantees the report, the JUnit file and the history entry are written even when
the run fails or is interrupted. Every string entering a report goes through the redactor.

One module per question:

- `model`: the records and `RunReport` (to and from the JSON document);
- `clean`: JSON-ready values, redacted and cut (`clean`, `error_from_exception`);
- `recorder`: `RunRecorder` and `recording`;
- `timing`: how long each task took (`TimingProcessor`, `Timings`);
- `files`: atomic 0600 writes (`write_report`, `load_report`, `private_dir`);
- `junit`, `history`, `schema` (`validate_report`);
- `views`: rows, DataFrame, repr and HTML of a report; `summary`: the end-of-run table.
"""

from __future__ import annotations

from nornir_homehub.errors import ReportError, ReportSchemaError
from nornir_homehub.report.clean import MAX_TEXT, Redact, clean, error_from_exception
from nornir_homehub.report.files import load_report, private_dir, write_report
from nornir_homehub.report.history import HISTORY_KEEP, HistoryEntry, list_history, save_history
from nornir_homehub.report.junit import junit_xml, write_junit
from nornir_homehub.report.model import (
    SCHEMA_VERSION,
    CheckRecord,
    ErrorRecord,
    HostRecord,
    RunReport,
    StageRecord,
    StopRecord,
    TaskRecord,
)
from nornir_homehub.report.phases import PhaseClock, phase, profile_table
from nornir_homehub.report.recorder import RunRecorder, recording
from nornir_homehub.report.schema import report_schema, validate_report
from nornir_homehub.report.timing import DurationSource, TimingProcessor, Timings

__all__ = [
    "HISTORY_KEEP",
    "MAX_TEXT",
    "SCHEMA_VERSION",
    "CheckRecord",
    "DurationSource",
    "ErrorRecord",
    "HistoryEntry",
    "HostRecord",
    "PhaseClock",
    "Redact",
    "ReportError",
    "ReportSchemaError",
    "RunRecorder",
    "RunReport",
    "StageRecord",
    "StopRecord",
    "TaskRecord",
    "TimingProcessor",
    "Timings",
    "clean",
    "error_from_exception",
    "junit_xml",
    "list_history",
    "load_report",
    "phase",
    "private_dir",
    "profile_table",
    "recording",
    "report_schema",
    "save_history",
    "validate_report",
    "write_junit",
    "write_report",
]
