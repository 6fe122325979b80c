"""Parser cases, in pyinfra's pattern: one folder of YAML cases per parser, this one harness.

``tests/unit/cases/parsers/<parser>/*.yaml``: each case has a ``description`` (which says where
the input was captured), the parser's ``input`` in the shape the command printed it, and either
``expect`` (the parsed value as plain data, compared whole: a dataclass as a mapping of its
fields, an enum as its value, a tuple or set as a list, a ``mode`` as octal text, a command
result as its exit code and streams, bytes as text) or ``raises`` (``type`` and a ``match``
regular expression). Where the input came from a real host the case says so in ``source``. A
case with ``live: true`` also runs its ``commands`` through the real batch script with the
local shell, so the framing parser is checked against what the script really prints, not only
against a recording. `PARSERS` says how each parser is fed from ``input``; a new parser gets a
folder and one line there.
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
from nornir_homehub.connection import CommandResult, HomehubLocal, parse_batch
from nornir_homehub.errors import TransportError
from nornir_homehub.facts.audit import parse_audit
from nornir_homehub.facts.dns import (
    answer_serial,
    explain_checkzone,
    parse_answer,
    parse_dns_facts,
    parse_include_facts,
    parse_rndc_status,
    query_message,
)
from nornir_homehub.facts.docker import parse_containers
from nornir_homehub.facts.gpu import parse_gpu_facts
from nornir_homehub.facts.hostlock import parse_lock_status
from nornir_homehub.facts.http import parse_probe, parse_response
from nornir_homehub.facts.images import (
    parse_image_pins,
    parse_images,
    parse_pulled,
    parse_running_images,
)
from nornir_homehub.facts.litellm import parse_health
from nornir_homehub.facts.logs import parse_logs
from nornir_homehub.facts.models import parse_device_requests
from nornir_homehub.facts.ollama import parse_error, parse_ps, parse_tags
from nornir_homehub.facts.prometheus import parse_rules, parse_targets
from nornir_homehub.facts.registry import parse_manifest_head
from nornir_homehub.facts.runtime import parse_runtime
from nornir_homehub.facts.stacks import parse_stack_facts

ROOT = Path(__file__).parent / "cases" / "parsers"
FIXTURES = Path(__file__).parents[1] / "fixtures"


def _result(spec: Mapping[str, Any], command: str = "") -> CommandResult:
    return CommandResult(
        command, int(spec.get("exit", 0)), str(spec.get("stdout", "")), str(spec.get("stderr", ""))
    )


def plain(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value reads best
    """A parser's answer as the plain data a case writes down."""
    if isinstance(value, CommandResult):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(out.get("mode"), int):
            out["mode"] = f"{out['mode']:04o}"
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


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
    return {**plain(answer), **serial}


def _probe(spec: Mapping[str, Any]) -> Any:
    stdout = _framed(spec["framed"]) if "framed" in spec else spec.get("stdout", "")
    result = CommandResult("probe", spec.get("exit", 0), stdout, spec.get("stderr", ""))
    return parse_probe(result, spec["url"], where=spec.get("where", "trusted: GET"))


def _batch(case: Mapping[str, Any]) -> Any:
    return parse_batch(case["input"]["stdout"], case["input"]["commands"])


PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "parse_containers": lambda case: parse_containers(_result(case["input"])),
    "parse_stack_facts": lambda case: parse_stack_facts(
        {name: _result(spec) for name, spec in case["input"].items()}
    ),
    "parse_batch": _batch,
}

# These parsers are fed the case's ``input`` alone.
_BY_INPUT: dict[str, Callable[[Any], Any]] = {
    "parse_dns_facts": lambda i: parse_dns_facts(_results(i["results"])),
    "parse_include_facts": lambda i: parse_include_facts(_results(i["results"])),
    "parse_rndc_status": lambda i: parse_rndc_status(
        i.get("exit", 0), i.get("stdout", ""), i.get("stderr", "")
    ),
    "explain_checkzone": lambda i: explain_checkzone(i["output"], i["content"]),
    "parse_answer": _answer,
    "parse_gpu_facts": lambda i: parse_gpu_facts({k: _smi_output(v) for k, v in i.items()}),
    "parse_tags": lambda i: parse_tags(i["text"]),
    "parse_health": lambda i: parse_health(i["text"]),
    "parse_ps": lambda i: [m.to_dict() for m in parse_ps(i["text"])],  # with placement
    "parse_error": lambda i: parse_error(i["text"]),
    "parse_device_requests": lambda i: parse_device_requests(i["exit"], i["stdout"]),
    "parse_response": lambda i: parse_response(
        i["stdout"] if "stdout" in i else _framed(i), where=i.get("where", "h: GET /")
    ),
    "parse_probe": _probe,
    "parse_runtime": lambda i: parse_runtime(i["runtime"], i["state_times"]),
    "parse_logs": lambda i: parse_logs(i["stdout"]),
    "parse_images": lambda i: parse_images(i["stdout"]),
    "parse_targets": lambda i: parse_targets(i["text"]),
    "parse_rules": lambda i: parse_rules(i["text"]),
    "parse_lock_status": lambda i: parse_lock_status(i["text"]),
    "parse_image_pins": lambda i: parse_image_pins(i["runtime"], i["images"], i["containers"]),
    "parse_audit": lambda i: parse_audit(i["host"], i["text"]),
    "parse_running_images": lambda i: parse_running_images(i["stdout"]),
    "parse_pulled": lambda i: parse_pulled(i["stdout"]),
    "parse_manifest_head": lambda i: parse_manifest_head(i["exit"], i["stdout"], i["stderr"]),
}
PARSERS.update({name: (lambda case, fn=fn: fn(case["input"])) for name, fn in _BY_INPUT.items()})

CASES = sorted(ROOT.glob("*/*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    assert set(case) <= {"description", "source", "input", "expect", "raises", "live"}, path
    assert ("expect" in case) != ("raises" in case), f"{path}: expect or raises, not both"
    assert case.get("description"), f"{path}: a case says what it shows"
    return case


def test_every_parser_folder_has_a_parser_and_cases() -> None:
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert folders == set(PARSERS)
    for name in folders:
        assert len(list((ROOT / name).glob("*.yaml"))) >= 3, name


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_parser_case(path: Path) -> None:
    case = _load(path)
    parse = PARSERS[path.parent.name]
    if "raises" in case:
        kind = getattr(errors, case["raises"]["type"])
        with pytest.raises(kind, match=case["raises"]["match"]):
            parse(case)
        return
    assert plain(parse(case)) == case["expect"]


LIVE = [p for p in CASES if p.parent.name == "parse_batch" and _load(p).get("live")]


@pytest.mark.parametrize("path", LIVE, ids=[p.stem for p in LIVE])
@pytest.mark.parametrize("parallel", [False, True])
def test_batch_case_against_the_real_script(path: Path, parallel: bool) -> None:
    """The recorded output is what the script prints: run it for real, sequential and parallel."""
    case = _load(path)
    conn = HomehubLocal()
    conn.open("localhost", None, None, None, None, {"inventory_name": "controller"})
    got = conn.run_batch(case["input"]["commands"], parallel=parallel)
    assert plain(got) == case["expect"]
    assert conn.commands_run == 1  # one round trip for the whole batch


def test_a_batch_whose_script_dies_names_the_facts_that_returned_nothing() -> None:
    """The script killed mid-batch (SIGKILL of its shell): every fact without a frame is named.

    The frames are printed once every command ran, so a batch cut short answers nothing.
    """
    conn = HomehubLocal()
    conn.open("localhost", None, None, None, None, {"inventory_name": "controller"})
    # In a subshell $$ is still the batch script's shell: the second command ends the batch.
    with pytest.raises(TransportError) as exc:
        conn.run_batch({"first": "echo one", "killer": "kill -9 $$", "last": "echo three"})
    message = str(exc.value)
    assert message.startswith(
        "controller: batched facts ['first', 'killer', 'last'] returned nothing (exit 137"
    )
