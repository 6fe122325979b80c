"""The report as JUnit XML: one testsuite per stage, one testcase per host task and check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from nornir_homehub.checks.model import Status
from nornir_homehub.report.files import atomic_write
from nornir_homehub.report.model import ErrorRecord

if TYPE_CHECKING:
    from nornir_homehub.report.model import RunReport

# XML 1.0 forbids most control characters; command output (ANSI colours) contains them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("?", text)


def junit_xml(report: RunReport) -> str:
    """Return the report as JUnit XML.

    One ``testsuite`` per stage; one ``testcase`` per host and task (classname = host) and
    per check (``check <name> [<layer>]``); failed tasks and checks are ``failure``s with
    their message, skipped checks ``skipped``; a gate that stopped the run and an
    interrupted run are failures of their own.
    """
    x = _xml_text
    suites: dict[str, list[ET.Element]] = {s.name: [] for s in report.stages}

    def case(stage: str, classname: str, name: str, seconds: float | None) -> ET.Element:
        el = ET.Element(
            "testcase", name=x(name), classname=x(classname), time=f"{seconds or 0.0:.3f}"
        )
        suites.setdefault(stage, []).append(el)
        return el

    for host, record in report.hosts.items():
        for t in record.tasks:
            el = case(t.stage, host, t.name, t.duration_s)
            if t.failed:
                err = t.error or ErrorRecord("TaskFailed", "the task failed")
                layer = f" [{err.layer}]" if err.layer else ""
                fail = ET.SubElement(el, "failure", type=x(err.type), message=x(err.message))
                fail.text = x(f"{host}{layer}: {err.type}: {err.message}")
            if t.diff:
                ET.SubElement(el, "system-out").text = x(t.diff)
    for c in report.checks:
        el = case(c.stage, c.host, f"check {c.name} [{c.layer}]", None)
        details = c.evidence + (f"\nremedy: {c.remedy}" if c.remedy else "")
        if c.status is Status.FAIL:
            fail = ET.SubElement(el, "failure", type=f"check.{c.layer}", message=x(c.evidence))
            fail.text = x(details)
        elif c.status is Status.SKIP:
            ET.SubElement(el, "skipped", message=x(c.evidence))
        else:
            ET.SubElement(el, "system-out").text = x(f"{c.status}: {details}")
    if report.stopped_at:
        el = case(report.stopped_at.stage, report.command, "stage gate", None)
        reason = report.stopped_at.reason
        ET.SubElement(el, "failure", type="StageStopped", message=x(reason)).text = x(
            f"stage {report.stopped_at.stage} stopped the run: {reason}"
        )
    if report.incomplete or report.error:
        stage = report.stages[-1].name if report.stages else report.command
        el = case(stage, report.command, "run completed", report.duration_s)
        err = report.error or ErrorRecord("Incomplete", "the run did not complete")
        ET.SubElement(el, "error", type=x(err.type), message=x(err.message)).text = x(
            f"{err.type}: {err.message}"
        )

    root = _junit_root(report, suites)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_root(report: RunReport, suites: dict[str, list[ET.Element]]) -> ET.Element:
    x = _xml_text
    root = ET.Element("testsuites", name=x(f"homehub {report.command}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for stage, cases in suites.items():
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        seconds = sum(float(c.get("time", "0")) for c in cases)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=x(f"{report.command}.{stage}"),
            timestamp=report.started,
            time=f"{seconds:.3f}",
        )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.extend(cases)
    root.set("time", f"{report.duration_s:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    return root


def write_junit(report: RunReport, path: Path) -> Path:
    """Write the report as JUnit XML to ``path`` atomically (see `junit_xml`); 0600, as reports.

    Raises:
        OSError: the file cannot be written.

    """
    atomic_write(Path(path), junit_xml(report))
    return Path(path)
