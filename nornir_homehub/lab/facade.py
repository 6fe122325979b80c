"""The `Lab` class: bring the lab up and down, report its status, drive its hosts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.errors import LabError
from nornir_homehub.lab.faults import IMPAIR_TAG, loss_rule, veth_name
from nornir_homehub.lab.inventory import read_lab_hosts
from nornir_homehub.lab.machine import (
    INSTALL_HINT,
    OWNER_FILE,
    compose_binary,
    lab_owner,
    missing_prerequisites,
)
from nornir_homehub.lab.model import (
    BRIDGE,
    BRIDGE_ADDR,
    DOCKER_BIP,
    DOCKER_POOL,
    EXTRA_FIRST,
    NS_PREFIX,
    SUBNET,
    HostStatus,
    LabHost,
    LabStatus,
)
from nornir_homehub.lab.processes import _alive, _children, _reap, _run, _stop_pid
from nornir_homehub.secrets import redact_tail

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Lab:
    """Bring the lab up, down and report its status.

    Args:
        lab_dir: state folder (keys, known_hosts, per-host files, docker data).
        hosts_file: the lab inventory's hosts.yaml (the three base hosts).
        extra_hosts: number of extra compute-like nodes (``lab up --hosts N`` gives N - 3).
    """

    def __init__(self, lab_dir: Path, hosts_file: Path, extra_hosts: int | None = None) -> None:
        self.dir = lab_dir
        self.hosts_file = hosts_file
        self.base_hosts = read_lab_hosts(hosts_file)
        saved = int(self._load_state().get("extra_hosts", 0))
        # None: keep what the running lab has (``lab up`` twice is harmless; ``down`` finds
        # every node); a number: that many extra nodes (``lab up --hosts 3`` shrinks back).
        self.extra = saved if extra_hosts is None else extra_hosts
        if len(self.base_hosts) + self.extra > 48:
            raise LabError("the lab subnet holds at most 48 hosts")

    # -- paths and state -------------------------------------------------------------------
    @property
    def hosts(self) -> list[LabHost]:
        """Base hosts plus extra nodes."""
        extra = [
            LabHost(f"node{i:02d}", str(SUBNET.network_address + EXTRA_FIRST - 128 + i - 1), "node")
            for i in range(1, self.extra + 1)
        ]
        return self.base_hosts + extra

    @property
    def key_file(self) -> Path:
        """The lab's private SSH key."""
        return self.dir / "keys" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """The lab's known_hosts file."""
        return self.dir / "known_hosts"

    @property
    def inventory_dir(self) -> Path:
        """Generated inventory covering base hosts and extra nodes (``lab up --hosts N``)."""
        return self.dir / "inventory"

    def host_dir(self, name: str) -> Path:
        """Per-host state folder."""
        return self.dir / "hosts" / name

    def _pid(self, name: str, what: str) -> int | None:
        try:
            return int((self.host_dir(name) / f"{what}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _save_pid(self, name: str, what: str, pid: int) -> None:
        (self.host_dir(name) / f"{what}.pid").write_text(f"{pid}\n")

    def _state_file(self) -> Path:
        return self.dir / "state.json"

    def _load_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return data

    # -- status ------------------------------------------------------------------------------
    def _bridge_present(self) -> bool:
        return Path(f"/sys/class/net/{BRIDGE}").exists()

    def _netns_exists(self, host: LabHost) -> bool:
        return Path(f"/run/netns/{host.netns}").exists()

    def status(self) -> LabStatus:
        """Report bridge, namespaces and processes (no connection is made)."""
        hosts = []
        for h in self.hosts:
            d = self.host_dir(h.name)
            sshd = self._pid(h.name, "sshd")
            up = self._netns_exists(h) and _alive(sshd)
            st = HostStatus(
                name=h.name,
                address=h.address,
                role=h.role,
                state="up" if up else "down",
                sshd_pid=sshd if _alive(sshd) else None,
                sshd_log=str(d / "sshd.log"),
            )
            if h.docker:
                dpid = self._pid(h.name, "dockerd")
                st.dockerd_pid = dpid if _alive(dpid) else None
                st.dockerd_log = str(d / "dockerd.log")
                if st.dockerd_pid is None:
                    st.state = "down" if not up else "degraded"
            if h.role == "dns":
                npid = self._pid(h.name, "named")
                st.named_pid = npid if _alive(npid) else None
            hosts.append(st)
        bridge = self._bridge_present()
        return LabStatus(
            up=bridge and all(h.state == "up" for h in hosts),
            lab_dir=str(self.dir),
            bridge=BRIDGE,
            bridge_present=bridge,
            hosts=hosts,
        )

    # -- up ------------------------------------------------------------------------------------
    def up(self, log: Any = None, *, take_over: bool = False) -> LabStatus:
        """Create whatever is missing: bridge, keys, hosts, dockerd, named. Harmless when up.

        Args:
            log: called with a line for each step taken.
            take_over: stop a lab that another checkout started (the lab is machine-wide);
                without it, such a lab is an error.

        Raises:
            LabError: a prerequisite is missing (named in the message), another checkout's lab
                runs, or a step failed.
        """
        say = log or (lambda _msg: None)
        self._claim(say, take_over)
        missing = missing_prerequisites()
        if missing:
            raise LabError(
                "lab prerequisites missing: "
                + "; ".join(missing)
                + f". Install with: {INSTALL_HINT}"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        # Its key, the hosts' keys and Docker data (containers' env: the stacks' secrets).
        self.dir.chmod(0o700)
        self._state_file().write_text(json.dumps({"extra_hosts": self.extra}))
        self._ensure_keys()
        self._ensure_bridge()
        OWNER_FILE.write_text(f"{self.dir.resolve()}\n")
        self._remove_unwanted_hosts(say)
        started = []
        for h in self.hosts:
            if self._netns_exists(h) and _alive(self._pid(h.name, "sshd")):
                continue
            if self._netns_exists(h) and self.start_sshd(h.name):
                say(f"host {h.name}: sshd restarted")
                continue
            self._start_host(h)
            started.append(h)
            say(f"host {h.name} ({h.address}) started")
        self._write_known_hosts()
        self._write_inventory()
        for h in self.hosts:
            self._wait_port(h, 22)
        for h in self.hosts:
            if h.docker and not _alive(self._pid(h.name, "dockerd")):
                self._start_dockerd(h)
        for h in self.hosts:
            if h.docker:
                self._wait_docker(h)
                if h in started:
                    self._clean_docker(h)
            if h.role == "dns" and not _alive(self._pid(h.name, "named")):
                self._start_named(h)
                say(f"named started on {h.name}")
        self._provision(say)
        return self.status()

    def _claim(self, say: Any, take_over: bool) -> None:
        """Refuse, or stop, a lab that another checkout started (the names are machine-wide)."""
        owner = lab_owner()
        if owner is None or owner.resolve() == self.dir.resolve():
            return
        if not take_over:
            raise LabError(
                f"a lab started from another checkout runs on this machine ({owner}); "
                "stop it there with `python3 -m nornir_homehub lab down` first"
            )
        Lab(owner, self.hosts_file).down()
        say(f"stopped the lab of {owner}")

    def _remove_unwanted_hosts(self, say: Any) -> None:
        """Stop extra nodes beyond the wanted count (``lab up --hosts 3`` after ``--hosts 24``)."""
        wanted = {h.name for h in self.hosts}
        hosts_root = self.dir / "hosts"
        for d in sorted(hosts_root.iterdir()) if hosts_root.is_dir() else []:
            if d.name not in wanted and self._pid(d.name, "sshd"):
                self._stop_host(LabHost(d.name, "0.0.0.0", "node"))  # noqa: S104 - never connected
                say(f"host {d.name} removed (lab shrinks to {len(wanted)} hosts)")

    def _ensure_keys(self) -> None:
        keys = self.key_file.parent
        keys.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            _run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "homehub-lab",
                    "-f",
                    str(self.key_file),
                ]
            )
        pub = self.key_file.with_suffix(".pub").read_text()
        (keys / "authorized_keys").write_text(pub)

    def _ensure_bridge(self) -> None:
        if not self._bridge_present():
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
            _run(["ip", "addr", "add", BRIDGE_ADDR, "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])

    def _start_host(self, h: LabHost) -> None:
        d = self.host_dir(h.name)
        for sub in ("ovl", "merged", "docker-data"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        hostkey = d / "ssh_host_ed25519_key"
        if not hostkey.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", str(hostkey)])
        keys = self.key_file.parent
        (d / "sshd_config").write_text(
            f"ListenAddress {h.address}:22\n"
            f"HostKey {hostkey}\n"
            "PidFile none\n"
            f"AuthorizedKeysFile {keys}/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "UseDNS no\n"
            "MaxSessions 16\n"
            "MaxStartups 64:30:128\n"
            "Subsystem sftp internal-sftp\n"
        )
        if self._netns_exists(h):
            # A namespace without its sshd (crashed host): start clean.
            self._stop_host(h)
        _run(["ip", "netns", "add", h.netns])
        veth = veth_name(h.name)
        if Path(f"/sys/class/net/{veth}").exists():
            # Left by a lab whose namespace outlived `ip netns del` (a process still held it).
            _run(["ip", "link", "del", veth], check=False)
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns])
        _run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
        _run(["ip", "-n", h.netns, "addr", "add", f"{h.address}/{SUBNET.prefixlen}", "dev", "eth0"])
        _run(["ip", "-n", h.netns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", h.netns, "link", "set", "lo", "up"])
        # The new veth has a new MAC: a neighbour entry left from an earlier host at this
        # address would send the first packets to the old MAC until it times out (~5 s).
        _run(["ip", "neigh", "flush", "to", h.address, "dev", BRIDGE], check=False)
        compose = compose_binary()
        m = d / "merged"
        script = f"""
set -e
hostname {h.name}
mount -t tmpfs -o size=1g,mode=755 hh-{h.name} {d}/ovl
mkdir -p {d}/ovl/upper {d}/ovl/work
mount -t overlay overlay -o lowerdir=/,upperdir={d}/ovl/upper,workdir={d}/ovl/work {m}
mount -t proc proc {m}/proc
mount --rbind /dev {m}/dev
mount --rbind /sys {m}/sys
mount -t tmpfs -o mode=755 tmpfs {m}/run
mkdir -p {m}/run/sshd {m}/var/lib/docker {m}/usr/libexec/docker/cli-plugins {m}{keys}
mount --bind {d}/docker-data {m}/var/lib/docker
mount --bind {keys} {m}{keys}
touch {m}/usr/libexec/docker/cli-plugins/docker-compose
mount --bind -o ro {compose} {m}/usr/libexec/docker/cli-plugins/docker-compose
echo {h.name} > {m}/etc/hostname
printf '127.0.0.1 localhost\\n{h.address} {h.name}\\n' > {m}/etc/hosts
printf 'export PATH=%s\\n' {_PATH} > {m}/root/.bashrc
rm -f {m}/root/.profile {m}/root/.bash_profile
cd {m} && mkdir -p .oldroot && pivot_root . .oldroot && cd /
umount -l /.oldroot && rmdir /.oldroot
exec /usr/sbin/sshd -D -e -f {d}/sshd_config
"""
        self._spawn(
            h.name,
            "sshd",
            [
                "nsenter",
                f"--net=/run/netns/{h.netns}",
                "unshare",
                "--uts",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ],
        )

    def stop_sshd(self, name: str) -> None:
        """Stop only the sshd of a lab host (the host's engines keep running): an SSH outage."""
        pid = self._pid(name, "sshd")
        if pid:
            _stop_pid(pid)

    def start_sshd(self, name: str) -> bool:
        """Start sshd again inside a host whose namespaces are still held by dockerd or named.

        Returns:
            False when no process of the host is left to enter (the host must be recreated).
        """
        h = next(x for x in self.hosts if x.name == name)
        anchor = next(
            (p for p in (self._pid(name, "dockerd"), self._pid(name, "named")) if _alive(p)), None
        )
        if anchor is None:
            return False
        d = self.host_dir(name)
        self._spawn(
            name,
            "sshd",
            [
                "nsenter",
                "-t",
                str(anchor),
                "-n",
                "-u",
                "-m",
                "-r",
                "-w",
                "--",
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
                str(d / "sshd_config"),
            ],
        )
        self._wait_port(h, 22)
        return True

    # -- faults, for the fault suite (each undone by its counterpart) ----------------------
    def kill_sshd(self, name: str) -> list[int]:
        """SIGKILL a host's sshd and each session process it forked: sshd crashes mid-session.

        The sessions' shells are left as a crash leaves them (their stdin reaches EOF).
        `start_sshd` brings sshd back. Returns the PIDs killed.
        """
        listener = self._pid(name, "sshd")
        if listener is None or not _alive(listener):
            return []
        killed = [*_children(listener, "sshd"), listener]
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in killed:
            _reap(pid)
        return killed

    def link_down(self, name: str) -> None:
        """Cut a host off the bridge (its veth's bridge side down): packets vanish silently."""
        _run(["ip", "link", "set", veth_name(name), "down"])

    def link_up(self, name: str) -> None:
        """Put a host back on the bridge after `link_down`."""
        _run(["ip", "link", "set", veth_name(name), "up"])

    def impair_link(self, name: str, *, rate_kbit: int = 1000, loss_pct: float = 10.0) -> None:
        """Make a host's link slow and lossy, both ways, until `clear_link`.

        This kernel has no ``sch_netem`` (no ``tc ... netem delay/loss``), so: ``tbf`` caps the
        rate (queueing delay under load) on both ends of the veth, and iptables' ``statistic``
        match drops ``loss_pct`` percent of the host's packets in and out (inside the host's
        own network namespace).
        """
        tbf = ["root", "tbf", "rate", f"{rate_kbit}kbit", "burst", "32kb", "latency", "400ms"]
        _run(["tc", "qdisc", "replace", "dev", veth_name(name), *tbf])
        ns = ["ip", "netns", "exec", f"{NS_PREFIX}{name}"]
        _run([*ns, "tc", "qdisc", "replace", "dev", "eth0", *tbf])
        for chain, way in (("INPUT", "-i"), ("OUTPUT", "-o")):
            _run([*ns, "iptables", "-w", "-I", chain, *loss_rule(way, loss_pct)])

    def clear_link(self, name: str) -> None:
        """Undo `impair_link` and `link_down` (harmless when neither is in place)."""
        _run(["tc", "qdisc", "del", "dev", veth_name(name), "root"], check=False)
        ns = ["ip", "netns", "exec", f"{NS_PREFIX}{name}"]
        _run([*ns, "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        rules = _run([*ns, "iptables", "-w", "-S"], check=False).stdout.splitlines()
        for rule in rules:
            if IMPAIR_TAG in rule and rule.startswith("-A "):
                _run([*ns, "iptables", "-w", "-D", *rule.split()[1:]], check=False)
        self.link_up(name)

    def _spawn(self, name: str, what: str, args: list[str]) -> int:
        """Start a long-running lab process (sshd, dockerd, named), logging to ``<what>.log``.

        Its PID is recorded in ``<what>.pid``: teardown ends exactly the processes started here.
        """
        d = self.host_dir(name)
        with (d / f"{what}.log").open("ab") as log:
            proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._save_pid(name, what, proc.pid)
        return proc.pid

    def _nsenter(self, h: LabHost) -> list[str]:
        pid = next(
            (p for p in (self._pid(h.name, w) for w in ("sshd", "dockerd", "named")) if _alive(p)),
            None,
        )
        if not _alive(pid):
            raise LabError(f"lab host {h.name} is not running")
        return ["nsenter", "-t", str(pid), "-n", "-u", "-m", "-r", "-w", "--"]

    def host_exec(
        self, name: str, command: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside a lab host's namespaces (lab plumbing, not SSH)."""
        h = next((x for x in self.hosts if x.name == name), None)
        if h is None and not self._pid(name, "sshd"):
            raise LabError(f"no lab host {name}")
        # A node beyond the wanted count (being removed) is still entered by its PIDs.
        target = h or LabHost(name, "0.0.0.0", "node")  # noqa: S104 - never connected
        return _run([*self._nsenter(target), "sh", "-c", command], check=False, timeout=timeout)

    def _wait_port(self, h: LabHost, port: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = _run(
                ["ip", "netns", "exec", h.netns, "ss", "-Hltn", f"sport = :{port}"], check=False
            ).stdout
            if out.strip():
                return
            time.sleep(0.05)
        log = redact_tail((self.host_dir(h.name) / "sshd.log").read_text(), 800)
        raise LabError(f"lab host {h.name}: nothing listens on {h.address}:{port}; sshd log: {log}")

    def _start_dockerd(self, h: LabHost) -> None:
        self._spawn(
            h.name,
            "dockerd",
            [
                *self._nsenter(h),
                "dockerd",
                "--iptables=true",
                "--ip6tables=false",
                f"--bip={DOCKER_BIP}",
                f"--default-address-pool=base={DOCKER_POOL},size=29",
            ],
        )

    def _wait_docker(self, h: LabHost, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.host_exec(h.name, "docker info --format '{{.ServerVersion}}'").returncode == 0:
                return
            if not _alive(self._pid(h.name, "dockerd")):
                break
            time.sleep(0.2)
        tail = redact_tail((self.host_dir(h.name) / "dockerd.log").read_text(), 1500)
        raise LabError(f"lab host {h.name}: dockerd did not become ready; log tail:\n{tail}")

    def _clean_docker(self, h: LabHost) -> None:
        """A freshly started host has no containers, networks or volumes (images are a cache)."""
        self.host_exec(
            h.name,
            'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null; '
            "docker network prune -f >/dev/null; docker volume prune -af >/dev/null 2>&1 || "
            "docker volume prune -f >/dev/null",
            timeout=120,
        )

    def _start_named(self, h: LabHost) -> None:
        prep = self.host_exec(
            h.name, "mkdir -p /run/named && chown bind:bind /run/named && named-checkconf"
        )
        if prep.returncode != 0:
            raise LabError(f"lab host {h.name}: cannot prepare named: {prep.stderr.strip()}")
        d = self.host_dir(h.name)
        self._spawn(
            h.name,
            "named",
            [*self._nsenter(h), "/usr/sbin/named", "-f", "-u", "bind", "-n", "1"],
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.host_exec(h.name, "rndc status >/dev/null 2>&1").returncode == 0:
                return
            time.sleep(0.1)
        raise LabError(
            f"lab host {h.name}: named did not answer rndc status; see {d / 'named.log'}"
        )

    def _write_known_hosts(self) -> None:
        lines = []
        for h in self.hosts:
            pub = (self.host_dir(h.name) / "ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{h.address} {pub[0]} {pub[1]}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    @property
    def config_file(self) -> Path:
        """The lab's own config, written by ``up``: every path in it absolute, extra nodes in.

        It works wherever nornir_homehub is installed (a wheel carries the lab inventory but
        must not be written to): ``homehub --config <lab dir>/inventory/config.yaml deploy``.
        """
        return self.inventory_dir / "config.yaml"

    def _write_inventory(self) -> None:
        """Write `config_file` and its inventory (extra nodes of ``lab up --hosts N`` too)."""
        inv = self.inventory_dir
        inv.mkdir(parents=True, exist_ok=True)
        hosts = yaml.safe_load(self.hosts_file.read_text()) or {}
        for h in self.hosts[len(self.base_hosts) :]:
            hosts[h.name] = {
                "hostname": h.address,
                "groups": ["node"],
                "data": {"role": "node", "fqdn": f"{h.name}.lab", "gpu": None},
            }
        (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
        src = self.hosts_file.parent
        defaults = yaml.safe_load((src / "defaults.yaml").read_text()) or {}
        extras = defaults["connection_options"]["homehub_ssh"]["extras"]
        extras["known_hosts"] = str(self.known_hosts)
        extras["key_file"] = str(self.key_file)
        (inv / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
        cfg = yaml.safe_load((src / "config.yaml").read_text())
        cfg["inventory"]["options"] = {
            "host_file": str(inv / "hosts.yaml"),
            "group_file": str(src / "groups.yaml"),
            "defaults_file": str(inv / "defaults.yaml"),
        }
        hh = cfg.setdefault("homehub", {})
        for key in ("vault_file", "vault_password_file", "stacks_dir", "runbooks_dir"):
            if isinstance(hh.get(key), str) and not Path(hh[key]).is_absolute():
                hh[key] = str((src / hh[key]).resolve())
        # State next to the lab's own folder, wherever the lab's inventory came from.
        hh["lab_dir"] = str(self.dir)
        hh["report_dir"] = str(self.dir.parent / "reports")
        hh["history_dir"] = str(self.dir.parent / "runs")
        self.config_file.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def _provision(self, say: Any) -> None:
        """Build the stand-in images and start the lab's edge (Traefik + auth stand-in)."""
        try:
            from nornir_homehub.lab import images
        except ImportError:
            return
        from nornir_homehub.connection import HomehubSSH

        for h in self.hosts:
            if h.role not in ("trusted", "compute"):
                continue
            conn = self.connect(h, HomehubSSH())
            try:
                built = images.ensure_images(conn, h.role)
                if built:
                    say(f"{h.name}: built {', '.join(built)}")
                if h.role == "trusted":
                    images.ensure_edge(conn, self._domain())
                    say(f"{h.name}: lab edge (Traefik + auth stand-in) up")
            finally:
                conn.close()

    def _domain(self) -> str:
        defaults = yaml.safe_load((self.hosts_file.parent / "defaults.yaml").read_text()) or {}
        return str((defaults.get("data") or {}).get("domain", "homehub.test"))

    def connect(self, h: LabHost, conn: Any) -> Any:
        """Open ``conn`` (a HomehubSSH) to a lab host with the lab's key and known_hosts."""
        conn.open(
            hostname=h.address,
            username="root",
            password=None,
            port=22,
            platform=None,
            extras={
                "known_hosts": str(self.known_hosts),
                "key_file": str(self.key_file),
                "ssh_config": "/dev/null",
                "lab_bridge": BRIDGE,
                "inventory_name": h.name,
                "connect_timeout": 5,
                "command_timeout": 600,
            },
        )
        return conn

    # -- down --------------------------------------------------------------------------------
    def down(self, purge: bool = False) -> None:
        """Stop everything the lab started (by PID), delete namespaces and the bridge.

        Args:
            purge: also delete the lab folder (keys, host keys, docker image cache).

        A lab that another checkout started is left alone (its namespaces carry the same names).
        """
        owner = lab_owner()
        if owner is not None and owner.resolve() != self.dir.resolve():
            if purge and self.dir.exists():
                shutil.rmtree(self.dir)
            return
        known = {h.name for h in self.hosts}
        hosts_root = self.dir / "hosts"
        if hosts_root.is_dir():
            known |= {p.name for p in hosts_root.iterdir() if p.is_dir()}
        by_name = {h.name: h for h in self.hosts}
        for name in sorted(known):
            h = by_name.get(name) or LabHost(name, "0.0.0.0", "node")  # noqa: S104 - placeholder, never used to connect
            self._stop_host(h)
        if self._bridge_present():
            _run(["ip", "link", "del", BRIDGE], check=False)
        OWNER_FILE.unlink(missing_ok=True)
        if self._state_file().exists():
            self._state_file().write_text(json.dumps({"extra_hosts": 0}))
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)

    def leftovers(self) -> list[str]:
        """What of the lab still exists on this machine (empty after a clean ``down``)."""
        found = []
        for h in self.hosts:
            if self._netns_exists(h):
                found.append(f"network namespace {h.netns}")
            for what in ("sshd", "dockerd", "named"):
                pid = self._pid(h.name, what)
                if _alive(pid):
                    found.append(f"{what} of {h.name} (pid {pid})")
        if self._bridge_present():
            found.append(f"bridge {BRIDGE}")
        mounts = Path("/proc/self/mountinfo").read_text()
        if str(self.dir) in mounts:
            found.append(f"mounts under {self.dir}")
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    net = os.readlink(entry / "ns" / "net")
                    cmd = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.dir).encode() in cmd and net:
                    found.append(f"process {entry.name} using {self.dir}")
        return found

    def _stop_host(self, h: LabHost) -> None:
        sshd = self._pid(h.name, "sshd")
        if h.docker or self._pid(h.name, "dockerd"):
            if _alive(sshd) and _alive(self._pid(h.name, "dockerd")):
                # Containers go first so that nothing is left holding the docker data dir.
                self.host_exec(
                    h.name,
                    'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null',
                    timeout=120,
                )
            dpid = self._pid(h.name, "dockerd")
            if dpid:
                _stop_pid(dpid, timeout=20)
        for what in ("named",):
            pid = self._pid(h.name, what)
            if pid:
                _stop_pid(pid)
        # Anything else living in the host's namespaces (started over SSH by tests or users).
        for pid in self._namespace_pids(h, sshd):
            _stop_pid(pid, timeout=5)
        if sshd:
            _stop_pid(sshd)
        if self._netns_exists(h):
            _run(["ip", "netns", "del", h.netns], check=False)
        d = self.host_dir(h.name)
        for what in ("sshd", "dockerd", "named"):
            (d / f"{what}.pid").unlink(missing_ok=True)

    def _namespace_pids(self, h: LabHost, sshd: int | None) -> list[int]:
        pids: set[int] = set()
        if self._netns_exists(h):
            out = _run(["ip", "netns", "pids", h.netns], check=False).stdout.split()
            pids.update(int(p) for p in out if p.isdigit())
        if _alive(sshd):
            try:
                mnt = os.readlink(f"/proc/{sshd}/ns/mnt")
            except OSError:
                mnt = ""
            if mnt:
                for entry in Path("/proc").iterdir():
                    if not entry.name.isdigit():
                        continue
                    try:
                        if os.readlink(entry / "ns" / "mnt") == mnt:
                            pids.add(int(entry.name))
                    except OSError:
                        continue
        pids.discard(sshd or -1)
        pids.discard(os.getpid())
        return sorted(pids)
