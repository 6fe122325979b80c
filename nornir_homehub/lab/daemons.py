"""The daemons inside a lab host: its sshd, Docker Engine (trusted, compute, nodes), named (dns).

The dns host also runs Debian's node-exporter as a host process (it has no Docker), as a
production dns host runs the package's systemd service; the inventory says so with
``node_exporter: host`` and Prometheus scrapes it there.

Each is started by the lab (`HostProcesses.spawn`, its PID recorded) and waited for with a
bounded poll; a daemon that does not come up is a `LabError` carrying its log's tail.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from nornir_homehub.errors import LabError
from nornir_homehub.lab.model import DOCKER_BIP, DOCKER_POOL, SUBNET
from nornir_homehub.lab.processes import poll, run
from nornir_homehub.secrets import redact_tail

if TYPE_CHECKING:
    from nornir_homehub.lab.model import LabHost
    from nornir_homehub.lab.processes import HostProcesses

# Removes every container of the host (the lab's only use of `docker ps`: a cleanup command).
REMOVE_CONTAINERS = 'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null'


# -- sshd -----------------------------------------------------------------------------------------
def write_sshd_config(h: LabHost, d: Path, keys: Path) -> Path:
    """Write the host's own sshd host key (once) and ``sshd_config``; return the config's path.

    Public keys only (``keys/authorized_keys``), no PAM, no DNS lookups; more sessions and
    start-ups than the defaults, since one deploy opens several channels at once.
    """
    hostkey = d / "ssh_host_ed25519_key"
    if not hostkey.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", str(hostkey)])
    config = d / "sshd_config"
    config.write_text(sshd_config(f"{h.address}:22", hostkey, keys / "authorized_keys"))
    return config


def sshd_config(listen: str, hostkey: Path, authorized_keys: Path) -> str:
    """The text of a lab sshd's ``sshd_config``, listening on ``listen`` (``address:port``)."""
    return (
        f"ListenAddress {listen}\n"
        f"HostKey {hostkey}\n"
        "PidFile none\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
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


def restart_sshd(procs: HostProcesses) -> bool:
    """Start sshd again inside a host whose namespaces are still held by dockerd or named.

    Returns:
        False when no process of the host is left to enter (the host must be recreated).
    """
    anchor = procs.anchor(("dockerd", "named"))
    if anchor is None:
        return False
    config = procs.folder / "sshd_config"
    enter = ["nsenter", "-t", str(anchor), "-n", "-u", "-m", "-r", "-w", "--"]
    procs.spawn("sshd", [*enter, "/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
    return True


def wait_port(h: LabHost, procs: HostProcesses, port: int, timeout: float = 10) -> None:
    """Wait until something listens on ``port`` in the host's network namespace.

    Raises:
        LabError: nothing listens after ``timeout`` seconds (with the sshd log's tail).
    """
    listen = ["ip", "netns", "exec", h.netns, "ss", "-Hltn", f"sport = :{port}"]
    if poll(lambda: bool(run(listen, check=False).stdout.strip()), timeout, 0.05):
        return
    log = redact_tail(procs.log("sshd").read_text(), 800)
    raise LabError(f"lab host {h.name}: nothing listens on {h.address}:{port}; sshd log: {log}")


# -- Docker Engine --------------------------------------------------------------------------------
def start_dockerd(procs: HostProcesses, registry: str | None = None) -> None:
    """Start the host's dockerd; its bridges and iptables rules stay in the host's namespace.

    ``registry`` (``address:port``, the lab's registry) is trusted over plain HTTP.
    """
    insecure = [f"--insecure-registry={registry}"] if registry else []
    procs.spawn(
        "dockerd",
        [
            *procs.nsenter(),
            "dockerd",
            "--iptables=true",
            "--ip6tables=false",
            f"--bip={DOCKER_BIP}",
            f"--default-address-pool=base={DOCKER_POOL},size=29",
            *insecure,
        ],
    )


def wait_docker(procs: HostProcesses, timeout: float = 60) -> None:
    """Wait until the host's Docker Engine answers.

    Raises:
        LabError: it did not answer within ``timeout`` seconds or dockerd died (log tail).
    """
    info = "docker info --format '{{.ServerVersion}}'"
    if poll(
        lambda: procs.exec(info).returncode == 0,
        timeout,
        0.2,
        alive=lambda: procs.running("dockerd"),
    ):
        return
    tail = redact_tail(procs.log("dockerd").read_text(), 1500)
    raise LabError(f"lab host {procs.name}: dockerd did not become ready; log tail:\n{tail}")


def clean_docker(procs: HostProcesses) -> None:
    """A freshly started host has no containers, networks or volumes (images are a cache)."""
    procs.exec(
        f"{REMOVE_CONTAINERS}; "
        "docker network prune -f >/dev/null; docker volume prune -af >/dev/null 2>&1 || "
        "docker volume prune -f >/dev/null",
        timeout=120,
    )


def stop_docker(procs: HostProcesses) -> None:
    """Remove the host's containers (nothing may hold the docker data dir), then stop dockerd."""
    if procs.running("sshd") and procs.running("dockerd"):
        procs.exec(REMOVE_CONTAINERS, timeout=120)
    procs.stop("dockerd", timeout=20)


# -- named ----------------------------------------------------------------------------------------
# Debian's named.conf.options, made explicit for an authoritative-only server: queries are
# answered for the lab subnet (the controller, and the trusted host's containers, whose queries
# Docker NATs to the trusted host's address: `internal_dns: bind`), recursion stays off.
NAMED_OPTIONS = f"""options {{
    directory "/var/cache/bind";
    listen-on {{ any; }};
    listen-on-v6 {{ none; }};
    allow-query {{ localhost; {SUBNET}; }};
    recursion no;
    dnssec-validation no;
}};
"""


def start_named(procs: HostProcesses) -> None:
    """Start named on the dns host (Debian's config, `NAMED_OPTIONS`); wait for ``rndc status``.

    Raises:
        LabError: named cannot be prepared (``named-checkconf``) or did not answer in 20 s.
    """
    prep = procs.exec(
        f"printf '%s' {shlex.quote(NAMED_OPTIONS)} > /etc/bind/named.conf.options && "
        "mkdir -p /run/named && chown bind:bind /run/named && named-checkconf"
    )
    if prep.returncode != 0:
        raise LabError(f"lab host {procs.name}: cannot prepare named: {prep.stderr.strip()}")
    procs.spawn("named", [*procs.nsenter(), "/usr/sbin/named", "-f", "-u", "bind", "-n", "1"])
    if poll(lambda: procs.exec("rndc status >/dev/null 2>&1").returncode == 0, 20, 0.1):
        return
    raise LabError(
        f"lab host {procs.name}: named did not answer rndc status; see {procs.log('named')}"
    )


# -- node-exporter (dns) --------------------------------------------------------------------------
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def start_node_exporter(h: LabHost, procs: HostProcesses) -> None:
    """Start Debian's node-exporter on the host's address, port 9100, and wait until it listens.

    Raises:
        LabError: the binary is missing (scripts/setup.sh installs it) or nothing listens.
    """
    if not Path(NODE_EXPORTER).is_file():
        raise LabError(f"{NODE_EXPORTER} missing: install Debian's prometheus-node-exporter")
    args = [NODE_EXPORTER, f"--web.listen-address={h.address}:9100"]
    procs.spawn("node-exporter", [*procs.nsenter(), *args])
    wait_port(h, procs, 9100)
