"""Where connections may go.

Two guards run before any socket is opened:

* ``HOMEHUB_ALLOWED_NETWORKS`` (comma-separated CIDRs): when set, any destination outside them is
  refused. The test suite sets it to the lab subnet and loopback.
* A host whose inventory data carries ``lab_bridge`` must be routed over that bridge
  (``ip route get``); a missing bridge would otherwise send lab traffic onto the real network.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess

from nornir_homehub.errors import ConfigError, UnsafeDestination

ENV_ALLOWED = "HOMEHUB_ALLOWED_NETWORKS"


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """Parse a ``HOMEHUB_ALLOWED_NETWORKS`` value: comma-separated CIDRs; None when blank.

    Raises:
        ConfigError: a part is not a network (the message names the variable and the part).
    """
    if not text.strip():
        return None
    parts = [part.strip() for part in text.split(",")]
    nets = []
    bad = []
    for part in parts:
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            bad.append(part)
    if bad or not nets:
        shown = ", ".join(repr(b) for b in bad) or repr(text)
        raise ConfigError(
            f"{ENV_ALLOWED}={text!r}: {shown} is not a network; expected comma-separated "
            "CIDRs such as 192.0.2.128/26,127.0.0.0/8"
        )
    return nets


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """Return the networks of ``HOMEHUB_ALLOWED_NETWORKS``, or None when unrestricted.

    Raises:
        ConfigError: the variable is set to something that is not a list of networks.
    """
    return parse_networks(os.environ.get(ENV_ALLOWED, ""))


def resolve(hostname: str) -> str:
    """Resolve ``hostname`` to one IP address string (no connection is made)."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        try:
            return str(socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)[0][4][0])
        except socket.gaierror as exc:
            raise UnsafeDestination(f"{hostname}: cannot resolve address ({exc})") from exc
    return hostname


def check_allowed(host: str, address: str) -> None:
    """Raise `UnsafeDestination` when ``address`` lies outside ``HOMEHUB_ALLOWED_NETWORKS``."""
    nets = allowed_networks()
    if nets is None:
        return
    ip = ipaddress.ip_address(address)
    if not any(ip in net for net in nets):
        allowed = ", ".join(str(n) for n in nets)
        raise UnsafeDestination(
            f"{host}: refusing to connect to {address}: outside {ENV_ALLOWED} ({allowed})"
        )


def route_device(address: str) -> str | None:
    """Return the interface the kernel would use to reach ``address`` (``ip route get``)."""
    try:
        out = subprocess.run(
            ["ip", "-o", "route", "get", address],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split()
    if "dev" in words:
        return words[words.index("dev") + 1]
    return None


def check_route(host: str, address: str, bridge: str) -> None:
    """Raise `UnsafeDestination` unless ``address`` is routed over the lab ``bridge``."""
    if ipaddress.ip_address(address).is_loopback:
        return
    dev = route_device(address)
    if dev != bridge:
        raise UnsafeDestination(
            f"{host}: {address} is routed via {dev or 'nothing'}, not the lab bridge {bridge}; "
            "is the lab up? (python -m nornir_homehub lab up)"
        )
