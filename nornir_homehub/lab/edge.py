"""The lab's edge: the real Traefik and the Authentik forward-auth stand-in on the trusted host.

`ensure_edge` starts compose project ``lab-edge`` on the trusted host: Traefik on port 80 with
the Docker provider, and the Authentik forward-auth stand-in declaring middleware ``authentik``,
which the trusted stacks use as ``authentik@docker`` exactly as in production. Traefik's API
(``/api/http/...``, what the deploy and verify read to diagnose a route) is served on its
internal entrypoint ``traefik`` (:8080), published on the host's loopback only and allowed only
from the host itself (an IP allow-list of the ``frontend`` network's gateway, the address the
host's own requests come from): the lab inventory's ``traefik_api_url``.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import TYPE_CHECKING

import yaml

from nornir_homehub.errors import LabError
from nornir_homehub.facts.docker import network_gateway_command, parse_gateway
from nornir_homehub.lab.images import AUTHENTIK_IMAGE, TRAEFIK_IMAGE
from nornir_homehub.secrets import redact_tail

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection

# The lab's sign-in: what the Authentik stand-in accepts (a lab constant, not a secret).
LAB_AUTH_TOKEN = "homehub-lab"  # noqa: S105 - a public lab constant, documented
LAB_AUTH_COOKIE = "homehub_lab_auth"
LAB_AUTH_HEADER = "X-Lab-Auth"

EDGE_PROJECT = "lab-edge"
API_PORT = 8080  # Traefik's entrypoint `traefik`, published as 127.0.0.1:8080
EDGE_DIR = "/opt/lab-edge"
EDGE_COMPOSE = f"{EDGE_DIR}/compose.yaml"
FRONTEND_NETWORK = "frontend"
PROVIDERS_THROTTLE = "200ms"
# Outside DOCKER_POOL, whose /29s (5 addresses) could not hold two zero-downtime twins at once.
FRONTEND_SUBNET = "192.0.2.32/28"
FRONTEND_GATEWAY = "192.0.2.33"  # given: with --subnet alone inspect shows no gateway


def render_edge_compose(domain: str, api_source: str = "127.0.0.1") -> str:
    """Return the ``lab-edge`` compose file: real Traefik + the Authentik forward-auth stand-in.

    Traefik listens on port 80 of the host (entrypoint ``web``), watches Docker for containers
    with ``traefik.enable=true`` on network ``frontend``, and deletes alias headers
    (``X_Lab_Auth``) so a client cannot spoof the stand-in's ``X-Lab-Auth`` check. Its API is
    routed on entrypoint ``traefik`` (port 8080, published on the host's loopback) for
    requests from ``api_source`` only (the host's address on ``frontend``); containers on that
    network get 403.
    """
    mw = "traefik.http.middlewares.authentik.forwardauth"
    api = "traefik.http.routers.homehub-api"
    doc = {
        "name": EDGE_PROJECT,
        "services": {
            "traefik": {
                "image": TRAEFIK_IMAGE,
                "container_name": "traefik",
                "pull_policy": "never",
                "restart": "unless-stopped",
                "command": [
                    "--providers.docker=true",
                    "--providers.docker.exposedByDefault=false",
                    f"--providers.docker.network={FRONTEND_NETWORK}",
                    "--entryPoints.web.address=:80",
                    "--entryPoints.web.http.aliasHeadersStrategy=delete",
                    "--entryPoints.traefik.address=:8080",
                    "--entryPoints.traefik.http.aliasHeadersStrategy=delete",
                    # Traefik applies a provider's new configuration at most once per throttle
                    # (2 s by default): a route whose container just turned healthy waited up
                    # to 2 s. 200 ms, as the README advises for a production edge too.
                    f"--providers.providersThrottleDuration={PROVIDERS_THROTTLE}",
                    # A container that just stopped leaves its address without a host, and
                    # Traefik drops it only ~2 s after Docker's event: a dial there must fail
                    # fast (default 30 s) so the routers' retry middleware tries the other server.
                    "--serversTransport.forwardingTimeouts.dialTimeout=2s",
                    "--ping=true",
                    "--api=true",
                    "--api.dashboard=false",
                    "--global.checkNewVersion=false",
                    "--global.sendAnonymousUsage=false",
                    "--log.level=INFO",
                ],
                "ports": ["80:80", f"127.0.0.1:{API_PORT}:{API_PORT}"],
                "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"],
                "networks": [FRONTEND_NETWORK],
                "labels": {
                    "traefik.enable": "true",
                    "traefik.docker.network": FRONTEND_NETWORK,
                    f"{api}.rule": "PathPrefix(`/api`)",
                    f"{api}.entrypoints": "traefik",
                    f"{api}.service": "api@internal",
                    f"{api}.middlewares": "homehub-api-local",
                    "traefik.http.middlewares.homehub-api-local.ipallowlist.sourcerange": (
                        f"{api_source}/32"
                    ),
                },
                "healthcheck": {
                    "test": ["CMD", "/traefik", "healthcheck", "--ping"],
                    "interval": "5s",
                    "timeout": "3s",
                    "retries": 3,
                },
            },
            "authentik-outpost": {
                "image": AUTHENTIK_IMAGE,
                "container_name": "authentik-outpost",
                "pull_policy": "never",
                "restart": "unless-stopped",
                "init": True,
                "environment": {
                    "AUTH_DOMAIN": domain,
                    "AUTH_TOKEN": LAB_AUTH_TOKEN,
                    "AUTH_COOKIE": LAB_AUTH_COOKIE,
                },
                "networks": [FRONTEND_NETWORK],
                "labels": {
                    "traefik.enable": "true",
                    "traefik.docker.network": FRONTEND_NETWORK,
                    f"{mw}.address": (
                        "http://authentik-outpost:9000/outpost.goauthentik.io/auth/traefik"
                    ),
                    f"{mw}.trustForwardHeader": "true",
                    f"{mw}.authResponseHeaders": "X-authentik-username,X-authentik-email",
                    "traefik.http.routers.authentik.rule": f"Host(`auth.{domain}`)",
                    "traefik.http.routers.authentik.entrypoints": "web",
                    "traefik.http.services.authentik.loadbalancer.server.port": "9000",
                },
                "healthcheck": {
                    "test": [
                        "CMD",
                        "wget",
                        "-q",
                        "-O",
                        "/dev/null",
                        "http://127.0.0.1:9000/-/health/live/",
                    ],
                    "interval": "5s",
                    "timeout": "3s",
                    "retries": 3,
                },
            },
        },
        "networks": {FRONTEND_NETWORK: {"external": True}},
    }
    header = (
        "# The lab's edge, written by nornir_homehub.lab.edge.ensure_edge (lab only): the real\n"
        "# Traefik and the Authentik forward-auth STAND-IN, as on the production trusted host.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def ensure_edge(conn: HostConnection, domain: str) -> None:
    """Start (or update) the ``lab-edge`` compose project on the trusted lab host.

    Creates the external ``frontend`` network when missing, uploads the compose file to
    /opt/lab-edge/compose.yaml (Traefik's API allowed from the network's gateway, the host
    itself) and runs ``docker compose -p lab-edge up -d --wait``. Needs the images of
    `ensure_images` for role trusted (the compose file never pulls).

    Raises:
        LabError: a step failed (the message carries the command's output).

    """
    net = shlex.quote(FRONTEND_NETWORK)
    res = conn.run(
        f"docker network inspect {net} >/dev/null 2>&1 || "
        f"docker network create --subnet {FRONTEND_SUBNET} --gateway {FRONTEND_GATEWAY} {net}"
    )
    if not res.ok:
        raise LabError(
            f"{conn.name}: cannot create network {FRONTEND_NETWORK}: {res.stderr.strip()}"
        )
    gateway = parse_gateway(conn.run(network_gateway_command(FRONTEND_NETWORK)))
    if not gateway:
        raise LabError(f"{conn.name}: network {FRONTEND_NETWORK} has no gateway address")
    if ipaddress.ip_address(gateway) not in ipaddress.ip_network(FRONTEND_SUBNET):
        msg = f"network {FRONTEND_NETWORK} is from an older lab: run `lab down --purge`"
        raise LabError(f"{conn.name}: {msg}, then `lab up`")
    conn.put_file(EDGE_COMPOSE, render_edge_compose(domain, gateway).encode(), mode=0o644)
    res = conn.run(
        f"docker compose -p {EDGE_PROJECT} -f {EDGE_COMPOSE} up -d --wait --wait-timeout 60",
        timeout=120,
    )
    if not res.ok:
        tail = redact_tail((res.stderr or res.stdout).strip(), 800)
        raise LabError(f"{conn.name}: lab-edge did not start (exit {res.exit_code}): {tail}")
