"""``verify`` for the stack hosts: containers, HTTP readiness, in-container network, forward-auth.

`verify_stacks` is the Nornir task: ONE batched round trip (`HostConnection.run_batch`) gathers
``docker inspect`` of every container, the template.yaml HTTP probes that need no secret, the
in-container name resolution and Ollama reachability (the guide's "Network Connectivity"), and
on the trusted host the unauthenticated requests to Traefik (the guide's "Public Access").
Probes that carry an API key run afterwards through `facts.http.http_get`, whose secret header
travels on stdin: a batched command line would show the key in the host's process list.

The ``evaluate_*`` functions are pure: facts in, `Check` objects out, each with the guide's
Troubleshooting remedy when it is not passing.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks import edge
from nornir_homehub.checks.edge import REMEDY_AUTH_OPEN, REMEDY_OUTPOST
from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import HomehubError, NoSafeHttpClient, TransportError
from nornir_homehub.facts.docker import containers_command, parse_containers
from nornir_homehub.facts.http import build_script, http_get, parse_response
from nornir_homehub.facts.stacks import Container, Health, stack_containers
from nornir_homehub.secrets import redact_all, redact_head

if TYPE_CHECKING:
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.render import HttpProbe, ServiceHealth, StacksPath, StackSpec
    from nornir_homehub.secrets import SecretStore

DEFAULT_STACKS_ROOT = "/opt/stacks"
FRONTEND_NETWORK = "frontend"
OUTPOST_HINT = "outpost"
EXEC_TIMEOUT = 10
PUBLIC_PATHS = edge.PUBLIC_PATHS
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
REMEDY_OLLAMA_API = (
    "Ollama does not answer from inside {container}: check the name resolves (network check "
    "above, extra_hosts workaround), that ollama runs on the compute host "
    "(`docker ps | grep ollama`) and that port 11434 is published and reachable from the "
    "trusted host"
)


@dataclass(frozen=True)
class ProbeOutcome:
    """What one HTTP request saw: a status (0 when there was no HTTP answer) or an error.

    Attributes:
        url: the URL requested (no credentials in it).
        status: the HTTP status, 0 when there was no answer.
        body: the response body as text (cut at 2000 characters).
        location: the ``Location`` response header, empty when absent.
        error: why there was no answer (refused, timeout, no address), empty otherwise.

    """

    url: str
    status: int = 0
    body: str = ""
    location: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "url": self.url,
            "status": self.status,
            "location": self.location,
            "error": self.error,
            "body": redact_head(self.body, 300),
        }


@dataclass(frozen=True)
class ExecOutcome:
    """Exit code and output of a command run inside a container with ``docker exec``."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (outputs cut at 300 characters)."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "stdout": redact_head(self.stdout, 300),
            "stderr": redact_head(self.stderr, 300),
        }


@dataclass(frozen=True)
class DockerFacts:
    """Every container on a host and the networks each is attached to.

    Attributes:
        containers: every container (compose-managed or not), as `parse_docker` reads it.
        networks: container name -> network name -> the container's address there.
        error: why Docker Engine could not be asked (None when it answered).

    """

    containers: tuple[Container, ...] = ()
    networks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    error: str | None = None

    def by_name(self, name: str) -> Container | None:
        """Return the container named ``name``, if any."""
        return next((c for c in self.containers if c.name == name), None)

    def for_service(self, project: str, service: str) -> Container | None:
        """Return the container of compose ``project``/``service``, if any."""
        return next(
            (c for c in self.containers if c.project == project and c.service == service), None
        )


# ---------------------------------------------------------------------------------------------
# Commands (pure)
# ---------------------------------------------------------------------------------------------
def docker_command() -> str:
    """Shell command listing every container (`facts.docker.containers_command`)."""
    return containers_command()


def http_command(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5) -> str:
    """Shell command making a request on the host, for `run_batch`; parse with `parse_response`.

    Header values go on the command line (base64): never pass a secret here (`http_get`
    keeps them off it).
    """
    blob = "".join(f"{k}: {v}\n" for k, v in (headers or {}).items()).encode()
    script = build_script(
        url,
        method="GET",
        has_headers=bool(blob),
        has_body=False,
        timeout=timeout,
        public_headers=True,
    )
    lines = f"{base64.b64encode(blob).decode()}\n\n"
    return f"printf %s {shlex.quote(lines)} | sh -c {shlex.quote(script)}"


def container_http_command(container: str, port: int, path: str, *, timeout: float = 5) -> str:
    """Shell command requesting ``http://<container address>:port/path`` from the host.

    An unpublished port is reached on the container's address (the host is on every bridge
    network it creates), so the probe does not depend on the tools inside the image. Exits 95
    when the container has no address (not running).
    """
    marker = "homehub-container-address"
    url = f"http://{marker}:{port}{path}"
    script = build_script(url, method="GET", has_headers=False, has_body=False, timeout=timeout)
    # The URL sits in the script either bare or single-quoted: expand the address either way.
    quoted = shlex.quote(url) != url
    script = script.replace(marker, "'\"$addr\"'" if quoted else '"$addr"')
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    return (
        f"addr=$(docker inspect -f {shlex.quote(fmt)} {shlex.quote(container)} 2>/dev/null "
        "| awk '{print $1}'); "
        f"[ -n \"$addr\" ] || {{ echo 'container {container} has no address' >&2; exit 95; }}; "
        f"export addr; printf '\\n\\n' | sh -c {shlex.quote(script)}"
    )


def getent_command(container: str, name: str) -> str:
    """``docker exec CONTAINER getent hosts NAME`` (bounded by a timeout)."""
    return (
        f"timeout {EXEC_TIMEOUT} docker exec {shlex.quote(container)} "
        f"getent hosts {shlex.quote(name)}"
    )


def fetch_command(container: str, url: str) -> str:
    """``docker exec CONTAINER curl -sS URL`` (wget when the image has no curl), bounded."""
    inner = 'if command -v curl >/dev/null 2>&1; then curl -sS "$1"; else wget -q -O - "$1"; fi'
    return (
        f"timeout {EXEC_TIMEOUT} docker exec {shlex.quote(container)} sh -c "
        f"{shlex.quote(inner)} sh {shlex.quote(url)}"
    )


# ---------------------------------------------------------------------------------------------
# Parsers (pure)
# ---------------------------------------------------------------------------------------------
def parse_docker(result: CommandResult) -> DockerFacts:
    """Turn the result of `docker_command` into `DockerFacts`.

    A container that vanished between listing and inspecting is simply not there; an error
    message never carries the inspect output (other containers' details).
    """
    docker = parse_containers(result)
    if docker.error is not None:
        return DockerFacts(error=docker.error)
    return DockerFacts(
        stack_containers(docker), {c.name: dict(c.networks) for c in docker.containers}
    )


def parse_probe(result: CommandResult, url: str, *, where: str) -> ProbeOutcome:
    """Turn the result of `http_command`/`container_http_command` into a `ProbeOutcome`."""
    if result.exit_code != 0:
        detail = redact_all((result.stderr or result.stdout).strip()).splitlines()
        return ProbeOutcome(url, error=detail[-1] if detail else f"exit {result.exit_code}")
    try:
        res = parse_response(result.stdout, where=where)
    except HomehubError as exc:
        return ProbeOutcome(url, error=str(exc).removeprefix(f"{where}: "))
    return ProbeOutcome(
        url, res.status, redact_head(res.text, 2000), res.headers.get("location", "")
    )


# ---------------------------------------------------------------------------------------------
# Evaluation (pure)
# ---------------------------------------------------------------------------------------------
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
                checks.append(
                    Check(
                        check_name,
                        host,
                        Layer.CONTAINER,
                        Status.FAIL,
                        f"docker on {host} did not answer: {docker.error}",
                        REMEDY_DOCKER.format(**ctx),
                        {"stack": stack.name},
                    )
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
    if found is None:
        other = docker.by_name(container)
        if other is not None:
            return Check(
                check_name,
                host,
                Layer.CONTAINER,
                Status.FAIL,
                f"{container} on {host} belongs to project {other.project or '(none)'} service "
                f"{other.service or '(none)'}, not {ctx['project']}/{ctx['service']}",
                REMEDY_FOREIGN.format(**ctx),
                {**data, "found": other.to_dict()},
            )
        return Check(
            check_name,
            host,
            Layer.CONTAINER,
            Status.FAIL,
            f"no container for service {ctx['service']} of project {ctx['project']} on {host}",
            REMEDY_CONTAINER.format(**ctx),
            data,
        )
    data["found"] = found.to_dict()
    seen = f"{found.name} on {host}: {found.state}"
    if found.health is not Health.NONE:
        seen += f", {found.health}"
    if not found.running:
        return Check(
            check_name,
            host,
            Layer.CONTAINER,
            Status.FAIL,
            seen,
            REMEDY_CONTAINER.format(**ctx),
            data,
        )
    wants_health = spec is not None and spec.healthcheck
    if found.health is Health.UNHEALTHY or (wants_health and found.health is Health.NONE):
        what = "unhealthy" if found.health is Health.UNHEALTHY else "without a healthcheck"
        return Check(
            check_name,
            host,
            Layer.CONTAINER,
            Status.FAIL,
            seen,
            REMEDY_UNHEALTHY.format(**ctx, health=what),
            data,
        )
    if found.health is Health.STARTING:
        return Check(
            check_name,
            host,
            Layer.CONTAINER,
            Status.WARN,
            seen,
            f"{container} is still starting: run verify again in a minute",
            data,
        )
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
    if outcome.error:
        return Check(
            name,
            host,
            Layer.HTTP,
            Status.FAIL,
            f"{where}: no answer: {outcome.error}",
            REMEDY_HTTP.format(**ctx),
            data,
        )
    if outcome.status in (401, 403) and probe.status not in (401, 403):
        key = (
            f"with the {probe.auth_header} of {probe.auth_secret}"
            if probe.auth_secret
            else ("without credentials")
        )
        remedy = REMEDY_API_KEY.format(**ctx, secret=probe.auth_secret or "the API key")
        return Check(
            name,
            host,
            Layer.AUTH,
            Status.FAIL,
            f"{where} {key} -> {outcome.status} (authentication refused)",
            remedy,
            data,
        )
    if outcome.status != probe.status:
        return Check(
            name,
            host,
            Layer.HTTP,
            Status.FAIL,
            f"{where} -> {outcome.status}, expected {probe.status}",
            REMEDY_HTTP.format(**ctx),
            data,
        )
    if probe.body_contains is not None and probe.body_contains not in outcome.body:
        return Check(
            name,
            host,
            Layer.HTTP,
            Status.FAIL,
            f"{where} -> {outcome.status} but the body lacks {probe.body_contains!r}",
            REMEDY_HTTP.format(**ctx),
            data,
        )
    return Check(name, host, Layer.HTTP, Status.PASS, f"{where} -> {outcome.status}", "", data)


def _not_running(check: str, host: str, container: str, data: dict[str, Any]) -> Check:
    """A network check skipped because its container does not run (its container check says why)."""
    return Check(
        check,
        host,
        Layer.NETWORK,
        Status.SKIP,
        f"{container} on {host} does not run (see its container check)",
        "",
        data,
    )


def evaluate_resolution(
    host: str, container: str, name: str, expected: str, outcome: ExecOutcome | None, *, stack: str
) -> Check:
    """``network.<container>.<name>``: ``getent hosts NAME`` in the container gives ``expected``.

    ``outcome`` None means the container does not run (skip: its container check says why).
    """
    check = f"network.{container}.{name.split('.', maxsplit=1)[0]}"
    data: dict[str, Any] = {"container": container, "name": name, "expected": expected}
    if outcome is None:
        return _not_running(check, host, container, data)
    data.update(outcome.to_dict())
    fields = outcome.stdout.split()
    seen = fields[0] if outcome.exit_code == 0 and fields else ""
    remedy = REMEDY_NETWORK.format(container=container, expected=f"{name}:{expected}", stack=stack)
    where = f"{container} on {host}: getent hosts {name}"
    if not seen:
        err = outcome.stderr.strip().splitlines()
        detail = f" ({err[-1]})" if err else ""
        return Check(
            check,
            host,
            Layer.NETWORK,
            Status.FAIL,
            f"{where} -> not resolved (exit {outcome.exit_code}{detail}), expected {expected}",
            remedy,
            data,
        )
    if seen != expected:
        return Check(
            check,
            host,
            Layer.NETWORK,
            Status.FAIL,
            f"{where} -> {seen}, expected {expected} (extra_hosts not applied)",
            remedy,
            data,
        )
    return Check(check, host, Layer.NETWORK, Status.PASS, f"{where} -> {seen}", "", data)


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
    if outcome.exit_code == 0 and expect in outcome.stdout:
        return Check(
            check, host, Layer.NETWORK, Status.PASS, f"{where} -> answered {expect}", "", data
        )
    err = redact_all((outcome.stderr or outcome.stdout).strip()).splitlines()
    detail = redact_head(err[-1], 200) if err else "no output"
    return Check(
        check,
        host,
        Layer.NETWORK,
        Status.FAIL,
        f"{where} -> exit {outcome.exit_code}: {detail}",
        REMEDY_OLLAMA_API.format(container=container),
        data,
    )


def evaluate_public(
    host: str,
    fqdn: str,
    outcome: ProbeOutcome,
    *,
    auth_host: str,
    view: edge.TraefikView | None = None,
    outpost_ready: bool | None = None,
) -> Check:
    """``auth.<public name>``: without credentials the route answers 302 to the auth host or 401.

    A 200 means the route is open to anyone: a failure, as is any other answer. The cause of a
    failure comes from Traefik's API when ``view`` is given (router missing, middleware missing,
    no healthy server), else from the answer and ``outpost_ready`` (`edge.diagnose`).
    """
    short = fqdn.split(".", maxsplit=1)[0]
    route = edge.Route(fqdn, PUBLIC_PATHS.get(short, "/"))
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
        return Check(
            "auth.outpost",
            host,
            Layer.AUTH,
            Status.FAIL,
            f"docker on {host} did not answer: {docker.error}",
            REMEDY_DOCKER.format(host=host),
        )
    found = [c for c in docker.containers if hint in c.name]
    if not found:
        return Check(
            "auth.outpost",
            host,
            Layer.AUTH,
            Status.FAIL,
            f"no container named like *{hint}* on {host}",
            remedy,
        )
    best = next((c for c in found if c.ready), found[0])
    nets = sorted(docker.networks.get(best.name, {}))
    data = {"container": best.to_dict(), "networks": nets}
    seen = f"{best.name} on {host}: {best.state}"
    if best.health is not Health.NONE:
        seen += f", {best.health}"
    seen += f"; networks {', '.join(nets) or '(none)'}"
    if not best.ready:
        return Check("auth.outpost", host, Layer.AUTH, Status.FAIL, seen, remedy, data)
    if network not in nets:
        return Check(
            "auth.outpost",
            host,
            Layer.AUTH,
            Status.FAIL,
            f"{seen}: not on the {network} network",
            remedy,
            data,
        )
    return Check("auth.outpost", host, Layer.AUTH, Status.PASS, seen, "", data)


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Probe:
    key: str
    stack: StackSpec
    health: ServiceHealth
    probe: HttpProbe

    @property
    def url(self) -> str:
        if self.probe.published:
            return f"http://127.0.0.1:{self.probe.port}{self.probe.path}"
        return f"http://<{self.health.container}>:{self.probe.port}{self.probe.path}"


def verify_stacks(  # noqa: PLR0912, PLR0915 - one flat gather/evaluate sequence reads best
    task: Task,
    *,
    stacks_dir: StacksPath,
    secrets: SecretStore | None = None,
    only: Sequence[str] | None = None,
    site: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 10,
) -> Result:
    """Nornir task: verify the stacks a trusted/compute host runs.

    Checks: ``container.<service>``, ``http.<stack>.<probe>`` (template.yaml health probes; a
    401/403 shows as layer auth), on the trusted host ``network.<container>.<name>`` and
    ``network.<container>.ollama-api`` (from inside each stack container: the extra_hosts
    workaround), ``auth.<public name>`` and ``auth.outpost``.

    Args:
        task: the Nornir task.
        stacks_dir: the ``stacks/`` folder (template.yaml health specs).
        secrets: the run's secrets, for probes with ``auth_secret`` (None: those probes are
            skipped).
        only: narrow to these stacks.
        site: host name -> template variables (`site_vars` on the whole inventory); default:
            `site_vars` on the task's inventory.
        timeout: seconds per HTTP request.

    Returns:
        Result with ``result`` = list of `Check`, ``failed`` when one failed, ``changed`` False.

    Raises:
        TransportError: the host cannot be reached over SSH.
        ConfigError: the host's stacks list is invalid.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection
    from nornir_homehub.inventory import site_vars
    from nornir_homehub.render import stacks_for_host

    host = task.host
    variables = (
        dict(site[host.name]) if site and host.name in site else site_vars(task.nornir, host)
    )
    specs = stacks_for_host(variables, stacks_dir, set(only) if only else None)
    stacks_root = str(variables.get("stacks_root") or DEFAULT_STACKS_ROOT)
    trusted = variables.get("role") == "trusted"
    domain = str(variables.get("domain", ""))

    probes: list[_Probe] = []
    for spec in specs:
        for h in spec.health:
            probes.extend(_Probe(f"probe:{spec.name}.{p.name}", spec, h, p) for p in h.http)
    cmds: dict[str, str] = {"docker": docker_command()}
    for p in probes:
        if p.probe.auth_secret:
            continue
        if p.probe.published:
            cmds[p.key] = http_command(p.url, timeout=timeout)
        else:
            cmds[p.key] = container_http_command(
                p.health.container, p.probe.port, p.probe.path, timeout=timeout
            )
    extra_hosts: Mapping[str, str] = variables.get("extra_hosts") or {}
    internal = [str(s) for s in variables.get("internal_services") or []]
    ollama_url = f"http://ollama.{domain}:11434/api/tags" if "ollama" in internal else None
    net_containers = [(s, h.container) for s in specs for h in s.health] if trusted else []
    for _, c in net_containers:
        for name in extra_hosts:
            cmds[f"getent:{c}:{name}"] = getent_command(c, name)
        if ollama_url:
            cmds[f"fetch:{c}"] = fetch_command(c, ollama_url)
    publics = [str(s) for s in variables.get("public_services") or []] if trusted else []
    routes = [edge.public_route(domain, pub) for pub in publics]
    edge_urls = {}
    for i, route in enumerate(routes):
        url, headers = edge.edge_request(variables, route)
        cmds[f"edge:{i}"] = http_command(url, headers=headers, timeout=timeout)
        edge_urls[route] = (f"edge:{i}", url)

    conn = host_connection(task)
    res = conn.run_batch(cmds, timeout=timeout * 3 + EXEC_TIMEOUT * 2 + 30)
    docker = parse_docker(res["docker"])

    checks = evaluate_containers(host.name, specs, docker, stacks_root=stacks_root)
    for p in probes:
        where = f"{host.name}: GET {p.url}"
        outcome: ProbeOutcome | Check | None
        if p.key in res:
            outcome = parse_probe(res[p.key], p.url, where=where)
        else:
            outcome = _authenticated_probe(conn, p, docker, secrets, timeout)
        if isinstance(outcome, Check):
            checks.append(outcome)
            continue
        if outcome is None:
            checks.append(
                Check(
                    f"http.{p.stack.name}.{p.probe.name}",
                    host.name,
                    Layer.HTTP,
                    Status.SKIP,
                    f"{p.url}: no secret store given for {p.probe.auth_secret}",
                )
            )
            continue
        checks.append(
            evaluate_probe(host.name, p.stack, p.health, p.probe, outcome, stacks_root=stacks_root)
        )

    if trusted and internal and not extra_hosts:
        checks.append(
            Check(
                "network",
                host.name,
                Layer.NETWORK,
                Status.SKIP,
                "no compute host among the selected hosts: the expected addresses of "
                f"{', '.join(internal)} are unknown (run without --filter)",
            )
        )
    for spec, c in net_containers:
        found = docker.by_name(c)
        running = found is not None and found.running
        for name, address in extra_hosts.items():
            r = res.get(f"getent:{c}:{name}")
            ex = ExecOutcome(r.command, r.exit_code, r.stdout, r.stderr) if r and running else None
            checks.append(
                evaluate_resolution(host.name, c, name, str(address), ex, stack=spec.name)
            )
        if ollama_url:
            r = res.get(f"fetch:{c}")
            ex = ExecOutcome(r.command, r.exit_code, r.stdout, r.stderr) if r and running else None
            checks.append(evaluate_fetch(host.name, c, ollama_url, ex))
    if trusted:
        checks += _edge_checks(conn, host.name, variables, routes, edge_urls, res, docker)
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)


def _edge_checks(
    conn: HostConnection,
    host: str,
    variables: Mapping[str, Any],
    routes: list[edge.Route],
    urls: Mapping[edge.Route, tuple[str, str]],
    res: Mapping[str, CommandResult],
    docker: DockerFacts,
) -> list[Check]:
    """``auth.<public name>`` for each route, after a bounded settle window, and ``auth.outpost``.

    A route that is not served yet is asked again until ``edge_settle_timeout`` (Traefik adds a
    container's routers a few seconds after it turns healthy); what is still wrong then is
    diagnosed from Traefik's API when ``traefik_api_url`` is set.
    """
    domain = str(variables.get("domain", ""))
    first = {
        r: parse_probe(res[key], url, where=f"{host}: GET {url}") for r, (key, url) in urls.items()
    }
    outpost = [evaluate_outpost(host, docker)]

    def outpost_ready() -> bool | None:
        # Asked only for routes still wrong after the window: the outpost as it is now.
        outpost[0] = evaluate_outpost(host, parse_docker(conn.run(docker_command())))
        return outpost[0].status is Status.PASS

    settle = float(variables.get("edge_settle_timeout") or edge.DEFAULT_EDGE_SETTLE)
    results = edge.settle_routes(
        conn,
        routes,
        variables,
        timeout=settle,
        auth_host=f"auth.{domain}",
        first=first,
        outpost_ready=outpost_ready,
    )
    checks = [edge.route_check(host, r, *results[r]) for r in routes]
    return [*checks, outpost[0]]


def _authenticated_probe(
    conn: HostConnection,
    p: _Probe,
    docker: DockerFacts,
    secrets: SecretStore | None,
    timeout: float,
) -> ProbeOutcome | Check | None:
    """Run a probe carrying an API key through `http_get` (the key travels on stdin only).

    Returns a warning `Check` instead when the host has no client that keeps the key off its
    command line (BusyBox wget only): the probe is not run.
    """
    if secrets is None or p.probe.auth_secret is None:
        return None
    if p.probe.published:
        url = p.url
    else:
        nets = docker.networks.get(p.health.container, {})
        addr = next((a for a in nets.values() if a), "")
        found = docker.by_name(p.health.container)
        if not addr or found is None or not found.running:
            return ProbeOutcome(p.url, error=f"container {p.health.container} has no address")
        url = f"http://{addr}:{p.probe.port}{p.probe.path}"
    value = p.probe.auth_prefix + secrets.get(p.probe.auth_secret).reveal()
    try:
        res = http_get(
            conn, url, headers={p.probe.auth_header or "Authorization": value}, timeout=timeout
        )
    except NoSafeHttpClient as exc:
        return Check(
            f"http.{p.stack.name}.{p.probe.name}",
            conn.name,
            Layer.HTTP,
            Status.WARN,
            f"{conn.name}: GET {p.url} with the {p.probe.auth_header} of {p.probe.auth_secret} "
            f"{str(exc).removeprefix(f'{conn.name}: GET {url}: ')}: not checked",
            exc.remedy,
            {"stack": p.stack.name, "container": p.health.container, "url": p.url},
        )
    except TransportError as exc:
        return ProbeOutcome(p.url, error=str(exc).removeprefix(f"{conn.name}: GET {url}: "))
    return ProbeOutcome(
        p.url, res.status, redact_head(res.text, 2000), res.headers.get("location", "")
    )
