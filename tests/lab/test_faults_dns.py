"""Fault suite, DNS: named stopped on the dns host (docs/reliability.md).

The fault is real: named is stopped by the PID in the lab's pid file, and started again
with the lab's own start-up (`Lab.start_named`). The test asserts what issue 10 asks of every
fault: (a) the exit code and the report's failing host, layer and reason (with a remedy that
names named and rndc); (b) nothing partial: the zone file is the old one, still valid, and the
state file still describes it; (c) the other hosts are unaffected (the DNS stage is the first
gate of the rollout); (d) with named running again, the next run converges (exit 0) and the
one after is a no-op (the serial does not move).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from nornir_homehub.plan.zonefile import parse_zone_file
from tests.conftest import LAB_CONFIG, run_cli
from tests.lab.test_dns import STATE_FILE, ZONE, ZONE_FILE, ask, edit_copy, on_dns, served

pytestmark = pytest.mark.fault

OTHER_HOSTS = ("trusted", "compute")
SNAPSHOT = (
    "docker ps -aq | xargs -r docker inspect -f "
    "'{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}' | sort; "
    "find /opt/stacks -type f -exec sha256sum {} + 2>/dev/null | sort"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop_named(lab: Any) -> int:
    pid = int((lab.host_dir("dns") / "named.pid").read_text())
    assert _alive(pid), "named is not running before the fault"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, f"named (pid {pid}) did not stop"
        time.sleep(0.1)
    with contextlib.suppress(ChildProcessError):  # not this process's child
        os.waitpid(pid, os.WNOHANG)  # started by this session's lab fixture: reap it
    return pid


def _start_named(lab: Any) -> None:
    lab.start_named("dns")


def _others(lab: Any) -> dict[str, str]:
    return {name: lab.host_exec(name, SNAPSHOT).stdout for name in OTHER_HOSTS}


def _dns_files() -> str:
    return on_dns(f"sha256sum {ZONE_FILE} {STATE_FILE}; ls -a /etc/bind/zones").stdout


def test_named_stopped_on_dns(
    lab: Any, lab_copy: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    base = run_cli("deploy", "--no-verify", config=LAB_CONFIG)
    assert base.returncode == 0, base.stdout + base.stderr
    serial = served()
    assert serial is not None
    config = edit_copy(
        lab_copy, dns_records=[{"name": "grafana", "type": "CNAME", "value": "trusted"}]
    )
    files, others = _dns_files(), _others(lab)
    _stop_named(lab)
    try:
        assert served() is None
        out = run_cli("deploy", "--no-verify", "--json", config=config)

        # (a) exit 1; the dns host failed on the dns layer, the reason and remedy name named/rndc
        assert out.returncode == 1, out.stdout + out.stderr
        report = json.loads(out.stdout)
        assert report["ok"] is False
        assert report["stopped_at"]["stage"] == "dns"
        error = report["hosts"]["dns"]["tasks"][0]["error"]
        assert error["type"] == "NamedNotRunning"
        assert error["layer"] == "dns"
        assert "named does not answer `rndc status`" in error["message"]
        assert "nothing was changed" in error["message"]
        assert "Start named" in error["message"]
        assert "check it with `rndc status`" in error["message"]
        assert "NamedNotRunning" in report["stopped_at"]["reason"]

        # (b) nothing partial: the old zone file (valid), the state still describing it
        assert _dns_files() == files
        assert on_dns(f"named-checkzone -q {ZONE} {ZONE_FILE}").ok
        zone = parse_zone_file(on_dns(f"cat {ZONE_FILE}").stdout, ZONE)
        state = json.loads(on_dns(f"cat {STATE_FILE}").stdout)
        have = {(r.name, r.rtype, r.value) for r in zone.records}
        assert {(r["name"], r["type"], r["value"]) for r in state["records"]} <= have
        assert zone.serial == serial

        # (c) the other hosts are untouched: the DNS stage is the rollout's first gate
        assert {s["name"] for s in report["stages"]} == {"dns"}
        assert _others(lab) == others
    finally:
        _start_named(lab)

    # (d) named is back (serving the old zone): the next run converges, then a no-op
    assert served() == serial
    again = run_cli("deploy", "--no-verify", "--json", config=config)
    assert again.returncode == 0, again.stdout + again.stderr
    stages = {s["name"]: s for s in json.loads(again.stdout)["stages"]}
    assert stages["dns"]["changed_hosts"] == ["dns"]
    assert ask("grafana", "CNAME").values == ("trusted.homehub.test.",)
    new_serial = served()
    assert new_serial is not None
    assert new_serial != serial
    noop = run_cli("deploy", "--no-verify", "--json", config=config)
    assert noop.returncode == 0, noop.stdout + noop.stderr
    report = json.loads(noop.stdout)
    assert all(not s["changed_hosts"] for s in report["stages"]), report["stages"]
    assert served() == new_serial, "the no-op run leaves the serial where it was"

    # Back to the lab inventory's zone for the tests that follow.
    restore = run_cli("dns", "--no-verify", config=LAB_CONFIG)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    fault_table.record(
        fault="named stopped on dns",
        outcome=(
            "exit 1 before any change: dns stage fails on layer dns (NamedNotRunning, remedy: "
            "start named, check `rndc status`); zone file and state file unchanged, later "
            "stages not run"
        ),
        converged=True,
        test=request.node.nodeid,
    )
