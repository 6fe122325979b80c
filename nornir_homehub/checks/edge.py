"""The edge: Traefik on the trusted host serves every public route through the auth middleware.

A route is served as expected when a request without credentials gets the forward-auth
middleware's answer: 302 to the auth host, or 401. Right after a deploy that (re)created a
routed service it usually is not, for a few seconds: Traefik's docker provider leaves a
container out of its routing until the container is healthy, then applies the change after
``providersThrottleDuration`` (2 s by default). So the deploy waits for its routes
(`settle_routes`, bounded by ``edge_wait_timeout``) and ``verify`` allows a settle window
(``edge_settle_timeout``) before it calls a route broken.

When a route does not converge, the cause comes from Traefik's own view, its API (inventory
``traefik_api_url``, reached from the trusted host itself over its SSH connection): the router
is missing, a middleware it uses is missing, or its service has no healthy server. Without
the API the diagnosis rests on the HTTP answer and the containers alone, and says so. The
remedy matches the cause: a route that simply is not there yet never points at Authentik.

The ``diagnose``/``parse_*``/``routes_from_compose`` functions are pure; `probe_routes`,
`read_traefik` and `settle_routes` do I/O over the host's connection.
"""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import EdgeNotConverged, HomehubError
from nornir_homehub.facts.http import parse_response
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.facts.http import ProbeOutcome

DEFAULT_EDGE_WAIT = 60.0  # inventory edge_wait_timeout: deploy waits this long for its routes
DEFAULT_EDGE_SETTLE = 30.0  # inventory edge_settle_timeout: verify's settle window
POLL_INTERVAL = 1.0
FRONTEND_NETWORK = "frontend"
# Paths requested without credentials on the public names: the guide's "Public Access" list.
PUBLIC_PATHS = {"openai": "/v1/models"}
_HOST_RULE = re.compile(r"Host\(([^)]*)\)")
_BACKTICKED = re.compile(r"`([^`]+)`")

REMEDY_OUTPOST = (
    "Authentik Middleware Not Found: 1. check the outpost is healthy: "
    "`docker ps | grep outpost`; 2. verify the outpost is on the `{network}` network "
    "(`docker network inspect {network}`); 3. check Traefik's logs: `docker logs traefik`; "
    "4. restart Traefik if needed: `docker restart traefik`"
)
REMEDY_AUTH_OPEN = (
    "{url} answers {status} WITHOUT credentials: the router does not use the forward-auth "
    "middleware; check the stack's label `traefik.http.routers.*.middlewares=authentik@docker` "
    "and redeploy the stack; see Authentik Middleware Not Found"
)
REMEDY_ROUTER_MISSING = (
    "Traefik has no router for {fqdn}. Its docker provider adds a container's routers only once "
    "the container is healthy, and applies the change about 2 s later "
    "(providersThrottleDuration): check that the container declaring the route runs and is "
    "healthy (`docker ps`), is on the `{network}` network and has the label "
    "`traefik.enable=true` (`docker inspect --format '{{{{json .Config.Labels}}}}' CONTAINER`); "
    "then `docker logs traefik`; redeploy the stack"
)
REMEDY_MIDDLEWARE = (
    "Router {router} uses middleware {middleware}, which Traefik does not have: declare it on a "
    "container with `traefik.enable=true`, or fix the router's "
    "`traefik.http.routers.*.middlewares` label; `docker logs traefik`"
)
REMEDY_NO_SERVER = (
    "Router {router} has no healthy server behind it ({detail}): check that the service's "
    "container runs and is healthy on the `{network}` network and that "
    "`traefik.http.services.*.loadbalancer.server.port` is the port it listens on "
    "(`docker ps`, `docker logs CONTAINER`); redeploy the stack"
)
REMEDY_ROUTER_ERROR = (
    "Router {router} is {status}: {errors}. Fix the stack's traefik labels and redeploy the "
    "stack; `docker logs traefik`"
)
REMEDY_NOT_SERVED = (
    "Traefik answers {status} for {fqdn}: no enabled router serves it. Either the route is not "
    "there yet (Traefik adds a container's routers once it is healthy, about 2 s later) or its "
    "router is disabled by an error in its labels: check the container declaring it runs and "
    "is healthy on the `{network}` network with `traefik.enable=true` (`docker ps`), and read "
    "`docker logs traefik`, which names the router's error. Set `traefik_api_url` in the "
    "inventory for an exact diagnosis"
)
REMEDY_BAD_GATEWAY = (
    "Traefik answers {status} for {fqdn}: the router exists but no server behind it answers; "
    "check the service's container runs and is healthy (`docker ps`, `docker logs CONTAINER`)"
)
REMEDY_NO_ANSWER = (
    "Check Traefik runs on the trusted host: `docker ps | grep traefik`, `docker logs traefik`"
)


class EdgeCause(enum.StrEnum):
    """Why a route is (not) served as expected."""

    SERVED = "served"  # the auth middleware answered: 302 to the auth host, or 401
    OPEN = "open without authentication"
    ROUTER_MISSING = "router missing"
    MIDDLEWARE_MISSING = "middleware missing"
    NO_HEALTHY_SERVER = "no healthy server"
    ROUTER_ERROR = "router error"
    NOT_SERVED = "not served"  # 404 without Traefik's view: router missing or disabled
    NO_ANSWER = "no answer"
    WRONG_REDIRECT = "redirect elsewhere"
    UNEXPECTED = "unexpected answer"


# A route in one of these states may still be converging: worth asking again.
TRANSIENT = frozenset(
    {
        EdgeCause.ROUTER_MISSING,
        EdgeCause.MIDDLEWARE_MISSING,
        EdgeCause.NO_HEALTHY_SERVER,
        EdgeCause.NOT_SERVED,
        EdgeCause.NO_ANSWER,
        EdgeCause.UNEXPECTED,
    }
)  # open routes and redirects elsewhere are configuration: waiting does not change them
_LAYER = {
    EdgeCause.SERVED: Layer.AUTH,
    EdgeCause.OPEN: Layer.AUTH,
    EdgeCause.MIDDLEWARE_MISSING: Layer.AUTH,
    EdgeCause.WRONG_REDIRECT: Layer.AUTH,
    EdgeCause.NO_HEALTHY_SERVER: Layer.CONTAINER,
}


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


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one route: its cause, what was seen, what to do, and which layer."""

    cause: EdgeCause
    evidence: str
    remedy: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def served(self) -> bool:
        """True when the auth middleware answered as expected."""
        return self.cause is EdgeCause.SERVED

    @property
    def layer(self) -> Layer:
        """The layer that failed (http for routing, auth, container for servers)."""
        return _LAYER.get(self.cause, Layer.HTTP)


# ---------------------------------------------------------------------------------------------
# Routes and requests (pure)
# ---------------------------------------------------------------------------------------------
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
        labels = _labels(svc.get("labels") if isinstance(svc, Mapping) else None)
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


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in raw or []:
        key, _, value = str(item).partition("=")
        out[key.strip()] = value.strip()
    return out


def hosts_in_rule(rule: str) -> list[str]:
    """The host names of every ``Host(`a`, `b`)`` matcher in a Traefik rule."""
    return [h for m in _HOST_RULE.finditer(rule) for h in _BACKTICKED.findall(m.group(1))]


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
    from nornir_homehub.facts.http import http_command

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


# ---------------------------------------------------------------------------------------------
# Diagnosis (pure)
# ---------------------------------------------------------------------------------------------
def _auth_answer(outcome: ProbeOutcome, auth_host: str) -> bool:
    if outcome.error:
        return False
    if outcome.status == 401:
        return True
    return outcome.status in (301, 302, 303, 307, 308) and auth_host in outcome.location


def _router_for(view: TraefikView, route: Route) -> Mapping[str, Any] | None:
    named = [r for r in view.routers if route.router and r.get("name") == f"{route.router}@docker"]
    by_host = [r for r in view.routers if route.fqdn in hosts_in_rule(str(r.get("rule", "")))]
    found = named or by_host
    return found[0] if found else None


def traefik_cause(  # noqa: PLR0911 - one return per cause reads best
    view: TraefikView, route: Route
) -> tuple[EdgeCause, str, dict[str, str]] | None:
    """What Traefik's own view says is wrong with ``route`` (None: nothing it can see).

    Returns:
        (cause, what Traefik reports, remedy fields), or None when the router is enabled, its
        middlewares exist and its service has a server UP.
    """
    router = _router_for(view, route)
    if router is None:
        return EdgeCause.ROUTER_MISSING, f"Traefik has no router for {route.fqdn}", {}
    name = str(router.get("name", route.router or "?"))
    status = str(router.get("status", "?"))
    errors = [str(e) for e in router.get("error") or []]
    fields = {"router": name, "status": status}
    for err in errors:
        if "middleware" in err and "does not exist" in err:
            missing = _BACKTICKED.findall(err.replace('"', "`"))
            fields["middleware"] = missing[0] if missing else "?"
            return EdgeCause.MIDDLEWARE_MISSING, f"router {name} is {status}: {err}", fields
    for err in errors:
        if "service" in err and "does not exist" in err:
            fields["detail"] = err
            return EdgeCause.NO_HEALTHY_SERVER, f"router {name} is {status}: {err}", fields
    if errors or status != "enabled":
        fields["errors"] = "; ".join(errors) or "no error given"
        return EdgeCause.ROUTER_ERROR, f"router {name} is {status}: {fields['errors']}", fields
    provider = name.partition("@")[2] or "docker"
    service = str(router.get("service", ""))
    full = service if "@" in service else f"{service}@{provider}"
    svc = next((s for s in view.services if s.get("name") == full), None)
    if svc is None:
        fields["detail"] = f"service {full} does not exist"
        return EdgeCause.NO_HEALTHY_SERVER, f"router {name}: service {full} does not exist", fields
    servers = [str(s.get("url", "")) for s in (svc.get("loadBalancer") or {}).get("servers") or []]
    up = {str(k): str(v) for k, v in (svc.get("serverStatus") or {}).items()}
    if not servers or (up and "UP" not in up.values()):
        detail = (
            f"service {full} lists no server"
            if not servers
            else f"service {full}: " + ", ".join(f"{u} {s}" for u, s in up.items())
        )
        fields["detail"] = detail
        return EdgeCause.NO_HEALTHY_SERVER, f"router {name}: {detail}", fields
    return None


def diagnose(
    route: Route,
    outcome: ProbeOutcome,
    *,
    auth_host: str,
    view: TraefikView | None = None,
    outpost_ready: bool | None = None,
) -> Diagnosis:
    """Judge one unauthenticated request through Traefik for ``route``.

    Args:
        route: the route asked for.
        outcome: what the request saw.
        auth_host: the auth host name a 302 must point at (``auth.<domain>``).
        view: Traefik's API view (None or with ``error``: diagnose from the answer alone).
        outpost_ready: whether an Authentik outpost container runs healthy (None: unknown);
            only used without Traefik's view, to tell a missing middleware from a missing route.
    """
    where = f"GET {outcome.url} (Host {route.fqdn}, no credentials)"
    data: dict[str, Any] = {**route.to_dict(), **outcome.to_dict(), "auth_host": auth_host}
    net = {"network": FRONTEND_NETWORK, "fqdn": route.fqdn}
    if _auth_answer(outcome, auth_host):
        target = f" to {redact_head(outcome.location, 120)}" if outcome.location else ""
        seen = f"{outcome.status}{target}"
        return Diagnosis(EdgeCause.SERVED, f"{where} -> {seen}", "", data)
    if 200 <= outcome.status < 300:
        return Diagnosis(
            EdgeCause.OPEN,
            f"{where} -> {outcome.status}: open without authentication",
            REMEDY_AUTH_OPEN.format(url=outcome.url, status=outcome.status),
            data,
        )
    answer = f"Traefik did not answer: {outcome.error}" if outcome.error else f"-> {outcome.status}"
    if outcome.status in (301, 302, 303, 307, 308):
        answer += f" to {outcome.location or '(no Location)'}, not to {auth_host}"
    if view is not None and view.error is None:
        found = traefik_cause(view, route)
        data["traefik"] = found[1] if found else "router enabled, middlewares present, server UP"
        if found is not None:
            cause, seen, fields = found
            evidence = f"{where} {answer}; Traefik's API: {seen}"
            return Diagnosis(cause, evidence, _remedy(cause, {**net, **fields}), data)
    elif view is not None:
        data["traefik"] = f"API not readable: {view.error}"
    return _status_only(route, outcome, where, answer, data, net, outpost_ready)


def _remedy(cause: EdgeCause, fields: Mapping[str, str]) -> str:
    if cause is EdgeCause.ROUTER_MISSING:
        return REMEDY_ROUTER_MISSING.format(**fields)
    if cause is EdgeCause.MIDDLEWARE_MISSING:
        if fields.get("middleware", "").startswith("authentik"):
            return REMEDY_OUTPOST.format(**fields)
        return REMEDY_MIDDLEWARE.format(**fields)
    if cause is EdgeCause.NO_HEALTHY_SERVER:
        return REMEDY_NO_SERVER.format(**fields)
    return REMEDY_ROUTER_ERROR.format(**{"errors": "?", **fields})


def _status_only(
    route: Route,
    outcome: ProbeOutcome,
    where: str,
    answer: str,
    data: dict[str, Any],
    net: Mapping[str, str],
    outpost_ready: bool | None,
) -> Diagnosis:
    """The diagnosis from the HTTP answer (and the outpost container) alone."""
    evidence = f"{where} {answer}"
    if outcome.error:
        return Diagnosis(EdgeCause.NO_ANSWER, evidence, REMEDY_NO_ANSWER, data)
    if outcome.status == 404 and outpost_ready is False:
        # Every router using the forward-auth middleware is disabled while its declaring
        # container (the outpost) is out of Traefik's view.
        return Diagnosis(
            EdgeCause.MIDDLEWARE_MISSING,
            f"{evidence}; the Authentik outpost is not running healthy",
            REMEDY_OUTPOST.format(**net),
            data,
        )
    if outcome.status == 404:
        return Diagnosis(
            EdgeCause.NOT_SERVED,
            f"{evidence}: no enabled router serves {route.fqdn}",
            REMEDY_NOT_SERVED.format(status=404, **net),
            data,
        )
    if outcome.status in (502, 503, 504):
        return Diagnosis(
            EdgeCause.NO_HEALTHY_SERVER,
            evidence,
            REMEDY_BAD_GATEWAY.format(status=outcome.status, **net),
            data,
        )
    if outcome.status in (301, 302, 303, 307, 308):
        return Diagnosis(EdgeCause.WRONG_REDIRECT, evidence, REMEDY_OUTPOST.format(**net), data)
    return Diagnosis(
        EdgeCause.UNEXPECTED,
        f"{evidence}, expected 302 to {data['auth_host']} or 401",
        REMEDY_NOT_SERVED.format(status=outcome.status, **net),
        data,
    )


def route_check(host: str, route: Route, diagnosis: Diagnosis, waited: float = 0.0) -> Check:
    """The ``auth.<name>`` check of one route (``waited``: seconds of settle window used)."""
    data = {**diagnosis.data, "cause": str(diagnosis.cause), "waited_s": round(waited, 1)}
    status = Status.PASS if diagnosis.served else Status.FAIL
    evidence = f"{host}: {diagnosis.evidence}"
    if waited >= 1 and not diagnosis.served:
        evidence += f" (still after {waited:.0f}s)"
    return Check(
        f"auth.{route.short}", host, diagnosis.layer, status, evidence, diagnosis.remedy, data
    )


# ---------------------------------------------------------------------------------------------
# I/O: ask through Traefik, read Traefik's API, wait for the routes
# ---------------------------------------------------------------------------------------------
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
    from nornir_homehub.facts.http import http_command, parse_probe

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


def settle_routes(
    conn: HostConnection,
    routes: Sequence[Route],
    variables: Mapping[str, Any],
    *,
    timeout: float,
    auth_host: str,
    first: Mapping[Route, ProbeOutcome] | None = None,
    outpost_ready: Callable[[], bool | None] | None = None,
    request_timeout: float = 5,
) -> dict[Route, tuple[Diagnosis, float]]:
    """Ask for ``routes`` until each is served as expected or ``timeout`` seconds passed.

    A route that is served is not asked again; one whose answer cannot improve by waiting (open
    without authentication) ends at once. When routes are left at the deadline, Traefik's API
    is read once (when configured) for the exact cause.

    Args:
        conn: the trusted host's connection.
        routes: the routes to wait for.
        variables: the host's template variables (edge request settings, API address).
        timeout: seconds to wait at most.
        auth_host: the auth host name a 302 must point at.
        first: outcomes already seen (verify's batch), used for the first round.
        outpost_ready: gives the outpost's readiness for the status-only diagnosis.
        request_timeout: seconds per request.

    Returns:
        route -> (diagnosis, seconds waited for it).
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    done: dict[Route, tuple[Diagnosis, float]] = {}
    todo = list(routes)
    seen = dict(first or {})
    while todo:
        if not seen:
            seen, _ = probe_routes(conn, todo, variables, timeout=request_timeout)
        left = []
        for route in todo:
            d = diagnose(route, seen[route], auth_host=auth_host)
            if d.served or d.cause not in TRANSIENT:
                done[route] = (d, time.monotonic() - started)
            else:
                left.append(route)
        todo, seen = left, {}
        if not todo or time.monotonic() >= deadline:
            break
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    if todo:
        outcomes, view = probe_routes(conn, todo, variables, with_api=True, timeout=request_timeout)
        ready = outpost_ready() if outpost_ready else None
        waited = time.monotonic() - started
        for route in todo:
            d = diagnose(
                route, outcomes[route], auth_host=auth_host, view=view, outpost_ready=ready
            )
            done[route] = (d, waited)
    return {r: done[r] for r in routes}


def not_converged(host: str, results: Mapping[Route, tuple[Diagnosis, float]]) -> EdgeNotConverged:
    """The error for the routes that were not served after the wait (first cause's layer)."""
    bad = [(r, d, w) for r, (d, w) in results.items() if not d.served]
    lines = [
        f"{r.fqdn}"
        + (f" (router {r.router}@docker, stack {r.stack})" if r.router else "")
        + f": {d.cause} after {w:.0f}s: {d.evidence}. Remedy: {d.remedy}"
        for r, d, w in bad
    ]
    return EdgeNotConverged(
        f"{host}: the edge does not serve {len(bad)} route(s) as expected: " + " | ".join(lines),
        bad[0][1].layer,
    )


def summarize(results: Mapping[Route, tuple[Diagnosis, float]]) -> list[dict[str, Any]]:
    """JSON-ready rows: route, cause, seconds waited, evidence."""
    return [
        {**r.to_dict(), "cause": str(d.cause), "waited_s": round(w, 1), "evidence": d.evidence}
        for r, (d, w) in results.items()
    ]


def unique(routes: Iterable[Route]) -> list[Route]:
    """``routes`` without repeats, in order."""
    return list(dict.fromkeys(routes))
