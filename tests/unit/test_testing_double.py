"""The scripted connection double: Nornir tasks and checks run against it without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from nornir_homehub.errors import CommandTimeout
from nornir_homehub.facts.gpu import CMD_QUERY_APPS, CMD_QUERY_GPU, CMD_XML
from nornir_homehub.tasks.exec import run_command
from nornir_homehub.tasks.gpu import check_gpu
from nornir_homehub.testing import (
    Command,
    FileEntry,
    ScriptedHost,
    UnscriptedCommand,
    scripted_nornir,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"
H100 = {"vendor": "nvidia", "model": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}


def _idle_csv() -> str:
    # The capture's second line is the nounits row CMD_QUERY_GPU asks for (noheader).
    return FIX.joinpath("query-gpu-idle.csv").read_text().splitlines(keepends=True)[1]


def test_check_gpu_through_the_double_on_the_h100_capture() -> None:
    host = ScriptedHost(
        "compute",
        [
            Command(CMD_QUERY_GPU, out=_idle_csv()),
            Command(CMD_QUERY_APPS, out=""),
            Command(CMD_XML, out=FIX.joinpath("nvidia-smi-q-idle.xml").read_text()),
        ],
    )
    nr = scripted_nornir({"compute": ({"role": "compute", "gpu": H100}, host)})
    agg = nr.run(task=check_gpu)
    checks = agg["compute"][0].result
    assert not agg.failed, [c.to_dict() for c in checks if c.failed]
    names = {c.name for c in checks}
    assert any("memory" in n for n in names) and any("temperature" in n for n in names)
    assert host.ran == [CMD_QUERY_GPU, CMD_QUERY_APPS, CMD_XML]
    assert host.unused() == []


def test_a_host_without_a_gpu_is_not_contacted() -> None:
    host = ScriptedHost("compute")
    nr = scripted_nornir({"compute": ({"role": "compute", "gpu": None}, host)})
    agg = nr.run(task=check_gpu)
    assert not agg.failed
    assert host.ran == []


def test_a_missing_driver_fails_the_check_with_a_remedy() -> None:
    host = ScriptedHost(
        "compute",
        [
            Command(
                CMD_QUERY_GPU,
                err="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                "driver. Make sure that the latest NVIDIA driver is installed and running.",
                exit=9,
            ),
            Command(CMD_QUERY_APPS, exit=9),
            Command(CMD_XML, exit=9),
        ],
    )
    nr = scripted_nornir({"compute": ({"role": "compute", "gpu": H100}, host)})
    agg = nr.run(task=check_gpu)
    failed = [c for c in agg["compute"][0].result if c.failed]
    assert agg.failed and failed
    assert any("driver" in (c.remedy or "").lower() for c in failed)


def test_exec_task_and_an_unscripted_command() -> None:
    host = ScriptedHost("trusted", [Command("hostname", out="trusted\n")])
    nr = scripted_nornir({"trusted": ({"role": "trusted"}, host)})
    agg = nr.run(task=run_command, command="hostname")
    assert agg["trusted"][0].result.stdout == "trusted\n" and not agg.failed
    agg = nr.run(task=run_command, command="rm -rf /")
    assert agg.failed
    assert isinstance(agg["trusted"][0].exception, UnscriptedCommand)


def test_files_timeouts_and_match_modes() -> None:
    host = ScriptedHost(
        "h",
        [
            Command("sleep", match="prefix", timeout=True),
            Command(r"^docker (ps|inspect)\b", match="regex", out="[]", times=1),
        ],
        files={"/etc/x": b"old", "/etc/y": FileEntry(b"y", 0o600)},
    )
    with pytest.raises(CommandTimeout):
        host.run("sleep 100")
    assert host.run("docker ps -aq").stdout == "[]"
    with pytest.raises(UnscriptedCommand):
        host.run("docker ps -aq")  # that line answered its one time
    assert host.read_file("/etc/x") == b"old" and host.read_file("/nope") is None
    host.put_file("/etc/x", b"new", mode=0o600)
    assert host.files["/etc/x"] == FileEntry(b"new", 0o600)
    assert host.uploads == ["/etc/x"] and host.bytes_uploaded == 3
