"""`tasks.health.wait_ready`: what counts as ready, and which container states fail at once.

The host is a scripted test double (a `HostConnection` whose every command answers from a
script, like fabric's ``testing`` Command records): each poll's container listing is the next
entry of the script, in the one-JSON-line-per-container format `facts.docker` reads. The real
engine is exercised by the lab tests (tests/lab/test_faults_deploy.py: crash-loop, dockerd).
The stable window is 0 here: nothing depends on timing.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fake_clock import FakeClock

from nornir_homehub.connection import CommandResult, HostConnection
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.docker import ContainerFact, inspect_line
from nornir_homehub.facts.stacks import Container, Health
from nornir_homehub.render import HttpProbe, RenderedStack, ServiceHealth
from nornir_homehub.secrets import SecretStore
from nornir_homehub.tasks.health import wait_ready

KEY = "wait-ready-test-key-81"


class Scripted(HostConnection):
    """Answers `docker inspect` from ``polls`` (one entry per poll), probes and logs fixed."""

    def __init__(
        self, polls: list[list[ContainerFact]], probe_status: int = 200, own_exit: int = 0
    ) -> None:
        super().__init__()
        self.name = "compute"
        self.polls: Iterator[list[ContainerFact]] = iter(polls)
        self.last: list[ContainerFact] = []
        self.probe_status = probe_status
        self.probes: list[str] = []
        self.listings = 0
        self.own_exit = own_exit
        self.own: list[tuple[int, str]] = []  # (listings so far, command) of each own check
        self.listed: list[str] = []  # each listing's whole command

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        if "docker inspect --type container" in command:
            self.listings += 1
            self.listed.append(command)
            self.last = next(self.polls, self.last)
            return 0, "\n".join(inspect_line(c) for c in self.last).encode(), b""
        if " docker exec " in f" {command}":
            self.own.append((self.listings, command))
            return self.own_exit, b"", b""
        if command.startswith("docker logs"):
            return 0, f"qdrant: crashed, key {KEY}\n".encode(), b""
        if "homehub-http" in command:
            self.probes.append(command)
            head = base64.b64encode(f"HTTP/1.1 {self.probe_status} X\r\n\r\n".encode()).decode()
            body = base64.b64encode(b"all shards are ready").decode()
            out = f"homehub-http curl 0 {self.probe_status}\n{head}\n{body}\n\n"
            return 0, out.encode(), b""
        raise AssertionError(f"unexpected command: {command}")


def stack(*, healthcheck: bool = False, test: tuple[str, ...] | None = None) -> RenderedStack:
    probe = HttpProbe(
        "readyz",
        6333,
        "/readyz",
        200,
        published=True,
        auth_header="api-key",
        auth_secret="vault_qdrant_api_key",
    )
    return RenderedStack(
        name="qdrant",
        host="compute",
        role="compute",
        project="qdrant",
        project_dir="/opt/stacks/qdrant",
        compose_file="/opt/stacks/qdrant/compose.yaml",
        files={},
        data_dirs=(),
        services=("qdrant",),
        containers={"qdrant": "qdrant"},
        post_deploy=(),
        health=(ServiceHealth("qdrant", "qdrant", healthcheck, (probe,)),),
        secrets=("vault_qdrant_api_key",),
        healthchecks={"qdrant": test} if test else {},
    )


def qdrant(**kw: object) -> ContainerFact:
    values: dict[str, object] = {
        "id": "q" * 64,
        "name": "qdrant",
        "state": "running",
        "exit_code": 0,
        "started_at": "2026-12-01T07:30:37Z",
        "health": None,
        "restart_count": 0,
        "image": "qdrant/qdrant:v1.15.5",
        "project": "qdrant",
        "service": "qdrant",
        "working_dir": "/opt/stacks/qdrant",
        "networks": {"qdrant_default": "172.18.0.2"},
    }
    values.update(kw)
    return ContainerFact(**values)  # type: ignore[arg-type]


SECRETS = SecretStore.from_mapping({"vault_qdrant_api_key": KEY})


def test_without_a_healthcheck_ready_means_answering_the_probe() -> None:
    conn = Scripted([[qdrant()]])
    ready, failed = wait_ready(conn, [stack()], 30, SECRETS)
    assert failed == {} and ready["qdrant"][0]["name"] == "qdrant"
    assert len(conn.probes) == 1 and "127.0.0.1:6333/readyz" in conn.probes[0]
    assert KEY not in conn.probes[0]  # the key travels on stdin, never in the command


def test_a_probe_that_does_not_answer_200_is_not_ready() -> None:
    conn = Scripted([[qdrant()]], probe_status=401)
    ready, failed = wait_ready(conn, [stack()], 0.5, SECRETS)
    assert ready == {}
    msg = str(failed["qdrant"])
    assert "not ready after" in msg and "probe readyz" in msg and "401, expected 200" in msg
    assert KEY not in msg  # the log line carried the key: redacted


def test_a_restart_by_the_engine_fails_at_once() -> None:
    before = Container("q" * 64, "qdrant", "qdrant", "qdrant", "running", Health.NONE, "", "x", 0)
    conn = Scripted([[qdrant(restart_count=1, exit_code=1)]])
    ready, failed = wait_ready(conn, [stack()], 300, SECRETS, before=(before,))
    assert ready == {} and isinstance(failed["qdrant"], StackFailed)
    msg = str(failed["qdrant"])
    assert "container qdrant restarted 1 time(s) since the deploy started" in msg
    assert "last exit code 1" in msg and "qdrant: crashed" in msg and KEY not in msg
    assert failed["qdrant"].layer == "container"


def test_restarts_before_the_deploy_do_not_count() -> None:
    # The same container (same id) had restarted twice long ago: only new restarts count.
    before = Container("q" * 64, "qdrant", "qdrant", "qdrant", "running", Health.NONE, "", "x", 2)
    conn = Scripted([[qdrant(restart_count=2)]])
    ready, failed = wait_ready(conn, [stack()], 30, SECRETS, before=(before,))
    assert failed == {} and "qdrant" in ready


def test_exited_restarting_and_unhealthy_fail_at_once() -> None:
    for fact, words in [
        (qdrant(state="exited", exit_code=3), "is exited (exit code 3)"),
        (qdrant(state="restarting", exit_code=1), "is restarting (exit code 1)"),
        (qdrant(health="unhealthy"), "is unhealthy"),
    ]:
        ready, failed = wait_ready(Scripted([[fact]]), [stack(healthcheck=True)], 300, SECRETS)
        assert ready == {} and words in str(failed["qdrant"]), (words, failed)


def test_a_container_with_a_healthcheck_waits_for_healthy() -> None:
    conn = Scripted([[qdrant(health="starting")], [qdrant(health="healthy")]])
    ready, failed = wait_ready(conn, [stack(healthcheck=True)], 30, SECRETS)
    assert failed == {} and ready["qdrant"][0]["health"] == "healthy"
    assert conn.probes == []  # Docker's healthcheck decides; no probe needed


def test_no_container_in_time() -> None:
    ready, failed = wait_ready(Scripted([[]]), [stack()], 0.5, SECRETS)
    assert ready == {} and "no container for qdrant after" in str(failed["qdrant"])


WGET = ("CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:6333/readyz || exit 1")


def test_a_starting_container_gets_its_own_healthcheck_run_and_the_wait_ends_when_docker_agrees() -> (
    None
):
    starting, healthy = qdrant(health="starting"), qdrant(health="healthy")
    conn = Scripted([[starting], [starting], [starting], [healthy]])
    ready, failed = wait_ready(conn, [stack(healthcheck=True, test=WGET)], 30, SECRETS)
    assert failed == {} and ready["qdrant"][0]["health"] == "healthy"
    # The compose file's own test, in the container, once (it passed): not again each poll.
    assert conn.own == [
        (
            1,
            f"timeout 10 docker exec {'q' * 64} /bin/sh -c "
            "'wget -q -O /dev/null http://127.0.0.1:6333/readyz || exit 1' >/dev/null 2>&1",
        )
    ]
    # It passed at once, yet the wait ended only when Docker said healthy (listing 4).
    assert conn.listings == 4


def test_the_stable_window_counts_from_the_first_pass_of_the_healthcheck_command() -> None:
    polls = [[qdrant(health="starting")]] * 3 + [[qdrant(health="healthy")]]
    early = Scripted(polls)
    wait_ready(early, [stack(healthcheck=True, test=("CMD", "true"))], 30, SECRETS, stable=0.3)
    assert early.own[0][1].startswith(f"timeout 10 docker exec {'q' * 64} true ")
    # Passed at listing 1, healthy at listing 4 (three polls later, >= 0.3 s): ready there.
    assert early.listings == 4
    late = Scripted([[qdrant(health="starting")]] * 6 + [[qdrant(health="healthy")]], own_exit=1)
    ready, failed = wait_ready(
        late, [stack(healthcheck=True, test=("CMD", "true"))], 30, SECRETS, stable=0.3
    )
    # The command failed each time: the window starts when Docker says healthy.
    assert failed == {} and "qdrant" in ready and late.listings > 7
    assert len(late.own) >= 2  # tried again while starting (every 0.5 s), not on every poll
    assert all(b - a >= 2 for (a, _), (b, _) in zip(late.own, late.own[1:], strict=False))


def test_the_poll_after_a_stable_window_comes_at_its_end_not_a_whole_poll_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nornir_homehub.tasks import health

    clock = FakeClock()
    monkeypatch.setattr(health, "time", clock)
    conn = Scripted([[qdrant(health="healthy")]])
    ready, failed = wait_ready(conn, [stack(healthcheck=True)], 30, SECRETS, stable=0.5)
    assert failed == {} and "qdrant" in ready
    # Ready at the first listing; polls 0.2 s apart until the window's end is nearer than that.
    assert clock.sleeps == [0.2, 0.2, 0.105]
    assert conn.listings == 4
    # Without a window to end, each pause is a whole poll.
    clock.sleeps.clear()
    conn = Scripted([[qdrant(health="starting")]] * 3 + [[qdrant(health="healthy")]])
    wait_ready(conn, [stack(healthcheck=True)], 30, SECRETS)
    assert clock.sleeps == [0.2, 0.2, 0.2]


def test_while_stable_runs_once_when_the_stack_is_ready_and_only_its_window_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nornir_homehub.tasks import health

    clock = FakeClock()
    monkeypatch.setattr(health, "time", clock)
    conn = Scripted([[qdrant(health="starting")], [qdrant(health="starting")]] + [[qdrant()]] * 9)
    calls: list[tuple[int, float]] = []
    ready, failed = wait_ready(
        conn,
        [stack()],
        30,
        SECRETS,
        stable=1.0,
        while_stable=lambda: calls.append((conn.listings, clock.now)),
    )
    assert failed == {} and "qdrant" in ready
    # Starting twice (no probe answers for a starting container), ready at listing 3 (t=0.4):
    # called right then, once, though the wait went on polling through the window.
    assert calls == [(3, pytest.approx(100.4))]
    assert conn.listings > 3


def test_while_stable_is_not_called_for_a_stack_that_never_gets_ready() -> None:
    calls: list[int] = []
    conn = Scripted([[qdrant(state="exited", exit_code=1)]])
    ready, failed = wait_ready(
        conn, [stack()], 30, SECRETS, stable=1.0, while_stable=lambda: calls.append(1)
    )
    assert ready == {} and "qdrant" in failed and calls == []


def test_post_deploy_uses_a_first_unless_asked_already_and_asks_the_others_itself() -> None:
    import dataclasses

    from nornir_homehub.render import PostDeployStep
    from nornir_homehub.tasks.apply import run_post_deploy
    from nornir_homehub.testing import Command, ScriptedHost

    steps = (
        PostDeployStep("pull", "ollama", "pull-it", "has-it", 60),
        PostDeployStep("warm", "ollama", "warm-it", "is-warm", 60),
    )
    st = dataclasses.replace(stack(), post_deploy=steps)
    # Known to pass: the first step is skipped without asking; the second asks its own.
    host = ScriptedHost("compute", [Command("is-warm", exit=1), Command("warm-it")])
    assert run_post_deploy(host, st, SECRETS, first_unless=True) == (("warm",), None)
    assert host.ran == ["is-warm", "warm-it"]
    # Known to fail: the first step runs at once.
    host = ScriptedHost("compute", [Command("pull-it"), Command("is-warm")])
    assert run_post_deploy(host, st, SECRETS, first_unless=False) == (("pull",), None)
    assert host.ran == ["pull-it", "is-warm"]
    # Not known: asked here, as before.
    host = ScriptedHost("compute", [Command("has-it"), Command("is-warm")])
    assert run_post_deploy(host, st, SECRETS) == ((), None)
    assert host.ran == ["has-it", "is-warm"]


class Batching(Scripted):
    """`Scripted`, also answering batches: ``extra`` members answer ``extra-out``."""

    def __init__(self, polls: list[list[ContainerFact]]) -> None:
        super().__init__(polls)
        self.batches: list[tuple[int, list[str]]] = []  # (listings before, member names)

    def run_batch(
        self, commands: Mapping[str, str], *, timeout: float | None = None, parallel: bool = False
    ) -> dict[str, CommandResult]:
        self.batches.append((self.listings, sorted(commands)))
        out = {}
        for name, cmd in commands.items():
            if name == "extra":
                out[name] = CommandResult(cmd, 0, "extra-out", "")
            else:
                code, o, e = self._exec(cmd, None, 10)
                out[name] = CommandResult(cmd, code, o.decode(), e.decode())
        return out


def test_the_at_end_reads_ride_on_the_polls_due_after_the_window_and_come_back_from_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nornir_homehub.tasks import health

    clock = FakeClock()
    monkeypatch.setattr(health, "time", clock)
    conn = Batching([[qdrant(health="starting")]] + [[qdrant()]] * 20)
    end: dict[str, CommandResult] = {}
    ready, failed = wait_ready(
        conn, [stack()], 30, SECRETS, stable=1.0, at_end={"extra": "true"}, end_reads=end
    )
    assert failed == {} and "qdrant" in ready
    # Ready at listing 2 (t=0.2); the window ends at t=1.2: only the polls due in its last
    # 0.2 s or after (t=1.0, the last at t=1.2) carry the extra read beside their listing.
    assert [names for _, names in conn.batches] == [[" listing", "extra"]] * 2
    assert [before for before, _ in conn.batches] == [conn.listings - 2, conn.listings - 1]
    assert end == {"extra": CommandResult("true", 0, "extra-out", "")}
    assert clock.now == pytest.approx(101.2, abs=0.01)


def test_no_at_end_reads_come_back_from_a_wait_that_failed() -> None:
    conn = Batching([[qdrant(state="exited", exit_code=1)]])
    end: dict[str, CommandResult] = {}
    ready, failed = wait_ready(
        conn, [stack()], 30, SECRETS, stable=1.0, at_end={"extra": "true"}, end_reads=end
    )
    assert ready == {} and "qdrant" in failed and end == {} and conn.batches == []


def test_once_only_dockers_verdict_is_missing_the_polls_wait_for_it_on_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nornir_homehub.tasks import health

    clock = FakeClock()
    monkeypatch.setattr(health, "time", clock)
    conn = Scripted([[qdrant(health="starting")]] * 8 + [[qdrant(health="healthy")]])
    ready, failed = wait_ready(
        conn, [stack(healthcheck=True, test=("CMD", "true"))], 30, SECRETS, stable=1.0
    )
    assert failed == {} and "qdrant" in ready
    # The own check passed at the first listing (t=0): the window ends at t=1.0, and from the
    # poll due within 0.2 s of it, each listing first waits for Docker's verdict.
    waits = ["docker events --since" in c for c in conn.listed]
    assert waits[0] is False and waits[-1] is True
    assert waits == sorted(waits)  # no listing without the wait once one had it
    first = waits.index(True)
    assert conn.listed[first].startswith(health.verdict_wait_command([container()]) + "; ")


def container() -> Container:
    return Container(
        "q" * 64, "qdrant", "qdrant", "qdrant", "running", Health.STARTING,
        "2026-12-01T07:30:37Z", "qdrant/qdrant:v1.15.5",
    )  # fmt: skip


FAKE_DOCKER = """#!/bin/sh
echo "$$ $*" >> "$LOG"
[ "$1" = events ] || exit 0
if [ -n "$EVENT_AFTER" ]; then sleep "$EVENT_AFTER"; echo x; fi
exec sleep 20
"""


@pytest.mark.parametrize("event_after", ["0.05", ""], ids=["event", "none"])
def test_the_verdict_wait_ends_at_the_event_or_its_bound_and_ends_docker_events(
    tmp_path: Path, event_after: str
) -> None:
    """Through the real `sh`, with a stand-in `docker` whose event stream never ends itself."""
    import os
    import subprocess
    import time

    from nornir_homehub.tasks.health import VERDICT_WAIT, verdict_wait_command

    (tmp_path / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "docker").chmod(0o755)
    log = tmp_path / "log"
    other = dataclasses.replace(container(), id="r" * 64, started_at="2026-12-01T07:30:30Z")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "LOG": str(log)}
    env["EVENT_AFTER"] = event_after
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    start = time.monotonic()
    res = subprocess.run(
        ["sh", "-c", verdict_wait_command([container(), other])],
        env=env, capture_output=True, text=True, timeout=15, check=False,
    )  # fmt: skip
    took = time.monotonic() - start
    assert res.returncode == 0 and res.stdout == ""
    pid, args = log.read_text().split(" ", 1)
    assert args.split() == [
        "events", "--since", "2026-12-01T07:30:30Z", "--filter", "event=health_status",
        "--filter", f"container={'q' * 64}", "--filter", f"container={'r' * 64}",
        "--format", "x",
    ]  # fmt: skip
    # Ended, not left streaming (its stand-in would have run 20 s), and no temporary file left.
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert took < 10 and list((tmp_path / "tmp").iterdir()) == []
    if not event_after:
        assert took >= VERDICT_WAIT * 0.9  # waited for its bound
