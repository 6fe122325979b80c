"""``verify`` for the stack hosts: what the containers, probes, in-container network and edge say.

The ``evaluate_*`` functions are pure: facts in (`facts.containers`, `facts.http`), `Check`
objects out, each with the guide's Troubleshooting remedy when it is not passing. The task
that gathers the facts is `tasks.verify.verify_stacks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks import edge
from nornir_homehub.checks.edge import REMEDY_AUTH_OPEN, REMEDY_OUTPOST
from nornir_homehub.checks.model import Check, Layer, Status, verdict
from nornir_homehub.defaults import DEFAULT_STACKS_ROOT
from nornir_homehub.facts.stacks import Health
from nornir_homehub.facts.traefik import PUBLIC_PATHS, Route, TraefikView
from nornir_homehub.secrets import redact_all, redact_head

if TYPE_CHECKING:
    from nornir_homehub.facts.containers import DockerFacts, ExecOutcome
    from nornir_homehub.facts.http import ProbeOutcome
    from nornir_homehub.render import HttpProbe, ServiceHealth, StackSpec

FRONTEND_NETWORK = "frontend"
OUTPOST_HINT = "outpost"
__all__ = ["REMEDY_AUTH_OPEN", "REMEDY_OUTPOST"]  # re-exported: the edge module owns them

REMEDY_CONTAINER = (
    "Start the stack: `cd {project_dir} && docker compose up -d` on {host} (or "
    "`python -m nornir_homehub deploy --stacks {stack}`); see why it stopped: "
    "`docker logs {container}`"
)
REMEDY_UNHEALTHY = (
    "Container {container} is {health}: `docker logs {container}`, "
    "`docker inspect --format '{{{{json .State.Health}}}}' {container}`; recreate it: "
    "`cd {project_dir} && docker compose up -d --force-recreate {service}`"
)
REMEDY_FOREIGN = (
    "A container named {container} exists but is not service {service} of compose project "
    "{project}: remove it (`docker rm -f {container}`) and redeploy the stack "
    "(`python -m nornir_homehub deploy --stacks {stack}`)"
)
REMEDY_DOCKER = "Docker Engine does not answer on {host}: `systemctl status docker`, `docker ps`"
REMEDY_HTTP = (
    "{container} does not answer as expected: `docker logs {container}`; check the container "
    "check above and redeploy the stack (`python -m nornir_homehub deploy --stacks {stack}`)"
)
REMEDY_API_KEY = (
    "API key mismatch: redeploy the stack so its .env and the caller agree "
    "(`python -m nornir_homehub deploy --stacks {stack}`) / check {secret} in the vault"
)
REMEDY_NETWORK = (
    "Container DNS Resolution Issues: the compose file's extra_hosts workaround bypasses "
    "Docker's embedded DNS; check it is in place (`docker inspect --format "
    "'{{{{.HostConfig.ExtraHosts}}}}' {container}` should list {expected}) and redeploy the "
    "stack (`python -m nornir_homehub deploy --stacks {stack}`)"
)
REMEDY_NETWORK_BIND = (
    "Container DNS Resolution Issues (internal_dns: bind): {container} asks {servers} (compose "
    "dns:, through Docker's embedded DNS); check that named runs on the dns host and serves "
    "the zone (`python -m nornir_homehub verify` DNS checks, `dig @{server} {name}`), that its "
    "allow-query admits the trusted host (Docker sends container queries from the host's "
    "address), then `python -m nornir_homehub deploy --stacks {stack}`; or set "
    "`internal_dns: extra_hosts` where containers cannot reach the dns host"
)
REMEDY_OLLAMA_API = (
    "Ollama does not answer from inside {container}: check the name resolves (network check "
    "above, extra_hosts workaround), that ollama runs on the compute host "
    "(`docker ps | grep ollama`) and that port 11434 is published and reachable from the "
    "trusted host"
)


def _ctx(
    host: str, stack: StackSpec, service: str, container: str, stacks_root: str
) -> dict[str, str]:
    return {
        "host": host,
        "stack": stack.name,
        "service": service,
        "container": container,
        "project": stack.project,
        "project_dir": f"{stacks_root.rstrip('/')}/{stack.name}",
    }


def evaluate_containers(
    host: str,
    stacks: Sequence[StackSpec],
    docker: DockerFacts,
    *,
    stacks_root: str = DEFAULT_STACKS_ROOT,
) -> list[Check]:
    """One ``container.<service>`` check per service of each stack deployed on ``host``.

    Pass: the compose project's container for the service runs, and is healthy when the
    template says it has a healthcheck. Starting is a warning; missing, stopped or unhealthy
    a failure.
    """
    checks: list[Check] = []
    for stack in stacks:
        health = {h.service: h for h in stack.health}
        for service in stack.services:
            spec = health.get(service)
            name = spec.container if spec else service
            ctx = _ctx(host, stack, service, name, stacks_root)
            check_name = f"container.{service}"
            if docker.error is not None:
                seen = f"docker on {host} did not answer: {docker.error}"
                remedy = REMEDY_DOCKER.format(**ctx)
                data = {"stack": stack.name}
                checks.append(
                    Check(check_name, host, Layer.CONTAINER, Status.FAIL, seen, remedy, data)
                )
                continue
            checks.append(_container_check(check_name, ctx, spec, docker))
    return checks


def _container_check(
    check_name: str, ctx: Mapping[str, str], spec: ServiceHealth | None, docker: DockerFacts
) -> Check:
    host, container = ctx["host"], ctx["container"]
    found = docker.for_service(ctx["project"], ctx["service"])
    data: dict[str, Any] = {
        "stack": ctx["stack"],
        "project": ctx["project"],
        "container": container,
    }

    def fail(evidence: str, remedy: str, details: dict[str, Any]) -> Check:
        return Check(check_name, host, Layer.CONTAINER, Status.FAIL, evidence, remedy, details)

    if found is None:
        other = docker.by_name(container)
        if other is not None:
            owner = f"project {other.project or '(none)'} service {other.service or '(none)'}"
            seen = (
                f"{container} on {host} belongs to {owner}, not {ctx['project']}/{ctx['service']}"
            )
            return fail(seen, REMEDY_FOREIGN.format(**ctx), {**data, "found": other.to_dict()})
        seen = f"no container for service {ctx['service']} of project {ctx['project']} on {host}"
        return fail(seen, REMEDY_CONTAINER.format(**ctx), data)
    data["found"] = found.to_dict()
    seen = f"{found.name} on {host}: {found.state}"
    if found.health is not Health.NONE:
        seen += f", {found.health}"
    if not found.running:
        return fail(seen, REMEDY_CONTAINER.format(**ctx), data)
    wants_health = spec is not None and spec.healthcheck
    if found.health is Health.UNHEALTHY or (wants_health and found.health is Health.NONE):
        what = "unhealthy" if found.health is Health.UNHEALTHY else "without a healthcheck"
        return fail(seen, REMEDY_UNHEALTHY.format(**ctx, health=what), data)
    if found.health is Health.STARTING:
        later = f"{container} is still starting: run verify again in a minute"
        return Check(check_name, host, Layer.CONTAINER, Status.WARN, seen, later, data)
    return Check(check_name, host, Layer.CONTAINER, Status.PASS, seen, "", data)


def evaluate_probe(
    host: str,
    stack: StackSpec,
    health: ServiceHealth,
    probe: HttpProbe,
    outcome: ProbeOutcome,
    *,
    stacks_root: str = DEFAULT_STACKS_ROOT,
) -> Check:
    """``http.<stack>.<probe>``: the template's HTTP health probe answered as expected.

    A 401/403 is an authentication failure (layer auth), not "down": with an API key it
    means the key the controller holds and the one the service runs with differ.
    """
    ctx = _ctx(host, stack, health.service, health.container, stacks_root)
    name = f"http.{stack.name}.{probe.name}"
    data = {"stack": stack.name, "container": health.container, **outcome.to_dict()}
    where = f"{host}: GET {outcome.url}"

    def fail(evidence: str, remedy: str = REMEDY_HTTP.format(**ctx)) -> Check:
        return Check(name, host, Layer.HTTP, Status.FAIL, evidence, remedy, data)

    if outcome.error:
        return fail(f"{where}: no answer: {outcome.error}")
    if outcome.status in (401, 403) and probe.status not in (401, 403):
        key = (
            f"with the {probe.auth_header} of {probe.auth_secret}"
            if probe.auth_secret
            else ("without credentials")
        )
        remedy = REMEDY_API_KEY.format(**ctx, secret=probe.auth_secret or "the API key")
        seen = f"{where} {key} -> {outcome.status} (authentication refused)"
        return Check(name, host, Layer.AUTH, Status.FAIL, seen, remedy, data)
    if outcome.status != probe.status:
        return fail(f"{where} -> {outcome.status}, expected {probe.status}")
    if probe.body_contains is not None and probe.body_contains not in outcome.body:
        return fail(f"{where} -> {outcome.status} but the body lacks {probe.body_contains!r}")
    return Check(name, host, Layer.HTTP, Status.PASS, f"{where} -> {outcome.status}", "", data)


def _not_running(check: str, host: str, container: str, data: dict[str, Any]) -> Check:
    """A network check skipped because its container does not run (its container check says why)."""
    seen = f"{container} on {host} does not run (see its container check)"
    return Check(check, host, Layer.NETWORK, Status.SKIP, seen, "", data)


def evaluate_resolution(
    host: str,
    container: str,
    name: str,
    expected: str,
    outcome: ExecOutcome | None,
    *,
    stack: str,
    servers: Sequence[str] = (),
) -> Check:
    """``network.<container>.<name>``: ``getent hosts NAME`` in the container gives ``expected``.

    ``outcome`` None means the container does not run (skip: its container check says why).
    ``servers``: with ``internal_dns: bind``, the DNS servers the container asks; the check is
    then on the DNS layer and its remedy is about the BIND server, not extra_hosts.
    """
    check = f"network.{container}.{name.split('.', maxsplit=1)[0]}"
    data: dict[str, Any] = {"container": container, "name": name, "expected": expected}
    if servers:
        data["servers"] = list(servers)
    if outcome is None:
        return _not_running(check, host, container, data)
    data.update(outcome.to_dict())
    fields = outcome.stdout.split()
    seen = fields[0] if outcome.exit_code == 0 and fields else ""
    if servers:
        remedy = REMEDY_NETWORK_BIND.format(
            container=container,
            servers=", ".join(servers),
            server=servers[0],
            name=name,
            stack=stack,
        )
    else:
        remedy = REMEDY_NETWORK.format(
            container=container, expected=f"{name}:{expected}", stack=stack
        )
    where = f"{container} on {host}: getent hosts {name}"
    if not seen:
        err = outcome.stderr.strip().splitlines()
        detail = f" ({err[-1]})" if err else ""
        evidence = (
            f"{where} -> not resolved (exit {outcome.exit_code}{detail}), expected {expected}"
        )
    else:
        evidence = f"{where} -> {seen}"
        if seen != expected:
            why = "the zone serves another address" if servers else "extra_hosts not applied"
            evidence += f", expected {expected} ({why})"
    if servers:
        evidence += f" [via {', '.join(servers)}]"
    ok = bool(seen) and seen == expected
    layer = Layer.DNS if servers else Layer.NETWORK
    return verdict(check, host, layer, ok, evidence, remedy, data)


def evaluate_fetch(
    host: str, container: str, url: str, outcome: ExecOutcome | None, *, expect: str = '"models"'
) -> Check:
    """``network.<container>.ollama-api``: Ollama's /api/tags answers from inside the container."""
    check = f"network.{container}.ollama-api"
    data: dict[str, Any] = {"container": container, "url": url}
    if outcome is None:
        return _not_running(check, host, container, data)
    data.update(outcome.to_dict())
    where = f"{container} on {host}: GET {url}"
    ok = outcome.exit_code == 0 and expect in outcome.stdout
    if ok:
        evidence = f"{where} -> answered {expect}"
    else:
        err = redact_all((outcome.stderr or outcome.stdout).strip()).splitlines()
        detail = redact_head(err[-1], 200) if err else "no output"
        evidence = f"{where} -> exit {outcome.exit_code}: {detail}"
    remedy = REMEDY_OLLAMA_API.format(container=container)
    return verdict(check, host, Layer.NETWORK, ok, evidence, remedy, data)


def evaluate_public(
    host: str,
    fqdn: str,
    outcome: ProbeOutcome,
    *,
    auth_host: str,
    view: TraefikView | None = None,
    outpost_ready: bool | None = None,
) -> Check:
    """``auth.<public name>``: without credentials the route answers 302 to the auth host or 401.

    A 200 means the route is open to anyone: a failure, as is any other answer. The cause of a
    failure comes from Traefik's API when ``view`` is given (router missing, middleware missing,
    no healthy server), else from the answer and ``outpost_ready`` (`edge.diagnose`).
    """
    short = fqdn.split(".", maxsplit=1)[0]
    route = Route(fqdn, PUBLIC_PATHS.get(short, "/"))
    diagnosis = edge.diagnose(
        route, outcome, auth_host=auth_host, view=view, outpost_ready=outpost_ready
    )
    return edge.route_check(host, route, diagnosis)


def evaluate_outpost(
    host: str, docker: DockerFacts, *, network: str = FRONTEND_NETWORK, hint: str = OUTPOST_HINT
) -> Check:
    """``auth.outpost``: an Authentik outpost container runs, healthy, attached to ``network``."""
    remedy = REMEDY_OUTPOST.format(network=network)
    if docker.error is not None:
        seen = f"docker on {host} did not answer: {docker.error}"
        return Check(
            "auth.outpost", host, Layer.AUTH, Status.FAIL, seen, REMEDY_DOCKER.format(host=host)
        )
    found = [c for c in docker.containers if hint in c.name]
    if not found:
        seen = f"no container named like *{hint}* on {host}"
        return Check("auth.outpost", host, Layer.AUTH, Status.FAIL, seen, remedy)
    best = next((c for c in found if c.ready), found[0])
    nets = sorted(docker.networks.get(best.name, {}))
    data = {"container": best.to_dict(), "networks": nets}
    seen = f"{best.name} on {host}: {best.state}"
    if best.health is not Health.NONE:
        seen += f", {best.health}"
    seen += f"; networks {', '.join(nets) or '(none)'}"
    if best.ready and network not in nets:
        seen += f": not on the {network} network"
    ok = best.ready and network in nets
    return verdict("auth.outpost", host, Layer.AUTH, ok, seen, remedy, data)
