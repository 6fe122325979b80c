"""The ``verify`` task for the stack hosts: gather in one round trip, then evaluate.

`verify_stacks` is the Nornir task: ONE batched round trip (`HostConnection.run_batch`) gathers
``docker inspect`` of every container, the template.yaml HTTP probes that need no secret, the
in-container name resolution and Ollama reachability (the guide's "Network Connectivity"), and
on the trusted host the unauthenticated requests to Traefik (the guide's "Public Access").
Probes that carry an API key run afterwards through `facts.http.http_get`, whose secret header
travels on stdin: a batched command line would show the key in the host's process list.

The checks themselves are the pure ``evaluate_*`` functions of `checks.stacks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.edge import route_check
from nornir_homehub.checks.litellm import evaluate_backends
from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.checks.stacks import (
    evaluate_containers,
    evaluate_fetch,
    evaluate_outpost,
    evaluate_probe,
    evaluate_resolution,
)
from nornir_homehub.defaults import DEFAULT_STACKS_ROOT
from nornir_homehub.errors import LiteLLMParseError, NoSafeHttpClient, TransportError
from nornir_homehub.facts.containers import (
    EXEC_TIMEOUT,
    DockerFacts,
    docker_command,
    fetch_command,
    getent_command,
    parse_docker,
    parse_exec,
)
from nornir_homehub.facts.http import (
    ProbeOutcome,
    container_http_command,
    http_command,
    http_get,
    parse_probe,
)
from nornir_homehub.facts.litellm import HEALTH_PATH, LiteLLMHealth, parse_health
from nornir_homehub.facts.traefik import Route, edge_request, public_route
from nornir_homehub.report.phases import timed
from nornir_homehub.secrets import redact_head
from nornir_homehub.tasks.edge import DEFAULT_EDGE_SETTLE, settle_routes

if TYPE_CHECKING:
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.render import HttpProbe, ServiceHealth, StacksPath, StackSpec
    from nornir_homehub.secrets import SecretStore


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


@timed("verify")
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
    workaround), ``auth.<public name>`` and ``auth.outpost``, and, where it runs LiteLLM,
    ``models.litellm.<model>@<compute host>``: each Ollama backend healthy in LiteLLM's own
    ``GET /health`` (asked with the master key, which travels on stdin only).

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
    # What the names must resolve to, whichever way (extra_hosts or the zone's BIND server).
    extra_hosts: Mapping[str, str] = (
        variables.get("internal_names") or variables.get("extra_hosts") or {}
    )
    servers = (
        [str(a) for a in variables.get("internal_dns_servers") or []]
        if variables.get("internal_dns") == "bind"
        else []
    )
    internal = [str(s) for s in variables.get("internal_services") or []]
    ollama_url = f"http://ollama.{domain}:11434/api/tags" if "ollama" in internal else None
    # Only the stacks that reach the internal names (their compose file declares extra_hosts:
    # LiteLLM, Open WebUI) are asked; Prometheus and node-exporter never resolve them.
    net_containers = (
        [(s, h.container) for s in specs if _uses_internal_names(s) for h in s.health]
        if trusted
        else []
    )
    for _, c in net_containers:
        for name in extra_hosts:
            cmds[f"getent:{c}:{name}"] = getent_command(c, name)
        if ollama_url:
            cmds[f"fetch:{c}"] = fetch_command(c, ollama_url)
    publics = [str(s) for s in variables.get("public_services") or []] if trusted else []
    routes = [public_route(domain, pub) for pub in publics]
    edge_urls = {}
    for i, route in enumerate(routes):
        url, headers = edge_request(variables, route)
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
            ex = parse_exec(res.get(f"getent:{c}:{name}")) if running else None
            checks.append(
                evaluate_resolution(
                    host.name, c, name, str(address), ex, stack=spec.name, servers=servers
                )
            )
        if ollama_url:
            ex = parse_exec(res.get(f"fetch:{c}")) if running else None
            checks.append(evaluate_fetch(host.name, c, ollama_url, ex))
    litellm = next((s for s in specs if s.name == "litellm"), None)
    if trusted and litellm is not None and variables.get("ollama_backends"):
        checks += _backend_checks(
            conn, host.name, variables["ollama_backends"], docker, secrets, timeout
        )
    if trusted:
        checks += _edge_checks(conn, host.name, variables, routes, edge_urls, res, docker)
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)


# LiteLLM's /health calls every deployment (in parallel, each cut off after its own 60 s
# HEALTH_CHECK_TIMEOUT_SECONDS) before it answers: wait longer than that, so a slow backend is
# reported by LiteLLM as unhealthy rather than hiding every other backend behind our timeout.
_HEALTH_TIMEOUT = 75.0
LITELLM_KEY_SECRET = "vault_litellm_master_key"  # noqa: S105 - the secret's name, not a value


def _backend_checks(
    conn: HostConnection,
    host: str,
    backends: Sequence[Mapping[str, Any]],
    docker: DockerFacts,
    secrets: SecretStore | None,
    timeout: float,
) -> list[Check]:
    """``models.litellm.<model>@<backend>``: LiteLLM's ``/health`` asked from the trusted host.

    The request goes to the litellm container's address (its port is not published), with the
    master key from the secret store in the Authorization header: `http_get` sends it on stdin,
    and only LiteLLM's redacted answer reaches a check.
    """
    if secrets is None:
        return [
            Check(
                "models.litellm",
                host,
                Layer.MODEL,
                Status.SKIP,
                f"no secret store given for {LITELLM_KEY_SECRET}: the backends through LiteLLM "
                "are not checked",
            )
        ]
    nets = docker.networks.get("litellm", {})
    addr = next((a for a in nets.values() if a), "")
    found = docker.by_name("litellm")
    health: LiteLLMHealth | None = None
    error = ""
    if not addr or found is None or not found.running:
        error = "the litellm container is not running or has no address"
    else:
        url = f"http://{addr}:4000{HEALTH_PATH}"
        key = secrets.get(LITELLM_KEY_SECRET).reveal()
        try:
            res = http_get(
                conn,
                url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=max(timeout, _HEALTH_TIMEOUT),
            )
            if res.status != 200:
                error = f"HTTP {res.status}: {redact_head(res.text.strip(), 200)}"
            else:
                health = parse_health(res.text)
        except NoSafeHttpClient as exc:
            return [
                Check(
                    "models.litellm",
                    host,
                    Layer.MODEL,
                    Status.WARN,
                    f"{exc}: the backends through LiteLLM are not checked",
                    exc.remedy,
                )
            ]
        except (TransportError, LiteLLMParseError) as exc:
            error = redact_head(str(exc).removeprefix(f"{conn.name}: GET {url}: "), 300)
    return evaluate_backends(host, backends, health, error=error)


def _uses_internal_names(spec: StackSpec) -> bool:
    """True when the stack's compose template declares ``extra_hosts`` (it reaches them)."""
    template = spec.directory / "compose.yaml.j2"
    return template.is_file() and "extra_hosts" in template.read_text(encoding="utf-8")


def _edge_checks(
    conn: HostConnection,
    host: str,
    variables: Mapping[str, Any],
    routes: list[Route],
    urls: Mapping[Route, tuple[str, str]],
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

    settle = float(variables.get("edge_settle_timeout") or DEFAULT_EDGE_SETTLE)
    results = settle_routes(
        conn,
        routes,
        variables,
        timeout=settle,
        auth_host=f"auth.{domain}",
        first=first,
        outpost_ready=outpost_ready,
    )
    checks = [route_check(host, r, *results[r]) for r in routes]
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
