"""The local multi-host lab: network namespaces with their own sshd, hostname and root.

Each lab host is a network namespace on the lab bridge (``hhbr0``, 192.0.2.128/26), with a UTS
and mount namespace whose root is an overlay of this machine's ``/`` (upper layer on a tmpfs, so
nothing reaches the real ``/``), its own sshd, and Docker Engine + Compose v2 (trusted, compute
and extra nodes) or BIND9's named with Debian's default config (dns). The lab has its own SSH key
and known_hosts, so the client verifies host keys exactly as in production.

State lives in the lab folder (``homehub.lab_dir`` of ``inventory/lab/config.yaml``, git-ignored):
keys, known_hosts, per-host sshd config/host key/logs/PIDs and the Docker data dirs (kept by
``down`` as an image cache; ``down --purge`` removes the folder). Only processes the lab started
or that live inside its namespaces are ended, always by PID.

`Lab` (``facade``) is the way in; its parts: ``model`` (hosts, addresses, status),
``namespaces`` (bridge, network namespaces, each host's root), ``daemons`` (sshd, dockerd,
named), ``processes`` (PID files, spawn, stop by PID), ``inventory`` (the lab's generated
inventory and config), ``machine`` (prerequisites, the machine-wide lock and owner), ``faults``
(fault injection for the fault suite) and ``images`` (stand-in images, the lab's edge).
"""

from nornir_homehub.lab.facade import Lab
from nornir_homehub.lab.inventory import read_lab_hosts
from nornir_homehub.lab.machine import (
    INSTALL_HINT,
    LOCK_FILE,
    OWNER_FILE,
    REQUIRED_COMMANDS,
    compose_binary,
    lab_lock,
    lab_owner,
    missing_prerequisites,
)
from nornir_homehub.lab.model import (
    BRIDGE,
    BRIDGE_ADDR,
    DOCKER_BIP,
    DOCKER_POOL,
    DOCKER_ROLES,
    EXTRA_FIRST,
    NS_PREFIX,
    SUBNET,
    HostStatus,
    LabHost,
    LabStatus,
)
from nornir_homehub.lab.processes import HostProcesses, alive, stop_pid

__all__ = [
    "BRIDGE",
    "BRIDGE_ADDR",
    "DOCKER_BIP",
    "DOCKER_POOL",
    "DOCKER_ROLES",
    "EXTRA_FIRST",
    "INSTALL_HINT",
    "LOCK_FILE",
    "NS_PREFIX",
    "OWNER_FILE",
    "REQUIRED_COMMANDS",
    "SUBNET",
    "HostProcesses",
    "HostStatus",
    "Lab",
    "LabHost",
    "LabStatus",
    "alive",
    "compose_binary",
    "lab_lock",
    "lab_owner",
    "missing_prerequisites",
    "read_lab_hosts",
    "stop_pid",
]
