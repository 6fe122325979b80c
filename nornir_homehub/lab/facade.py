"""The `Lab` class: bring the lab up and down, report its status, drive its hosts.

What it does is spelled out in the modules beside it: `namespaces` (bridge, network
namespaces, each host's own root), `daemons` (sshd, dockerd, named), `processes` (PIDs, spawn,
stop), `inventory` (the generated inventory and config), `faults` (fault injection) and
`images` (the stand-in images and the lab's edge).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import LabError
from nornir_homehub.lab import daemons, faults, namespaces, registry
from nornir_homehub.lab.inventory import (
    extra_nodes,
    lab_domain,
    read_lab_hosts,
    write_inventory,
    write_known_hosts,
)
from nornir_homehub.lab.machine import (
    INSTALL_HINT,
    OWNER_FILE,
    compose_binary,
    lab_owner,
    leftovers,
    missing_prerequisites,
)
from nornir_homehub.lab.model import (
    BRIDGE,
    MAX_EXTRA,
    MAX_LIGHT,
    HostStatus,
    LabHost,
    LabStatus,
)
from nornir_homehub.lab.processes import HostProcesses, alive, run, stop_pid

if TYPE_CHECKING:
    import subprocess


def _placeholder(name: str) -> LabHost:
    """A host known only by its folder (a node being removed): entered by its PIDs, never SSH."""
    return LabHost(name, "0.0.0.0", "node")  # noqa: S104 - never connected


class Lab:
    """Bring the lab up, down and report its status.

    Args:
        lab_dir: state folder (keys, known_hosts, per-host files, docker data).
        hosts_file: the lab inventory's hosts.yaml (the three base hosts).
        extra_hosts: number of extra compute-like nodes (``lab up --hosts N`` gives N - 3).
    """

    def __init__(
        self,
        lab_dir: Path,
        hosts_file: Path,
        extra_hosts: int | None = None,
        *,
        light: bool | None = None,
    ) -> None:
        self.dir = lab_dir
        self.hosts_file = hosts_file
        self.base_hosts = read_lab_hosts(hosts_file)
        state = self._load_state()
        saved = int(state.get("extra_hosts", 0))
        self.saved_light = bool(state.get("light", False))
        # None: keep what the running lab has (``lab up`` twice is harmless; ``down`` finds
        # every node); a number: that many extra nodes (``lab up --hosts 3`` shrinks back).
        self.extra = saved if extra_hosts is None else extra_hosts
        if light is None:
            light = self.saved_light if extra_hosts is None else False
        self.light = light
        limit = MAX_LIGHT if light else MAX_EXTRA
        if self.extra > limit:
            kind = "light nodes (203.0.113.0/24)" if light else "nodes with Docker (--light: more)"
            raise LabError(
                f"the lab holds at most {len(self.base_hosts) + limit} hosts with {kind}; "
                f"{len(self.base_hosts) + self.extra} asked"
            )

    # -- paths and state -------------------------------------------------------------------
    @property
    def hosts(self) -> list[LabHost]:
        """Base hosts plus extra nodes."""
        return self.base_hosts + extra_nodes(self.extra, light=self.light)

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

    @property
    def config_file(self) -> Path:
        """The lab's own config, written by ``up``: every path in it absolute, extra nodes in.

        It works wherever nornir_homehub is installed (a wheel carries the lab inventory but
        must not be written to): ``homehub --config <lab dir>/inventory/config.yaml deploy``.
        """
        return self.inventory_dir / "config.yaml"

    def host_dir(self, name: str) -> Path:
        """Per-host state folder."""
        return self.dir / "hosts" / name

    @property
    def registry_host(self) -> LabHost | None:
        """The host the lab's image registry runs on (the dns host; None without one)."""
        return next((h for h in self.base_hosts if h.role == "dns"), None)

    @property
    def registry(self) -> str | None:
        """``address:port`` of the lab's image registry (None when the lab has no dns host)."""
        h = self.registry_host
        return registry.registry_address(h) if h else None

    @property
    def registry_storage(self) -> Path:
        """The registry's storage (kept across ``down`` as an image cache; ``--purge`` drops it)."""
        return self.dir / "registry"

    def processes(self, name: str) -> HostProcesses:
        """The daemons the lab started for host ``name`` (their PID files and logs)."""
        return HostProcesses(name, self.host_dir(name))

    def pid(self, name: str, what: str) -> int | None:
        """The recorded PID of a host's ``sshd``, ``dockerd`` or ``named`` (None when none)."""
        return self.processes(name).pid(what)

    def _state_file(self) -> Path:
        return self.dir / "state.json"

    def _load_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _host(self, name: str) -> LabHost:
        return next(x for x in self.hosts if x.name == name)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> LabStatus:
        """Report bridge, namespaces and processes (no connection is made)."""
        hosts = []
        for h in self.hosts:
            procs = self.processes(h.name)
            sshd = procs.pid("sshd")
            up = namespaces.netns_exists(h) and alive(sshd)
            st = HostStatus(
                name=h.name,
                address=h.address,
                role=h.role,
                state="up" if up else "down",
                sshd_pid=sshd if alive(sshd) else None,
                sshd_log=str(procs.log("sshd")),
            )
            if h.docker:
                dpid = procs.pid("dockerd")
                st.dockerd_pid = dpid if alive(dpid) else None
                st.dockerd_log = str(procs.log("dockerd"))
                if st.dockerd_pid is None:
                    st.state = "down" if not up else "degraded"
            if h.role == "dns":
                npid = procs.pid("named")
                st.named_pid = npid if alive(npid) else None
            hosts.append(st)
        bridge = namespaces.bridge_present()
        return LabStatus(
            up=bridge and all(h.state == "up" for h in hosts),
            lab_dir=str(self.dir),
            bridge=BRIDGE,
            bridge_present=bridge,
            hosts=hosts,
        )

    def leftovers(self) -> list[str]:
        """What of the lab still exists on this machine (empty after a clean ``down``)."""
        return leftovers(self.dir, [(h, self.processes(h.name)) for h in self.hosts])

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
        self._ensure_keys()
        namespaces.ensure_bridge(light=self.light)
        OWNER_FILE.write_text(f"{self.dir.resolve()}\n")
        self._remove_unwanted_hosts(say)
        self._state_file().write_text(json.dumps({"extra_hosts": self.extra, "light": self.light}))
        started = []
        for h in self.hosts:
            if namespaces.netns_exists(h) and self.processes(h.name).running("sshd"):
                continue
            if namespaces.netns_exists(h) and self.start_sshd(h.name):
                say(f"host {h.name}: sshd restarted")
                continue
            self._start_host(h)
            started.append(h)
            say(f"host {h.name} ({h.address}) started")
        write_known_hosts(
            self.known_hosts,
            [(h, self.host_dir(h.name) / "ssh_host_ed25519_key.pub") for h in self.hosts],
        )
        write_inventory(
            self.hosts_file,
            self.inventory_dir,
            extra=self.hosts[len(self.base_hosts) :],
            lab_dir=self.dir,
            known_hosts=self.known_hosts,
            key_file=self.key_file,
        )
        for h in self.hosts:
            daemons.wait_port(h, self.processes(h.name), 22)
        for h in self.hosts:
            if h.docker and not self.processes(h.name).running("dockerd"):
                daemons.start_dockerd(self.processes(h.name), self.registry)
        for h in self.hosts:
            self._start_daemons(h, fresh=h in started, say=say)
        self._provision(say)
        return self.status()

    def _start_daemons(self, h: LabHost, *, fresh: bool, say: Any) -> None:
        """Wait for the host's dockerd (cleaned when ``fresh``); start what its role runs beside.

        named and node-exporter on dns, the registry on its host.
        """
        procs = self.processes(h.name)
        if h.docker:
            daemons.wait_docker(procs)
            if fresh:
                daemons.clean_docker(procs)
        if h.role == "dns" and not procs.running("named"):
            daemons.start_named(procs)
            say(f"named started on {h.name}")
        if h.role == "dns" and not procs.running("node-exporter"):
            daemons.start_node_exporter(h, procs)
            say(f"node-exporter started on {h.name}")
        if h == self.registry_host and not procs.running(registry.REGISTRY):
            registry.start_registry(h, procs, self.registry_storage)
            say(f"registry started on {h.name} ({self.registry})")

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
        if self.light != self.saved_light:
            # Same names, other addresses (and Docker or not): every extra node starts again.
            wanted = {h.name for h in self.base_hosts}
        hosts_root = self.dir / "hosts"
        for d in sorted(hosts_root.iterdir()) if hosts_root.is_dir() else []:
            if d.name not in wanted and self.pid(d.name, "sshd"):
                self._stop_host(_placeholder(d.name))
                say(f"host {d.name} removed (lab shrinks to {len(wanted)} hosts)")

    def _ensure_keys(self) -> None:
        keys = self.key_file.parent
        keys.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "homehub-lab"]
            run([*keygen, "-f", str(self.key_file)])
        pub = self.key_file.with_suffix(".pub").read_text()
        (keys / "authorized_keys").write_text(pub)

    def _start_host(self, h: LabHost) -> None:
        d = self.host_dir(h.name)
        for sub in ("ovl", "merged", "docker-data"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        keys = self.key_file.parent
        daemons.write_sshd_config(h, d, keys)
        if namespaces.netns_exists(h):
            # A namespace without its sshd (crashed host): start clean.
            self._stop_host(h)
        namespaces.create_network(h)
        self.processes(h.name).spawn("sshd", namespaces.root_command(h, d, keys, compose_binary()))

    def _provision(self, say: Any) -> None:
        """Build the stand-in images and start the lab's edge (Traefik + auth stand-in)."""
        try:
            from nornir_homehub.lab import edge, images
        except ImportError:
            return
        from nornir_homehub.connection import HomehubSSH

        # Trusted first: it builds and pushes the stand-ins the other hosts pull.
        order = sorted(self.hosts, key=lambda h: h.role != "trusted")
        for h in order:
            if h.role not in ("trusted", "compute"):
                continue
            conn = self.connect(h, HomehubSSH())
            try:
                if h.role == "trusted" and self.registry:
                    pushed = images.publish_standins(conn, self.registry)
                    if pushed:
                        say(f"{h.name}: built and pushed {', '.join(pushed)}")
                built = images.ensure_images(conn, h.role, self.registry)
                if built:
                    say(f"{h.name}: built or pulled {', '.join(built)}")
                if h.role == "trusted":
                    edge.ensure_edge(conn, lab_domain(self.hosts_file))
                    say(f"{h.name}: lab edge (Traefik + auth stand-in) up")
            finally:
                conn.close()

    # -- using the hosts -----------------------------------------------------------------------
    def connect(self, h: LabHost, conn: Any, **extras: Any) -> Any:
        """Open ``conn`` (a HomehubSSH) to a lab host with the lab's key and known_hosts.

        ``extras`` add to or replace the connection extras (timeouts, keepalives).
        """
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
                **extras,
            },
        )
        return conn

    def host_exec(
        self, name: str, command: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside a lab host's namespaces (lab plumbing, not SSH)."""
        if not any(x.name == name for x in self.hosts) and not self.pid(name, "sshd"):
            raise LabError(f"no lab host {name}")
        # A node beyond the wanted count (being removed) is still entered by its PIDs.
        return self.processes(name).exec(command, timeout=timeout)

    # -- daemons, stopped and started again (the fault suite) -----------------------------------
    def stop_sshd(self, name: str) -> None:
        """Stop only the sshd of a lab host (the host's engines keep running): an SSH outage."""
        self.processes(name).stop("sshd")

    def start_sshd(self, name: str) -> bool:
        """Start sshd again inside a host whose namespaces are still held by dockerd or named.

        Returns:
            False when no process of the host is left to enter (the host must be recreated).
        """
        procs = self.processes(name)
        if not daemons.restart_sshd(procs):
            return False
        daemons.wait_port(self._host(name), procs, 22)
        return True

    def stop_dockerd(self, name: str, timeout: float = 20.0) -> int | None:
        """Stop a host's Docker Engine by its PID (containers stay); return that PID."""
        return self.processes(name).stop("dockerd", timeout=timeout)

    def start_dockerd(self, name: str) -> None:
        """Start a host's Docker Engine again, as ``lab up`` does, and wait until it answers.

        Harmless when it runs. Raises `LabError` when it does not become ready.
        """
        procs = self.processes(name)
        if procs.running("dockerd"):
            return
        daemons.start_dockerd(procs, self.registry)
        daemons.wait_docker(procs)

    def start_named(self, name: str) -> None:
        """Start named on a dns host, as ``lab up`` does, and wait until ``rndc status`` answers."""
        daemons.start_named(self.processes(name))

    # -- faults (each undone by its counterpart; see `faults`) ---------------------------------
    def kill_sshd(self, name: str) -> list[int]:
        """SIGKILL a host's sshd and each session process it forked: sshd crashes mid-session.

        The sessions' shells are left as a crash leaves them (their stdin reaches EOF).
        `start_sshd` brings sshd back. Returns the PIDs killed.
        """
        return faults.kill_sshd(self.processes(name))

    def link_down(self, name: str) -> None:
        """Cut a host off the bridge (its veth's bridge side down): packets vanish silently."""
        faults.link_down(name)

    def link_up(self, name: str) -> None:
        """Put a host back on the bridge after `link_down`."""
        faults.link_up(name)

    def impair_link(self, name: str, *, rate_kbit: int = 1000, loss_pct: float = 10.0) -> None:
        """Make a host's link slow and lossy, both ways, until `clear_link` (see `faults`)."""
        faults.impair_link(name, rate_kbit=rate_kbit, loss_pct=loss_pct)

    def clear_link(self, name: str) -> None:
        """Undo `impair_link` and `link_down` (harmless when neither is in place)."""
        faults.clear_link(name)

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
            self._stop_host(by_name.get(name) or _placeholder(name))
        namespaces.remove_bridge()
        OWNER_FILE.unlink(missing_ok=True)
        if self._state_file().exists():
            self._state_file().write_text(json.dumps({"extra_hosts": 0, "light": False}))
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)

    def _stop_host(self, h: LabHost) -> None:
        procs = self.processes(h.name)
        if h.docker or procs.pid("dockerd"):
            daemons.stop_docker(procs)
        procs.stop("named")
        procs.stop("node-exporter")
        registry.stop_registry(procs)
        # Anything else living in the host's namespaces (started over SSH by tests or users).
        for pid in namespaces.namespace_pids(h, procs):
            stop_pid(pid, timeout=5)
        procs.stop("sshd")
        namespaces.delete_netns(h)
        procs.forget()
