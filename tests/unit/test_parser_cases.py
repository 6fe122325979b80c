"""Parser cases, in pyinfra's pattern: one folder of YAML cases per parser, this one harness.

``tests/unit/cases/parsers/<parser>/*.yaml``: each case has a ``description``, the parser's
``input`` and the ``expect``ed value, written as plain data (a dataclass as a mapping of its
fields, an enum as its value, a tuple or set as a list, a ``mode`` as octal text, a command
result as its exit code and streams). Where the input came from a real host
the case says so in ``source`` (captured on the lab: Docker Engine 20.10, docker CLI 28,
Compose v2, Debian 12's coreutils). A case with ``live: true`` also runs its ``commands``
through the real batch script with the local shell, so the framing parser is checked against
what the script really prints, not only against a recording.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.connection import CommandResult, HomehubLocal, parse_batch
from nornir_homehub.errors import TransportError
from nornir_homehub.facts.docker import parse_containers
from nornir_homehub.facts.stacks import parse_stack_facts

ROOT = Path(__file__).parent / "cases" / "parsers"


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
    return value


def _batch(case: Mapping[str, Any]) -> Any:
    return parse_batch(case["input"]["stdout"], case["input"]["commands"])


PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "parse_containers": lambda case: parse_containers(_result(case["input"])),
    "parse_stack_facts": lambda case: parse_stack_facts(
        {name: _result(spec) for name, spec in case["input"].items()}
    ),
    "parse_batch": _batch,
}

CASES = sorted(ROOT.glob("*/*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    assert set(case) <= {"description", "source", "input", "expect", "live"}, path
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
    got = plain(PARSERS[path.parent.name](case))
    assert got == case["expect"]


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
