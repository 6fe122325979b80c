"""Fact parsers from data, in pyinfra's pattern: one folder of cases per parser, one harness.

``tests/unit/cases/<parser>/*.yaml`` holds the cases of the parser of that name: a
``description`` (which says where the input was captured), the ``input`` in the shape the
command printed it, and either ``expect`` (the parsed value as plain data, compared whole) or
``raises`` (``type`` and a ``match`` regular expression). `PARSERS` says how each parser is fed
from ``input``; a new parser gets a folder and one line here.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dns.message
import pytest
import yaml

from nornir_homehub import errors
from nornir_homehub.connection import CommandResult
from nornir_homehub.facts.dns import (
    answer_serial,
    explain_checkzone,
    parse_answer,
    parse_dns_facts,
    parse_include_facts,
    parse_rndc_status,
    query_message,
)
from nornir_homehub.facts.gpu import parse_gpu_facts
from nornir_homehub.facts.http import parse_probe, parse_response
from nornir_homehub.facts.ollama import parse_error, parse_ps, parse_tags

CASES = Path(__file__).parent / "cases"
FIXTURES = Path(__file__).parents[1] / "fixtures"


def _results(spec: Mapping[str, Mapping[str, Any]]) -> dict[str, CommandResult]:
    """Batch results from ``name: {exit, stdout, stderr}``."""
    return {
        name: CommandResult(name, r.get("exit", 0), r.get("stdout", ""), r.get("stderr", ""))
        for name, r in spec.items()
    }


def _framed(spec: Mapping[str, Any]) -> str:
    """What `facts.http.build_script` prints: the marker line, then three base64 lines."""
    parts = (spec.get("response_headers", ""), spec.get("body", ""), spec.get("client_stderr", ""))
    encoded = [base64.b64encode(p.encode("latin-1")).decode() for p in parts]
    head = f"homehub-http {spec['tool']} {spec['rc']} {spec['code']}"
    return "\n".join([head, *encoded]) + "\n"


def _smi_output(spec: Mapping[str, Any]) -> tuple[int, str, str]:
    """One nvidia-smi output: ``stdout`` inline, or lines of a capture in tests/fixtures/gpu."""
    stdout = spec.get("stdout", "")
    if "fixture" in spec:
        text = (FIXTURES / "gpu" / spec["fixture"]).read_text()
        if "lines" in spec:
            first, last = spec["lines"]
            text = "\n".join(text.splitlines()[first - 1 : last]) + "\n"
        stdout = text
    return spec.get("exit", 0), stdout, spec.get("stderr", "")


def _answer(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to ``name``/``type`` in a response in dnspython's text form (+ SOA serial)."""
    question = query_message(spec["name"], spec["type"])
    answer = parse_answer(question, dns.message.from_text(spec["response"]))
    serial = {"serial": answer_serial(answer)} if spec["type"] == "SOA" else {}
    return {**_plain(answer), **serial}


def _probe(spec: Mapping[str, Any]) -> Any:
    stdout = _framed(spec["framed"]) if "framed" in spec else spec.get("stdout", "")
    result = CommandResult("probe", spec.get("exit", 0), stdout, spec.get("stderr", ""))
    return parse_probe(result, spec["url"], where=spec.get("where", "trusted: GET"))


PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "parse_dns_facts": lambda i: parse_dns_facts(_results(i["results"])),
    "parse_include_facts": lambda i: parse_include_facts(_results(i["results"])),
    "parse_rndc_status": lambda i: parse_rndc_status(
        i.get("exit", 0), i.get("stdout", ""), i.get("stderr", "")
    ),
    "explain_checkzone": lambda i: explain_checkzone(i["output"], i["content"]),
    "parse_answer": _answer,
    "parse_gpu_facts": lambda i: parse_gpu_facts({k: _smi_output(v) for k, v in i.items()}),
    "parse_tags": lambda i: parse_tags(i["text"]),
    "parse_ps": lambda i: [m.to_dict() for m in parse_ps(i["text"])],  # with placement
    "parse_error": lambda i: parse_error(i["text"]),
    "parse_response": lambda i: parse_response(
        i["stdout"] if "stdout" in i else _framed(i), where=i.get("where", "h: GET /")
    ),
    "parse_probe": _probe,
}


def _plain(value: Any) -> Any:
    """Parsed values as YAML data: dataclasses as mappings, tuples as lists, bytes as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _cases() -> list[Path]:
    return sorted(p for p in CASES.glob("*/*.yaml") if p.parent.name in PARSERS)


@pytest.mark.parametrize("path", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parser_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert case.get("description"), f"{path}: say what the case is and where its input is from"
    parse = PARSERS[path.parent.name]
    if "raises" in case:
        kind = getattr(errors, case["raises"]["type"])
        with pytest.raises(kind, match=case["raises"]["match"]):
            parse(case["input"])
        return
    assert _plain(parse(case["input"])) == case["expect"]


def test_every_parser_has_cases() -> None:
    folders = {p.parent.name for p in CASES.glob("*/*.yaml")}
    missing = sorted(name for name in PARSERS if name not in folders)
    assert not missing, f"parsers without a cases folder: {missing}"
    for name in PARSERS:
        assert len(list((CASES / name).glob("*.yaml"))) >= 3, f"{name}: at least three cases"
