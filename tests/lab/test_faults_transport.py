"""The fault suite, transport share: SSH faults injected for real into the lab during deploys.

Each test injects one fault while ``deploy`` runs as a user would run it (a subprocess on a
private copy of the lab inventory), then asserts:
(a) the exit code, and the report's failing host, layer (``ssh``) and reason;
(b) nothing partial on the host: file bytes and mode, no temporary upload left, the stack's
    state record untouched;
(c) the other hosts unaffected: their files and containers exactly as before;
(d) with the fault removed, the next run converges (exit 0), and the one after is a no-op.

The copy adds a TEST-ONLY stack ``faultprobe`` to the compute host (one container of the
lab's qdrant stand-in image, a big file, a post-deploy step whose command each test sets),
so a fault hits a file upload or a long command at a moment the test chooses. The module
removes the stack from the lab again at its end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, FaultTable, copy_lab_inventory, run_cli, wait_for

from nornir_homehub.report import validate_report

pytestmark = pytest.mark.fault

HOSTS = ("trusted", "compute", "dns")
PROJECT = "/opt/stacks/faultprobe"
BLOB = f"{PROJECT}/blob.txt"
STATE = f"{PROJECT}/.homehub-state.json"
STEP_PIDS = "/run/faultprobe-step.pids"
LINE = 65500  # characters per blob line: few long lines keep the deploy's diff cheap

TEMPLATE = """\
# TEST-ONLY stack of tests/lab/test_faults_transport.py (never deployed outside the lab).
description: fault suite probe (test only)
role: compute
project: faultprobe
services: [probe]
secrets: []
data_dirs: []
files:
  - template: compose.yaml.j2
    dest: compose.yaml
    mode: "0644"
  - template: blob.txt.j2
    dest: blob.txt
    mode: "0640"
post_deploy:
  # Runs once per blob seed: the marker makes a converged stack a no-op.
  - name: probe step
    service: probe
    command: COMMAND
    unless: "grep -qxF {{ fault_blob_seed }} /run/faultprobe.done"
    timeout: TIMEOUT
health:
  - service: probe
    container: faultprobe
    healthcheck: false
"""
COMPOSE = """\
services:
  probe:
    image: {{ images.qdrant }}
    container_name: faultprobe
    restart: unless-stopped
    init: true
    entrypoint: ["/bin/sleep", "100000000"]
    healthcheck:
      disable: true
"""
BLOB_TEMPLATE = (
    "{% for i in range(fault_blob_lines) %}{{ fault_blob_seed }}-{{ i }}-"
    "{{ 'x' * " + str(LINE) + " }}\n{% endfor %}"
)


def blob_sha(seed: str, lines: int) -> str:
    text = "".join(f"{seed}-{i}-{'x' * LINE}\n" for i in range(lines))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Site:
    """The private inventory copy and its test-only stack."""

    lab: Any
    config: Path
    stacks: Path

    @property
    def inv(self) -> Path:
        return self.config.parent

    def set_compute(self, **data: Any) -> None:
        hosts_file = self.inv / "hosts.yaml"
        hosts = yaml.safe_load(hosts_file.read_text())
        hosts["compute"]["data"].update(data)
        hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))

    def compute_data(self) -> dict[str, Any]:
        hosts = yaml.safe_load((self.inv / "hosts.yaml").read_text())
        return dict(hosts["compute"]["data"])

    def set_step(self, command: str, timeout: int = 60) -> None:
        done = f"({command}) && echo {{{{ fault_blob_seed }}}} > /run/faultprobe.done"
        text = TEMPLATE.replace("COMMAND", json.dumps(done)).replace("TIMEOUT", str(timeout))
        (self.stacks / "faultprobe" / "template.yaml").write_text(text)

    def set_extra(self, key: str, value: Any) -> None:
        defaults_file = self.inv / "defaults.yaml"
        defaults = yaml.safe_load(defaults_file.read_text())
        defaults["connection_options"]["homehub_ssh"]["extras"][key] = value
        defaults_file.write_text(yaml.safe_dump(defaults, sort_keys=False))

    def expected_blob(self) -> str:
        data = self.compute_data()
        return blob_sha(data["fault_blob_seed"], data["fault_blob_lines"])


def sh(lab: Any, host: str, command: str, timeout: float = 120) -> str:
    res = lab.host_exec(host, command, timeout=timeout)
    assert res.returncode == 0, f"{host}: {command}: {res.stderr}"
    return str(res.stdout)


def file_state(lab: Any, host: str, path: str) -> tuple[str, str] | None:
    """(sha256, octal mode) of a file on a lab host, None when it does not exist."""
    out = lab.host_exec(host, f"stat -c %a {path} && sha256sum < {path}").stdout.split()
    return (out[1], out[0]) if len(out) >= 2 else None


def temporaries(lab: Any, host: str) -> list[str]:
    """Upload temporaries (``.NAME.homehub-*``) left anywhere the deploy writes."""
    out = lab.host_exec(
        host, "find /opt/stacks /etc/bind -name '.*.homehub-*' 2>/dev/null; true"
    ).stdout
    return out.split()


def snapshot(lab: Any, host: str) -> dict[str, Any]:
    """Every deployed file's sha256 + mode and every container's id + state on a host."""
    files = sh(
        lab,
        host,
        "find /opt/stacks /etc/bind -type f 2>/dev/null | sort | "
        'while read -r f; do echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; done',
    )
    containers = lab.host_exec(
        host, "docker ps -a --format '{{.Names}} {{.ID}} {{.State}}' 2>/dev/null | sort"
    ).stdout
    return {"files": files, "containers": containers}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    validate_report(data)
    return data


def deploy(site: Site, report: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    res = run_cli(
        "deploy", "--no-verify", "--keep-going", "--report", str(report), config=site.config
    )
    return res, load(report)


def failure(data: dict[str, Any], host: str) -> dict[str, Any]:
    """The first error of ``host``'s failed tasks in a report."""
    assert data["hosts"][host]["failed"] is True, data["hosts"][host]
    errors = [t["error"] for t in data["hosts"][host]["tasks"] if t["failed"] and t["error"]]
    typed = [e for e in errors if e["type"] not in ("TaskFailed", "NornirSubTaskError")]
    assert typed, errors
    return typed[0]  # type: ignore[no-any-return]


def assert_others_ok(data: dict[str, Any], before: dict[str, Any], lab: Any) -> None:
    """(c): the hosts without the fault did not fail and are exactly as before."""
    for host in ("trusted", "dns"):
        assert data["hosts"][host]["failed"] is False, data["hosts"][host]
        assert snapshot(lab, host) == before[host], f"{host} changed during the fault"
    stages = {s["name"]: s for s in data["stages"]}
    assert stages["dns"]["ok"] and stages["trusted stacks"]["ok"], data["stages"]


def assert_converges(site: Site, tmp: Path) -> None:
    """(d): exit 0, the probe's file as the inventory says, then a run that changes nothing."""
    res, data = deploy(site, tmp / "converge.json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert data["ok"] is True
    assert file_state(site.lab, "compute", BLOB) == (site.expected_blob(), "640")
    again, noop = deploy(site, tmp / "noop.json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert noop["summary"]["hosts_changed"] == 0, noop["summary"]
    assert not any(t["changed"] for h in noop["hosts"].values() for t in h["tasks"])
    for host in HOSTS:
        assert temporaries(site.lab, host) == []


def step_tree_alive(lab: Any) -> list[str]:
    """PIDs recorded by the probe step that still run (zombies count as ended)."""
    out = lab.host_exec(
        "compute",
        f"[ -f {STEP_PIDS} ] || exit 0; for p in $(cat {STEP_PIDS}); do "
        "s=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f1); "
        '[ -n "$s" ] && [ "$s" != Z ] && echo $p; done; true',
    ).stdout
    return out.split()


def end_step_tree(lab: Any) -> None:
    """Cleanup: end a probe step left running on the host (by the PIDs it recorded).

    The first PID is the step's login shell, which leads the process group of the session.
    """
    for pid in step_tree_alive(lab):
        lab.host_exec("compute", f"kill -KILL -{pid} {pid} 2>/dev/null; true")
    lab.host_exec("compute", f"rm -f {STEP_PIDS}")


@pytest.fixture(scope="module")
def site(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("faults")
    config = copy_lab_inventory(tmp / "inv")
    stacks = tmp / "stacks"
    shutil.copytree(ROOT / "stacks", stacks)
    (stacks / "faultprobe").mkdir()
    (stacks / "faultprobe" / "compose.yaml.j2").write_text(COMPOSE)
    (stacks / "faultprobe" / "blob.txt.j2").write_text(BLOB_TEMPLATE)
    cfg = yaml.safe_load(config.read_text())
    cfg["homehub"]["stacks_dir"] = str(stacks)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    groups_file = config.parent / "groups.yaml"
    groups = yaml.safe_load(groups_file.read_text())
    groups["compute"]["data"]["stacks"] = [*groups["compute"]["data"]["stacks"], "faultprobe"]
    groups_file.write_text(yaml.safe_dump(groups, sort_keys=False))
    s = Site(lab, config, stacks)
    # Keepalives a little tighter than the product's 5 s / 15 s, so a cut link shows sooner.
    s.set_extra("keepalive_interval", 2)
    s.set_extra("keepalive_timeout", 10)
    s.set_step("true")
    s.set_compute(fault_blob_seed="a", fault_blob_lines=32)
    res, _ = deploy(s, tmp / "setup.json")
    assert res.returncode == 0, res.stdout + res.stderr
    yield s
    for host in HOSTS:
        lab.clear_link(host)
    if not lab.status().up:
        lab.start_sshd("compute")
    end_step_tree(lab)
    lab.host_exec(
        "compute",
        f"cd {PROJECT} 2>/dev/null && docker compose -p faultprobe down --remove-orphans; "
        f"rm -rf {PROJECT}",
        timeout=180,
    )


@pytest.fixture
def step(site: Site) -> Iterator[Site]:
    """For a test that changes the probe step: a failing test leaves the quick one behind."""
    yield site
    end_step_tree(site.lab)
    site.set_step("true")


@pytest.fixture
def before(site: Site) -> dict[str, Any]:
    """The other hosts' files and containers before the fault."""
    return {host: snapshot(site.lab, host) for host in ("trusted", "dns")}


def start_deploy(site: Site, report: Path, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nornir_homehub",
                "--config",
                str(site.config),
                "deploy",
                "--no-verify",
                "--keep-going",
                "--report",
                str(report),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def uploading(lab: Any) -> bool:
    """True once the probe's big file is arriving in its temporary file on compute."""
    out = lab.host_exec(
        "compute", f"find {PROJECT} -maxdepth 1 -name '.blob.txt.homehub-*' -size +64k"
    ).stdout
    return bool(out.strip())


def probe_files(lab: Any) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(b): the probe's big file and its stack's state record on compute (`file_state` each)."""
    return file_state(lab, "compute", BLOB), file_state(lab, "compute", STATE)


def interrupted_deploy(
    site: Site,
    tmp: Path,
    moment: str,
    reached: Callable[[], bool],
    fault: Callable[[subprocess.Popen[bytes]], None],
    *,
    limit: float = 120,
    timeout: float = 600,
) -> tuple[str, dict[str, Any]]:
    """(a): a deploy hit by ``fault`` once ``reached`` says it is at ``moment``: it exits 1.

    ``limit`` bounds the wait for the moment, ``timeout`` the deploy's end after the fault.
    Returns the deploy's output and its report.
    """
    report = tmp / "fault.json"
    proc = start_deploy(site, report, tmp / "out.txt")
    wait_for(moment, reached, limit)
    fault(proc)
    rc = proc.wait(timeout=timeout)
    output = (tmp / "out.txt").read_text()
    assert rc == 1, output
    return output, load(report)


def ssh_failure(data: dict[str, Any], kind: str, words: str) -> dict[str, Any]:
    """(a): compute's error, a ``kind`` on layer ssh whose message names compute and ``words``."""
    err = failure(data, "compute")
    assert err["type"] == kind and err["layer"] == "ssh", err
    assert "compute" in err["message"] and words in err["message"]
    return err


def converged_row(
    site: Site, tmp: Path, fault_table: FaultTable, request: Any, fault: str, outcome: str
) -> None:
    """(d), then the fault's row: the outcome observed, and that the next run converged."""
    assert_converges(site, tmp)
    fault_table.record(fault=fault, outcome=outcome, converged=True, test=request.node.nodeid)


def test_sshd_killed_during_a_large_upload(
    site: Site, before: dict[str, Any], tmp_path: Path, fault_table: FaultTable, request: Any
) -> None:
    lab = site.lab
    old = probe_files(lab)
    assert old[0] == (site.expected_blob(), "640")
    site.set_compute(fault_blob_seed="b")  # a 2 MiB file to upload

    def kill_sshd(_proc: subprocess.Popen[bytes]) -> None:
        killed = lab.kill_sshd("compute")
        assert len(killed) >= 2  # the listener and the session that was uploading

    # A capped link makes the upload last seconds, so it is surely under way when sshd dies.
    lab.impair_link("compute", rate_kbit=4000, loss_pct=0)
    try:
        output, data = interrupted_deploy(
            site, tmp_path, "the upload to be under way", lambda: uploading(lab), kill_sshd
        )
    finally:
        lab.clear_link("compute")
        assert lab.start_sshd("compute")
    ssh_failure(data, "ConnectionLost", "connection lost")
    assert "Traceback" not in output and "paramiko" not in output
    # (b) The host's shell saw the stream end early: it removed its part, installed nothing.
    wait_for("the partial upload to be removed", lambda: temporaries(lab, "compute") == [])
    assert probe_files(lab) == old
    assert_others_ok(data, before, lab)
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "sshd killed (SIGKILL, sessions too) during a 2 MiB upload",
        "exit 1; compute fails on layer ssh with ConnectionLost; the old file stays "
        "byte for byte, no temporary file, state record untouched; trusted and dns unchanged",
    )


def test_sigint_during_an_upload(
    site: Site, before: dict[str, Any], tmp_path: Path, fault_table: FaultTable, request: Any
) -> None:
    lab = site.lab
    old = probe_files(lab)
    site.set_compute(fault_blob_seed="c")
    lab.impair_link("compute", rate_kbit=4000, loss_pct=0)
    try:
        # Exit 1: click's "Aborted!".
        output, data = interrupted_deploy(
            site,
            tmp_path,
            "the upload to be under way",
            lambda: uploading(lab),
            lambda proc: proc.send_signal(signal.SIGINT),
        )
    finally:
        lab.clear_link("compute")
    assert data["incomplete"] is True and data["ok"] is False
    assert data["error"]["type"] == "KeyboardInterrupt"
    assert "Traceback" not in output
    # (b) The controller closed the connection on its way out: the host dropped the part.
    wait_for("the partial upload to be removed", lambda: temporaries(lab, "compute") == [])
    assert probe_files(lab) == old
    for host in ("trusted", "dns"):
        assert snapshot(lab, host) == before[host]
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "SIGINT to the controller during a 2 MiB upload",
        "exit 1; report written and marked incomplete (KeyboardInterrupt); the host "
        "keeps the old file byte for byte, no temporary file, state record untouched",
    )


def test_link_cut_mid_command(
    step: Site, before: dict[str, Any], tmp_path: Path, fault_table: FaultTable, request: Any
) -> None:
    site = step
    lab = site.lab
    old_blob, old_state = probe_files(lab)
    site.set_step(f"echo $$ > {STEP_PIDS}; sleep 90", timeout=300)
    site.set_compute(fault_blob_seed="d", fault_blob_lines=4)
    new_blob = (site.expected_blob(), "640")
    try:
        # The deploy's end is bounded by the keepalives (2 s + 10 s here), far below the
        # step's 300 s timeout.
        _, data = interrupted_deploy(
            site,
            tmp_path,
            "the probe step to run",
            lambda: lab.host_exec("compute", f"test -s {STEP_PIDS}").returncode == 0,
            lambda _proc: lab.link_down("compute"),
            limit=300,
            timeout=300,
        )
    finally:
        lab.link_up("compute")
    ssh_failure(data, "ConnectionLost", "keepalive")
    # (b) Files were complete (old or new, never a part); the stack's state record is not
    # written for a deploy whose post-deploy step never finished.
    assert file_state(lab, "compute", BLOB) in (old_blob, new_blob)
    assert temporaries(lab, "compute") == []
    assert file_state(lab, "compute", STATE) == old_state
    assert_others_ok(data, before, lab)
    # Nothing could reach the host while the link was down: the step ran on; end it.
    end_step_tree(lab)
    site.set_step("true")
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "link cut (veth down on the bridge) during a long post-deploy command",
        "exit 1; compute fails on layer ssh with ConnectionLost (no answer to "
        "keepalives) within the keepalive bound, not at the 300 s command timeout; state "
        "record untouched; trusted and dns unchanged",
    )


def test_command_timeout_ends_the_remote_tree(
    step: Site, before: dict[str, Any], tmp_path: Path, fault_table: FaultTable, request: Any
) -> None:
    site = step
    lab = site.lab
    old_state = file_state(lab, "compute", STATE)
    site.set_step(
        f"echo $$ > {STEP_PIDS}; sh -c 'echo $$ >> {STEP_PIDS}; "
        f"sleep 300 & echo $! >> {STEP_PIDS}; wait'",
        timeout=3,
    )
    site.set_compute(fault_blob_seed="e", fault_blob_lines=4)
    res, data = deploy(site, tmp_path / "fault.json")
    assert res.returncode == 1, res.stdout + res.stderr
    err = ssh_failure(data, "CommandTimeout", "timed out after 3s")
    assert "process group" in err["message"] and "was ended" in err["message"]
    # (b) Nothing of the command is left on the host: the login shell, the inner sh and its
    # background sleep all ended with their process group.
    pids = sh(lab, "compute", f"cat {STEP_PIDS}").split()
    assert len(pids) == 3, pids
    assert step_tree_alive(lab) == []
    assert file_state(lab, "compute", STATE) == old_state
    assert temporaries(lab, "compute") == []
    assert_others_ok(data, before, lab)
    site.set_step("true")
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "command timeout (post-deploy step outlives its 3 s timeout)",
        "exit 1; compute fails on layer ssh with CommandTimeout; the command's "
        "remote process group (shell, child, background job) is ended; state record "
        "untouched; trusted and dns unchanged",
    )


def test_slow_lossy_link(site: Site, tmp_path: Path, fault_table: FaultTable, request: Any) -> None:
    lab = site.lab
    old_blob = file_state(lab, "compute", BLOB)
    site.set_compute(fault_blob_seed="f", fault_blob_lines=4)
    new_blob = (site.expected_blob(), "640")
    # No sch_netem in this kernel: 1 Mbit/s each way (tbf) and 10 % loss each way (iptables).
    lab.impair_link("compute", rate_kbit=1000, loss_pct=10)
    try:
        res, data = deploy(site, tmp_path / "fault.json")
    finally:
        lab.clear_link("compute")
    # Either it converged through the bad link, or it failed with a clear transport error;
    # it never hangs (run_cli's own bound would fail the test).
    if res.returncode == 0:
        outcome = "converged through the link (exit 0)"
        assert file_state(lab, "compute", BLOB) == new_blob
    else:
        assert res.returncode == 1, res.stdout + res.stderr
        err = failure(data, "compute")
        assert err["layer"] == "ssh" and "compute" in err["message"], err
        outcome = f"exit 1: compute fails on layer ssh with {err['type']}"
        assert file_state(lab, "compute", BLOB) in (old_blob, new_blob)
    assert temporaries(lab, "compute") == []
    for host in ("trusted", "dns"):
        assert data["hosts"][host]["failed"] is False
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "slow, lossy link to compute (tbf 1 Mbit/s + 10 % loss each way; no netem here)",
        outcome + "; no partial file",
    )


def test_changed_host_key(
    site: Site, before: dict[str, Any], tmp_path: Path, fault_table: FaultTable, request: Any
) -> None:
    lab = site.lab
    old = probe_files(lab)
    site.set_compute(fault_blob_seed="g", fault_blob_lines=4)
    # known_hosts now pins another key for compute: to the client, the host key changed.
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pinned = other.with_suffix(".pub").read_text().split()
    lines = lab.known_hosts.read_text().splitlines()
    forged = [
        f"192.0.2.132 {pinned[0]} {pinned[1]}" if x.startswith("192.0.2.132 ") else x for x in lines
    ]
    fake = tmp_path / "known_hosts"
    fake.write_text("\n".join(forged) + "\n")
    real = lab.known_hosts
    site.set_extra("known_hosts", str(fake))
    try:
        res, data = deploy(site, tmp_path / "fault.json")
    finally:
        site.set_extra("known_hosts", str(real))
    assert res.returncode == 1, res.stdout + res.stderr
    err = ssh_failure(data, "HostKeyError", "CHANGED")
    offered = fingerprint((lab.host_dir("compute") / "ssh_host_ed25519_key.pub").read_text())
    assert offered in err["message"] and fingerprint(" ".join(pinned)) in err["message"]
    # (b) The client never got past the key exchange: nothing on compute changed.
    assert probe_files(lab) == old
    assert_others_ok(data, before, lab)
    converged_row(
        site,
        tmp_path,
        fault_table,
        request,
        "changed host key (known_hosts pins another key for compute)",
        "exit 1; compute fails on layer ssh with HostKeyError naming both "
        "fingerprints; nothing changed on compute; trusted and dns deployed",
    )


def fingerprint(pub_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line."""
    import base64

    blob = base64.b64decode(pub_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
