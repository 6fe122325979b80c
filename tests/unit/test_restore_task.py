"""`restore_host` through the scripted connection double, without the lab.

The host is the lab's compute host (`compute_double`: ollama and qdrant) with two backup runs.
The tests assert what the operator sees: the newest run is the default; a hash mismatch fails
the host naming the file while nothing but the facts was run (no extraction, no stop, no swap);
a restore extracts into a staging folder before the stack stops, swaps each data dir while it
is stopped, starts it again (also when the swap fails) and removes the old data only once the
stack is healthy; a dry run only reads.
"""

from __future__ import annotations

import json
from typing import Any

from compute_double import HOST_DATA, RUNNING, SECRETS, RecordingHost, compute_stacks, probe_answer
from nornir.core.task import AggregatedResult

from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command
from nornir_homehub.tasks.restore import (
    RestoreOutcome,
    restore_fact_commands,
    restore_host,
    restore_runs_command,
)
from nornir_homehub.testing import Command, scripted_nornir

BACKUPS = "/srv/backups/homehub"
OLDER, RUN = "20261130T120000Z", "20261201T120000Z"
A, B = "a" * 64, "b" * 64
DIRS = ["/srv/docker/ollama/data", "/srv/docker/qdrant/storage"]
QDRANT = "cd /opt/stacks/qdrant && docker compose -p qdrant"
OLLAMA = "cd /opt/stacks/ollama && docker compose -p ollama"


def _manifest(run: str) -> str:
    def entry(stack: str, member: str, digest: str) -> dict[str, Any]:
        return {
            "stack": stack,
            "path": f"/srv/docker/{member}",
            "member": member,
            "file": f"{stack}--{member.replace('/', '_')}.tar.gz",
            "sha256": digest,
            "size": 100,
            "stopped": stack == "qdrant",
        }

    archives = [entry("ollama", "ollama/data", A), entry("qdrant", "qdrant/storage", B)]
    return json.dumps({"format": "homehub-backup/1", "run": run, "archives": archives})


def _facts(run: str = RUN, *, qdrant_sum: str = B) -> list[Command]:
    batch = restore_fact_commands(f"{BACKUPS}/{run}", DIRS)
    sums = f"{A}  ollama--ollama_data.tar.gz\n{qdrant_sum}  qdrant--qdrant_storage.tar.gz\n"
    return [
        Command(restore_runs_command(BACKUPS), out=f"{OLDER}\n{RUN}\n"),
        Command(batch["manifest"], out=_manifest(run)),
        Command(batch["sums"], out=sums),
        Command(
            batch["sizes"], out="4096 /srv/docker/ollama/data\nMISSING /srv/docker/qdrant/storage\n"
        ),
    ]


def _stack(
    name: str, member: str, compose: str, *, swap_exit: int = 0, left: str = ""
) -> list[Command]:
    staging = f"/srv/docker/.homehub-restore-{name}"
    archive = f"{BACKUPS}/{RUN}/{name}--{member.replace('/', '_')}.tar.gz"
    return [
        Command(f"for d in /srv/docker/{member}.before-restore; do", match="prefix", out=left),
        Command(f"rm -rf -- {staging} && install -d -m 700 {staging}"),
        Command(
            f"sha256sum -c >/dev/null && tar --numeric-owner -C {staging} -xzf {archive}",
            match="contains",
        ),
        Command(f"{compose} stop"),
        Command(
            f"mv -T -- {staging}/{member} /srv/docker/{member}",
            match="contains",
            exit=swap_exit,
            err="mv: cannot move: No space left on device\n" if swap_exit else "",
        ),
        Command(f"{compose} start"),
        Command(f"rm -rf -- /srv/docker/{member}.before-restore {staging}"),
    ]


def _health() -> list[Command]:
    return [
        Command(containers_command(label=PROJECT_LABEL), out=RUNNING),
        Command("homehub-http request", match="contains", out=probe_answer(200)),
    ]


def _run(host: RecordingHost, **kw: Any) -> AggregatedResult:
    nr = scripted_nornir({"compute": (HOST_DATA, host)})
    return nr.run(task=restore_host, rendered={"compute": compute_stacks()}, secrets=SECRETS, **kw)


def test_restore_defaults_to_the_newest_run_and_swaps_each_stack_while_stopped() -> None:
    host = RecordingHost(
        "compute",
        [
            *_facts(),
            *_stack("ollama", "ollama/data", OLLAMA),
            *_stack("qdrant", "qdrant/storage", QDRANT),
            *_health(),
        ],
    )
    agg = _run(host)
    assert not agg.failed, agg["compute"][0].exception
    outcome = agg["compute"][0].result
    assert isinstance(outcome, RestoreOutcome)
    assert outcome.restored == ("ollama", "qdrant") and outcome.plan.run == RUN
    ran = host.ran
    for compose, member in ((OLLAMA, "ollama/data"), (QDRANT, "qdrant/storage")):
        extract = next(
            i for i, c in enumerate(ran) if "-xzf" in c and member.replace("/", "_") in c
        )
        stop, start = ran.index(f"{compose} stop"), ran.index(f"{compose} start")
        swap = next(i for i, c in enumerate(ran) if f"/{member}" in c and "mv -T" in c)
        cleanup = ran.index(
            f"rm -rf -- /srv/docker/{member}.before-restore /srv/docker/.homehub-restore-{member.split('/')[0]}"
        )
        # extracted while running, swapped while stopped, old data removed once healthy again
        assert extract < stop < swap < start < cleanup
    assert host.unused() == []


def test_a_hash_mismatch_fails_naming_the_file_and_touches_nothing() -> None:
    host = RecordingHost("compute", _facts(qdrant_sum="c" * 64))
    agg = _run(host)
    assert agg.failed
    error = str(agg["compute"][0].exception)
    assert f"{BACKUPS}/{RUN}/qdrant--qdrant_storage.tar.gz: sha256 {'c' * 64} differs" in error
    assert "nothing replaced" in error
    assert host.ran == [c.cmd for c in _facts()]  # facts only: no extraction, stop or swap


def test_a_failed_swap_still_starts_the_stack_and_keeps_the_old_data() -> None:
    script = [*_facts(), *_stack("ollama", "ollama/data", OLLAMA, swap_exit=1)]
    host = RecordingHost("compute", script)
    agg = _run(host, only=["ollama"])
    assert agg.failed
    assert "No space left on device" in str(agg["compute"][0].exception)
    assert f"{OLLAMA} start" in host.ran
    assert "rm -rf -- /srv/docker/ollama/data.before-restore" not in " ".join(host.ran)


def test_data_an_earlier_restore_kept_is_never_overwritten() -> None:
    left = "/srv/docker/ollama/data.before-restore\n"
    script = [*_facts(), *_stack("ollama", "ollama/data", OLLAMA, left=left)]
    host = RecordingHost("compute", script)
    agg = _run(host, only=["ollama"])
    assert agg.failed
    error = str(agg["compute"][0].exception)
    assert "/srv/docker/ollama/data.before-restore left by an earlier restore" in error
    assert not any("docker compose" in c or "-xzf" in c or "mv -T" in c for c in host.ran)


def test_a_dry_run_of_an_older_run_only_reads() -> None:
    host = RecordingHost("compute", _facts(OLDER))
    agg = _run(host, backup=OLDER, dry_run=True)
    assert not agg.failed, agg["compute"][0].exception
    assert agg["compute"][0].changed
    assert host.ran == [c.cmd for c in _facts(OLDER)] and host.files == {}
    diff = agg["compute"][0].diff
    assert f"restore compute <- {BACKUPS}/{OLDER}:" in diff
    assert (
        "replace /srv/docker/ollama/data (4096 bytes now) with ollama--ollama_data.tar.gz" in diff
    )
    assert "replace /srv/docker/qdrant/storage (missing now)" in diff
