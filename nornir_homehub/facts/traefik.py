"""Traefik's routes as facts: which public routes exist, how to ask for them, what the API says.

A public route is a host name Traefik serves (a router's ``Host(...)`` rule, declared by a
stack's compose labels) and the path asked on it without credentials. `edge_request` says how
the trusted host asks for it through Traefik; `traefik_api_commands`/`parse_traefik` read
Traefik's own view (routers, middlewares, services) from its API (inventory
``traefik_api_url``, reached from the trusted host itself). `probe_routes` does both in one
round trip over the host's connection; everything else here is pure.

The verdict on what was seen is `checks.edge.diagnose`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.errors import HomehubError
from nornir_homehub.facts.http import ProbeOutcome, http_command, parse_probe, parse_response
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection

# Paths requested without credentials on the public names: the guide's "Public Access" list.
PUBLIC_PATHS = {"openai": "/v1/models"}
_HOST_RULE = re.compile(r"Host\(([^)]*)\)")
_BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Route:
    """A public route: a host name Traefik serves, the path requested on it, who declares it.

    Attributes:
        fqdn: the host name in the router's ``Host(...)`` rule.
        path: the path requested without credentials (the guide's "Public Access" list).
        router: the router's name in the docker provider (``litellm``), when known.
        stack: the stack declaring it, when known.
    """

    fqdn: str
    path: str = "/"
    router: str | None = None
    stack: str | None = None

    @property
    def short(self) -> str:
        """The first label of the host name (``chat`` for chat.homehub.dk)."""
        return self.fqdn.split(".", maxsplit=1)[0]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"fqdn": self.fqdn, "path": self.path, "router": self.router, "stack": self.stack}


@dataclass(frozen=True)
class TraefikView:
    """Traefik's runtime configuration as its API reports it (routers, middlewares, services).

    ``error`` says why the API could not be read (None when it was).
    """

    routers: tuple[Mapping[str, Any], ...] = ()
    middlewares: tuple[Mapping[str, Any], ...] = ()
    services: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None


def public_route(domain: str, public: str) -> Route:
    """The route of public name ``public`` (``chat``) under ``domain``."""
    return Route(f"{public}.{domain}", PUBLIC_PATHS.get(public, "/"))


def routes_from_compose(text: str, *, stack: str | None = None) -> list[Route]:
    """The routes a rendered compose file declares through Traefik labels.

    Only services with ``traefik.enable=true`` count; each router's ``Host(...)`` names become
    routes (requested on the guide's public path for that name).
    """
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    routes: list[Route] = []
    services = doc.get("services") if isinstance(doc, Mapping) else None
    for svc in (services or {}).values():
        labels = compose_labels(svc.get("labels") if isinstance(svc, Mapping) else None)
        if labels.get("traefik.enable", "").lower() != "true":
            continue
        for key, value in labels.items():
            parts = key.split(".")
            if (
                len(parts) == 5
                and parts[:3] == ["traefik", "http", "routers"]
                and parts[4] == "rule"
            ):
                for fqdn in hosts_in_rule(value):
                    short = fqdn.split(".", maxsplit=1)[0]
                    routes.append(Route(fqdn, PUBLIC_PATHS.get(short, "/"), parts[3], stack))
    return routes


def compose_labels(raw: Any) -> dict[str, str]:
    """A compose service's ``labels`` (a list of ``k=v`` or a mapping) as a dict."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in raw or []:
        key, _, value = str(item).partition("=")
        out[key.strip()] = value.strip()
    return out


def hosts_in_rule(rule: str) -> list[str]:
    """The host names of every ``Host(`a`, `b`)`` matcher in a Traefik rule."""
    return [h for m in _HOST_RULE.finditer(rule) for h in backticked(m.group(1))]


def backticked(text: str) -> list[str]:
    """The names written in backticks in a Traefik rule or error message, in order."""
    return _BACKTICKED.findall(text)


def edge_request(variables: Mapping[str, Any], route: Route) -> tuple[str, dict[str, str]]:
    """URL and headers of the unauthenticated request for ``route`` through Traefik.

    With TLS (``traefik_certresolver``) the real name is asked, so the certificate matches (the
    host resolves it via the zone); otherwise ``traefik_probe_url`` (default the host's port 80)
    with the route's ``Host`` header.
    """
    if variables.get("traefik_certresolver"):
        return f"https://{route.fqdn}{route.path}", {}
    base = str(variables.get("traefik_probe_url") or "http://127.0.0.1:80")
    return f"{base.rstrip('/')}{route.path}", {"Host": route.fqdn}


def api_url(variables: Mapping[str, Any]) -> str | None:
    """Traefik's API base URL as seen from the trusted host (inventory ``traefik_api_url``)."""
    value = variables.get("traefik_api_url")
    return str(value).rstrip("/") if value else None


def traefik_api_commands(base: str, timeout: float = 5) -> dict[str, str]:
    """Shell commands reading Traefik's routers, middlewares and services (for `run_batch`)."""
    return {
        f"traefik:{what}": http_command(f"{base}/api/http/{what}?per_page=1000", timeout=timeout)
        for what in ("routers", "middlewares", "services")
    }


def parse_traefik(results: Mapping[str, Any]) -> TraefikView:
    """Turn the results of `traefik_api_commands` into a `TraefikView`."""
    parts: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for what in ("routers", "middlewares", "services"):
        res = results.get(f"traefik:{what}")
        if res is None:
            return TraefikView(error=f"no answer for /api/http/{what}")
        if res.exit_code != 0:
            lines = (res.stderr or "").strip().splitlines()
            return TraefikView(error=f"/api/http/{what}: {lines[-1] if lines else 'no answer'}")
        try:
            response = parse_response(res.stdout, where="traefik api")
            items = json.loads(response.body) if response.status == 200 else None
        except (HomehubError, ValueError) as exc:
            return TraefikView(error=f"/api/http/{what}: {redact_head(str(exc), 200)}")
        if not isinstance(items, list):
            return TraefikView(error=f"/api/http/{what} answered {response.status}, not a list")
        parts[what] = tuple(i for i in items if isinstance(i, Mapping))
    return TraefikView(parts["routers"], parts["middlewares"], parts["services"])


def probe_routes(
    conn: HostConnection,
    routes: Sequence[Route],
    variables: Mapping[str, Any],
    *,
    with_api: bool = False,
    timeout: float = 5,
) -> tuple[dict[Route, ProbeOutcome], TraefikView | None]:
    """One round trip: every route through Traefik, plus Traefik's API view when asked.

    Returns:
        route -> outcome, and the API view (None when not asked or not configured).
    """
    cmds: dict[str, str] = {}
    urls: dict[str, str] = {}
    for i, route in enumerate(routes):
        url, headers = edge_request(variables, route)
        cmds[f"edge:{i}"] = http_command(url, headers=headers, timeout=timeout)
        urls[f"edge:{i}"] = url
    base = api_url(variables) if with_api else None
    if base:
        cmds.update(traefik_api_commands(base, timeout))
    if not cmds:
        return {}, None
    res = conn.run_batch(cmds, timeout=timeout * 2 + 30)
    outcomes = {
        route: parse_probe(res[f"edge:{i}"], urls[f"edge:{i}"], where=f"{conn.name}: edge")
        for i, route in enumerate(routes)
    }
    return outcomes, (parse_traefik(res) if base else None)


def unique(routes: Iterable[Route]) -> list[Route]:
    """``routes`` without repeats, in order."""
    return list(dict.fromkeys(routes))
