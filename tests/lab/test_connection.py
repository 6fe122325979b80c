"""The paramiko connection plugin against real sshd hosts of the lab."""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, accepted_connections, copy_lab_inventory, run_cli

from nornir_homehub.config import load_nornir
from nornir_homehub.connection import (
    DEFAULT_COMMAND_TIMEOUT,
    HomehubSSH,
    close_all,
    host_connection,
)
from nornir_homehub.errors import (
    CommandTimeout,
    HostKeyError,
    TransportError,
    UnsafeDestination,
)


def _open(lab: Any, name: str, **extras: Any) -> HomehubSSH:
    h = next(x for x in lab.hosts if x.name == name)
    # The lab's own extras, with the plugin's default command timeout.
    extras = {"command_timeout": DEFAULT_COMMAND_TIMEOUT, **extras}
    conn: HomehubSSH = lab.connect(h, HomehubSSH(), **extras)
    return conn


def test_exit_codes_and_both_streams_beyond_channel_window(lab: Any) -> None:
    with closing(_open(lab, "trusted")) as conn:
        # 3 MB on each stream: far beyond paramiko's 2 MB window; a reader that drained only
        # stdout would deadlock here.
        res = conn.run(
            "head -c 3000000 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2; exit 7",
            timeout=60,
        )
        assert res.exit_code == 7
        assert len(res.stdout) == 3_000_000 and set(res.stdout) == {"a"}
        assert len(res.stderr) == 3_000_000 and set(res.stderr) == {"b"}
        assert conn.run("true").exit_code == 0
        with pytest.raises(TransportError, match="exited 3"):
            conn.run("echo boom >&2; exit 3", check=True)


def test_command_timeout_ends_the_remote_process_tree(lab: Any) -> None:
    conn = _open(lab, "compute")
    pids = "/tmp/homehub-timeout.pids"
    try:
        with pytest.raises(CommandTimeout, match=r"compute: .* timed out after 1s") as exc:
            conn.run(
                f"echo $$ > {pids}; sh -c 'echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait'",
                timeout=1,
            )
        assert "process group" in str(exc.value) and "was ended" in str(exc.value)
        tree = conn.run(f"cat {pids}").stdout.split()
        assert len(tree) == 3  # login shell, inner sh, its background sleep
        # Nothing of it runs on the host any more (a zombie waiting for its reaper is ended).
        alive = conn.run(
            f"for p in {' '.join(tree)}; do s=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | "
            'cut -d\' \' -f1); [ -n "$s" ] && [ "$s" != Z ] && echo $p; done; true'
        )
        assert alive.stdout.split() == []
        assert conn.run("echo still-usable").stdout == "still-usable\n"
    finally:
        conn.run(f"rm -f {pids}")
        conn.close()


def test_stdin_and_batched_facts(lab: Any) -> None:
    with closing(_open(lab, "dns")) as conn:
        payload = bytes(range(256)) * 20000  # 5 MB of arbitrary bytes
        res = conn.run("sha256sum | cut -d' ' -f1", stdin=payload)
        assert res.stdout.strip() == hashlib.sha256(payload).hexdigest()
        facts = conn.run_batch(
            {"host": "hostname", "fail": "echo nope >&2; exit 4", "binary": "printf 'a\\0b\\n\\n'"}
        )
        assert facts["host"].stdout == "dns\n" and facts["host"].exit_code == 0
        assert facts["fail"].exit_code == 4 and facts["fail"].stderr == "nope\n"
        assert facts["binary"].stdout == "a\0b\n\n"
        assert conn.commands_run == 2  # the whole batch was one command (one round trip)


def test_upload_is_atomic_with_mode_and_owner(lab: Any) -> None:
    conn = _open(lab, "trusted")
    path = "/opt/homehub-test/upload.bin"
    try:
        old = b"old-content\n" * 1000
        conn.put_file(path, old, mode=0o644)
        assert conn.read_file(path) == old
        new = b"N" * 8_000_000
        want = {hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()}
        seen: set[str] = set()
        reader = _open(lab, "trusted")
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                seen.add(reader.run(f"sha256sum {path} | cut -d' ' -f1").stdout.strip())

        t = threading.Thread(target=watch)
        t.start()
        time.sleep(0.2)
        conn.put_file(path, new, mode=0o600, owner="root", group="bind")
        time.sleep(0.2)
        stop.set()
        t.join()
        reader.close()
        # A reader only ever saw the whole old or the whole new file, never a partial one.
        assert seen and seen <= want
        st = conn.run(f"stat -c '%a %U %G %s' {path}").stdout.split()
        assert st == ["600", "root", "bind", str(len(new))]
        # A failing upload (unknown owner) leaves the previous file and no temporary file.
        with pytest.raises(TransportError):
            conn.put_file(path, b"broken", mode=0o600, owner="no-such-user")
        assert conn.read_file(path) == new
        assert conn.run("ls -A /opt/homehub-test").stdout.split() == ["upload.bin"]
        assert conn.read_file("/opt/homehub-test/missing") is None
    finally:
        conn.run("rm -rf /opt/homehub-test")
        conn.close()


def test_unknown_host_key_is_refused(lab: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as exc:
        _open(lab, "compute", known_hosts=str(empty))
    pub = (lab.host_dir("compute") / "ssh_host_ed25519_key.pub").read_text().split()
    import base64

    fp = "SHA256:" + base64.b64encode(
        hashlib.sha256(base64.b64decode(pub[1])).digest()
    ).decode().rstrip("=")
    assert "compute" in str(exc.value) and fp in str(exc.value)
    assert "not in" in str(exc.value)


def test_changed_host_key_is_refused(lab: Any, tmp_path: Path) -> None:
    lines = lab.known_hosts.read_text().splitlines()
    trusted_key = next(line for line in lines if line.startswith("192.0.2.131 "))
    # Claim that dns (192.0.2.133) has trusted's key: the real one then looks "changed".
    forged = tmp_path / "known_hosts"
    forged.write_text("192.0.2.133 " + trusted_key.split(" ", 1)[1] + "\n")
    with pytest.raises(HostKeyError, match="CHANGED") as exc:
        _open(lab, "dns", known_hosts=str(forged))
    assert "dns" in str(exc.value) and "SHA256:" in str(exc.value)


def test_destinations_outside_the_lab_are_refused_before_connecting(lab: Any) -> None:
    conn = HomehubSSH()
    with pytest.raises(UnsafeDestination, match=r"198\.51\.100\.7"):
        conn.open(
            hostname="198.51.100.7",
            username="root",
            password=None,
            port=22,
            platform=None,
            extras={"inventory_name": "outsider"},
        )
    # The lab route check: an address not routed over the lab bridge is refused.
    from nornir_homehub import safety

    with pytest.raises(UnsafeDestination, match="not the lab bridge"):
        safety.check_route("x", "192.0.2.2", "hhbr0")


def test_unreachable_host_fails_fast_and_alone(lab: Any, tmp_path: Path) -> None:
    cfg = copy_lab_inventory(tmp_path / "inv")
    hosts_file = cfg.parent / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    # Nobody lives at .150 (no ARP answer); .133:2222 refuses at once.
    hosts["ghost"] = {"hostname": "192.0.2.150", "groups": ["compute"], "data": {"role": "node"}}
    hosts["refuser"] = {
        "hostname": "192.0.2.133",
        "port": 2222,
        "groups": ["dns"],
        "data": {"role": "node"},
    }
    hosts_file.write_text(yaml.safe_dump(hosts))
    nr = load_nornir(cfg)

    def hostname(task: Any) -> Any:
        from nornir.core.task import Result

        return Result(host=task.host, result=host_connection(task).run("hostname").stdout.strip())

    start = time.monotonic()
    agg = nr.run(task=hostname)
    elapsed = time.monotonic() - start
    close_all(nr)
    assert {n: agg[n][0].result for n in ("trusted", "compute", "dns")} == {
        "trusted": "trusted",
        "compute": "compute",
        "dns": "dns",
    }
    assert agg["ghost"].failed and isinstance(agg["ghost"][0].exception, TransportError)
    assert (
        agg["refuser"].failed
        and "ssh connection failed" in str(agg["refuser"][0].exception).lower()
    )
    assert "ghost" in str(agg["ghost"][0].exception)
    # Bounded by the 5 s connect timeout of the lab inventory, not by a TCP retry cycle.
    assert elapsed < 20


def test_exec_cli_one_connection_per_host(lab: Any) -> None:
    before = accepted_connections(lab)
    res = run_cli("exec", "--", "hostname")
    assert res.returncode == 0, res.stderr
    for name in ("trusted", "compute", "dns"):
        assert f"=== {name} (exit 0)\n{name}\n" in res.stdout
    after = accepted_connections(lab)
    assert {n: after[n] - before[n] for n in ("trusted", "compute", "dns")} == {
        "trusted": 1,
        "compute": 1,
        "dns": 1,
    }


def test_exec_cli_reports_failures_per_host(lab: Any) -> None:
    res = run_cli(
        "exec", "--filter", "role=compute", "--json", "--", "echo out; echo err >&2; exit 5"
    )
    assert res.returncode == 1
    import json

    data = json.loads(res.stdout)
    assert data["hosts"] == [
        {
            "host": "compute",
            "ok": False,
            "exit_code": 5,
            "stdout": "out\n",
            "stderr": "err\n",
            "error": None,
        }
    ]


def test_lab_status_json(lab: Any) -> None:
    import json

    res = run_cli("lab", "status", "--json", config=LAB_CONFIG)
    data = json.loads(res.stdout)
    assert res.returncode == 0 and data["up"] is True
    by_name = {h["name"]: h for h in data["hosts"]}
    assert by_name["trusted"]["address"] == "192.0.2.131"
    assert all(h["state"] == "up" for h in by_name.values())
    assert Path(by_name["dns"]["sshd_log"]).is_file()
    assert by_name["dns"]["named_pid"] and by_name["compute"]["dockerd_pid"]


def test_key_from_ssh_config_and_inventory_wins(lab: Any, tmp_path: Path) -> None:
    # ssh config names the lab key: no key_file in the inventory -> the config's IdentityFile.
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host 192.0.2.132\n  User root\n  IdentityFile {lab.key_file}\n")
    with closing(_open(lab, "compute", key_file=None, ssh_config=str(cfg))) as conn:
        assert conn.run("hostname").stdout == "compute\n"
    # ssh config names a key the host does not accept; the inventory's key_file wins.
    import subprocess

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    cfg.write_text(f"Host 192.0.2.132\n  IdentityFile {other}\n")
    with closing(_open(lab, "compute", ssh_config=str(cfg))) as conn:
        assert conn.run("hostname").stdout == "compute\n"
    with pytest.raises(TransportError, match="authentication failed"):
        _open(lab, "compute", key_file=str(other), ssh_config=str(cfg))


def test_run_parallel_overlaps_commands_in_one_round_trip(lab: Any) -> None:
    with closing(_open(lab, "compute")) as conn:
        stamp = "date +%s.%N; sleep 0.5; date +%s.%N"
        res = conn.run_parallel({"a": stamp, "b": stamp, "c": "echo no >&2; exit 3"})
        assert conn.commands_run == 1
        (a0, a1), (b0, b1) = (map(float, res[k].stdout.split()) for k in ("a", "b"))
        assert a0 < b1 and b0 < a1  # the two intervals overlap: they ran side by side
        assert res["c"].exit_code == 3 and res["c"].stderr == "no\n"
