"""`run_command` (the ``exec`` command's task) through the scripted connection double."""

from __future__ import annotations

from typing import Any

from nornir_homehub.errors import CommandTimeout
from nornir_homehub.tasks.exec import run_command
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


def _nornir(host: ScriptedHost) -> Any:
    return scripted_nornir({"trusted": ({"role": "trusted"}, host)})


def test_a_command_answers_with_its_output_and_changes_nothing() -> None:
    host = ScriptedHost("trusted", [Command("docker ps --format '{{.Names}}'", out="traefik\n")])
    agg = _nornir(host).run(task=run_command, command="docker ps --format '{{.Names}}'")
    result = agg["trusted"][0]
    assert not result.failed and not result.changed
    assert result.result.to_dict() == {"exit_code": 0, "stdout": "traefik\n", "stderr": ""}


def test_a_non_zero_exit_fails_the_host_and_keeps_both_streams() -> None:
    host = ScriptedHost(
        "trusted", [Command("systemctl is-active docker", out="inactive\n", exit=3)]
    )
    agg = _nornir(host).run(task=run_command, command="systemctl is-active docker")
    result = agg["trusted"][0]
    assert agg.failed and result.failed and not result.changed
    assert (result.result.exit_code, result.result.stdout) == (3, "inactive\n")


def test_a_command_that_hangs_fails_with_a_timeout() -> None:
    host = ScriptedHost("trusted", [Command("sleep", match="prefix", timeout=True)])
    agg = _nornir(host).run(task=run_command, command="sleep 600", timeout=1)
    assert agg.failed
    assert isinstance(agg["trusted"][0].exception, CommandTimeout)
