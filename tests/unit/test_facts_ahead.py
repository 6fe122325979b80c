"""Facts read ahead (`tasks.deploy.FactsAhead`): used instead of a second read only while good.

The trusted stage of a deploy plans from the facts read while the compute stage ran when they
are the same reads, the run changed nothing since and they are at most `FACTS_AHEAD_FRESH`
seconds old; otherwise it reads again. The host is a scripted double that answers every read
with nothing (no file, no container): what is checked is which facts are used and how many
round trips the host saw. The lab's deploy tests run the real thing.
"""

from __future__ import annotations

import dataclasses

import pytest

from nornir_homehub.render import RenderedStack
from nornir_homehub.tasks import deploy
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


def litellm(project_dir: str = "/opt/stacks/litellm") -> RenderedStack:
    return RenderedStack(
        name="litellm",
        host="trusted",
        role="trusted",
        project="litellm",
        project_dir=project_dir,
        compose_file=f"{project_dir}/compose.yaml",
        files={},
        data_dirs=(),
        services=("litellm",),
        containers={"litellm": "litellm"},
        post_deploy=(),
        health=(),
        secrets=(),
    )


def trusted_nornir() -> tuple[object, ScriptedHost]:
    host = ScriptedHost("trusted", [Command("", match="contains")])
    return scripted_nornir({"trusted": ({"role": "trusted"}, host)}), host


def test_facts_read_ahead_stand_in_while_the_same_reads_and_fresh() -> None:
    nr, host = trusted_nornir()
    ahead = deploy.FactsAhead(nr, {"trusted": [litellm()]})
    got = ahead.take(changed_since=False)
    assert list(got) == ["trusted"] and host.commands_run == 1
    assert deploy._facts(host, [litellm()], got["trusted"]) is got["trusted"].facts
    assert host.commands_run == 1  # no second read


def test_other_reads_or_old_facts_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    nr, host = trusted_nornir()
    early = deploy.FactsAhead(nr, {"trusted": [litellm()]}).take(changed_since=False)["trusted"]
    # Rendered differently (another project folder): other reads.
    assert deploy._facts(host, [litellm("/srv/litellm")], early) is not early.facts
    assert host.commands_run == 2
    # Older than FACTS_AHEAD_FRESH.
    old = dataclasses.replace(early, at=early.at - deploy.FACTS_AHEAD_FRESH - 0.01)
    assert deploy._facts(host, [litellm()], old) is not early.facts
    assert host.commands_run == 3


def test_nothing_is_handed_on_once_the_run_changed_something() -> None:
    nr, host = trusted_nornir()
    ahead = deploy.FactsAhead(nr, {"trusted": [litellm()]})
    assert ahead.take(changed_since=True) == {}
    assert host.commands_run == 1  # read, and then not used


def test_a_host_without_an_open_connection_is_not_read_ahead() -> None:
    nr, _host = trusted_nornir()
    del nr.inventory.hosts["trusted"].connections["homehub_ssh"]  # type: ignore[attr-defined]
    assert deploy.FactsAhead(nr, {"trusted": [litellm()]}).take(changed_since=False) == {}


def test_a_read_still_going_is_not_waited_for_past_the_bound() -> None:
    import threading

    release = threading.Event()
    host = ScriptedHost(
        "trusted", [Command("", match="contains", check=lambda _c, _s: release.wait(30))]
    )
    nr = scripted_nornir({"trusted": ({"role": "trusted"}, host)})
    ahead = deploy.FactsAhead(nr, {"trusted": [litellm()]})
    assert ahead.take(changed_since=False, timeout=0.05) == {}
    release.set()
    assert list(ahead.take(changed_since=False)) == ["trusted"]
