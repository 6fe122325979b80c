"""`tasks.twin` (the zero-downtime swaps) through the scripted connection double, without the lab.

The stacks are the lab's LiteLLM and Open WebUI stacks rendered from the real templates (test
secrets); their twin plans come from `plan_twins` on facts where each container serves, ready,
and its env file changed, as the deploy task computes them. The trusted host answers from a
script: the twins' compose run, then per poll the container listing (`facts.docker` JSON
lines) and Traefik's API (routers and middlewares from the real captures in
tests/fixtures/traefik/; the services answer lists, per poll, the servers the test says
Traefik routes to). A fake clock replaces `time` in `tasks.twin` only: a sleep advances it at
once and is noted in the host's command log, so a timeout is reached without waiting and the
order of sleeps and commands can be asserted.

The tasks run as the deploy task runs them: `begin_swaps` inside a host task (it runs its own
subtasks), `finish_swaps` as a task of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import yaml
from compute_double import container, listing
from conftest import LAB_CONFIG, ROOT
from nornir.core.task import AggregatedResult, Result, Task

from nornir_homehub.config import load_nornir
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.docker import PROJECT_LABEL, ContainerFact, containers_command
from nornir_homehub.facts.stacks import (
    Container,
    Health,
    HostStackFacts,
    RemoteDir,
    RemoteFile,
    StackState,
)
from nornir_homehub.facts.traefik import traefik_api_commands
from nornir_homehub.plan.stacks import StackPlan, plan_stack
from nornir_homehub.plan.twin import DRAIN_FILE, TwinPlan, plan_twins
from nornir_homehub.render import RenderedStack, render_host
from nornir_homehub.secrets import SecretStore
from nornir_homehub.tasks import twin
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir
from nornir_homehub.testing.secret_scan import scan_bytes

KEYS = {
    "vault_webui_secret_key": "twin-test-webui-secret-7d1f0a",
    "vault_qdrant_api_key": "twin-test-qdrant-key-52be9c",
    "vault_litellm_master_key": "sk-twin-test-master-key-e04b13",
}
SECRETS = SecretStore.from_mapping(KEYS)
API = "http://127.0.0.1:8080"
TRUSTED: dict[str, Any] = {"role": "trusted", "traefik_api_url": API, "edge_wait_timeout": 20}
BLIND: dict[str, Any] = {"role": "trusted", "edge_wait_timeout": 20}  # no traefik_api_url
WAIT = 30.0  # deploy_wait_timeout: seconds until a twin must be ready
FIXTURES = ROOT / "tests" / "fixtures" / "traefik"
CONTAINERS = containers_command(label=PROJECT_LABEL)
API_CMDS = traefik_api_commands(API)
# Addresses on the `frontend` network: the real container before and after its recreate, and
# the twin. Nothing connects to them: the double answers.
OLD = {"litellm": "192.0.2.69", "open-webui": "192.0.2.68"}
NEW = {"litellm": "192.0.2.79", "open-webui": "192.0.2.78"}
TWIN = {"litellm": "192.0.2.89", "open-webui": "192.0.2.88"}
PORT = {"litellm": 4000, "open-webui": 8080}
TRAEFIK_SERVICE = {"litellm": "litellm@docker", "open-webui": "openwebui@docker"}
PROJECT = {"litellm": "litellm", "open-webui": "openwebui"}


def http_answer(status: int, body: str) -> str:
    """What the host-side request script prints for a curl answer (marker + three base64 lines)."""
    parts = [f"HTTP/1.1 {status} X\r\n\r\n", body, ""]
    encoded = [base64.b64encode(p.encode()).decode() for p in parts]
    return "\n".join([f"homehub-http curl 0 {status}", *encoded]) + "\n"


class Clock:
    """`time` as tasks.twin sees it: sleeping advances the clock and is noted in ``log``.

    A wait that outlives every limit of these tests by far fails instead of looping forever
    on the fake clock (a wait that lost its deadline).
    """

    START = 5000.0
    BOUND = 3600.0

    def __init__(self, log: list[str]) -> None:
        self.now = self.START
        self.log = log

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.log.append(f"<sleep {seconds:g}>")
        self.now += seconds
        assert self.now - self.START < self.BOUND, "tasks.twin waited past every deadline"


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderedStack]:
    nr = load_nornir(LAB_CONFIG)
    stacks = render_host(nr, nr.inventory.hosts["trusted"], ROOT / "stacks", KEYS)
    return {s.name: s for s in stacks if s.name in ("litellm", "openwebui")}


def _swap(
    stack: RenderedStack, *, changed: bool = True, leftover: bool = False
) -> tuple[TwinPlan, StackPlan]:
    """The twin and stack plans of ``stack``, its container serving and ready.

    ``changed``: its env file differs from the last deploy's; ``leftover``: a twin a killed run
    left is on the host.
    """
    env = next(p for p in stack.files if "/.env." in p)
    old = "0" * 64
    touched = {env} if changed else set()
    files = {
        p: RemoteFile(p, True, f.mode, "root", "root", old if p in touched else f.sha256)
        for p, f in stack.files.items()
    }
    applied = {p: old if p in touched else f.sha256 for p, f in stack.files.items()}
    service = stack.services[0]
    name = stack.containers[service]
    image = yaml.safe_load(stack.files[stack.compose_file].content)["services"][service]["image"]
    containers = [
        Container("id1", name, stack.project, service, "running", Health.HEALTHY, "", image)
    ]
    if leftover:
        containers.append(
            Container(
                "id2",
                f"{name}-twin",
                f"{stack.project}-twin",
                service,
                "running",
                Health.HEALTHY,
                "",
                image,
            )
        )
    facts = HostStackFacts(
        files=files,
        dirs={d.path: RemoteDir(d.path, True, d.mode, "root", "root") for d in stack.data_dirs},
        containers=tuple(containers),
        states={stack.project_dir: StackState(stack.config_hash, applied)},
    )
    plan = plan_stack(stack, facts)
    return plan_twins(stack, plan, facts), plan


def _swaps(
    rendered: Mapping[str, RenderedStack], *names: str, leftover: bool = False
) -> tuple[dict[str, tuple[RenderedStack, TwinPlan]], dict[str, tuple[RenderedStack, StackPlan]]]:
    swaps, plans = {}, {}
    for n in names:
        twins, plan = _swap(rendered[n], leftover=leftover)
        assert [u.twin for u in twins.twins] == [f"{rendered[n].services[0]}-twin"], twins
        swaps[n] = (rendered[n], twins)
        plans[n] = (rendered[n], plan)
    return swaps, plans


def _box(service: str, name: str, ip: str, health: str | None = "healthy") -> ContainerFact:
    project = PROJECT[service] + ("-twin" if name.endswith("-twin") else "")
    return container(name, health, project=project, service=service, networks={"frontend": ip})


def _services(servers: Mapping[str, Sequence[str]]) -> str:
    """Traefik's /api/http/services answer listing ``servers`` (compose service -> addresses)."""
    items: list[dict[str, Any]] = json.loads((FIXTURES / "services-ok.json").read_text())
    for item in items:
        for service, ips in servers.items():
            if item["name"] == TRAEFIK_SERVICE[service]:
                urls = [f"http://{ip}:{PORT[service]}" for ip in ips]
                item["loadBalancer"]["servers"] = [{"url": u} for u in urls]
                item["serverStatus"] = dict.fromkeys(urls, "UP")
    return http_answer(200, json.dumps(items))


def _polls(cmd: str, answers: Sequence[str]) -> list[Command]:
    """``cmd`` answering ``answers`` one poll each, the last one from then on."""
    lines = [Command(cmd, out=a, times=1) for a in answers[:-1]]
    return [*lines, Command(cmd, out=answers[-1])]


def _api(*services: Mapping[str, Sequence[str]]) -> list[Command]:
    """Traefik's API: the captured routers and middlewares, ``services`` one poll each."""
    fixture = {w: (FIXTURES / f"{w}-ok.json").read_text() for w in ("routers", "middlewares")}
    return [
        Command(API_CMDS["traefik:routers"], out=http_answer(200, fixture["routers"])),
        Command(API_CMDS["traefik:middlewares"], out=http_answer(200, fixture["middlewares"])),
        *_polls(API_CMDS["traefik:services"], [_services(s) for s in services]),
    ]


def _up(project: str, service: str, *, exit: int = 0, err: str = "") -> Command:
    want = f"docker compose -p {project}-twin -f compose.yaml -f - up -d --no-deps "
    return Command(f"{want}--force-recreate {service}", match="contains", exit=exit, err=err)


DRAIN_LITELLM_TWIN = f"docker exec litellm-twin touch {DRAIN_FILE}"


def _recreated_with_twin() -> str:
    """The listing after litellm's swap: the recreated container and its twin, both healthy."""
    return listing(
        _box("litellm", "litellm", NEW["litellm"]),
        _box("litellm", "litellm-twin", TWIN["litellm"]),
    )


def _remove(*names: str) -> str:
    quoted = " ".join(names)
    return f"docker stop -t 10 {quoted} >/dev/null 2>&1; docker rm -f {quoted} >/dev/null 2>&1"


def _begin(
    task: Task,
    swaps: dict[str, tuple[RenderedStack, TwinPlan]],
    touched: list[RenderedStack],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
) -> Result:
    failed = twin.begin_swaps(task, swaps, touched, plans, SECRETS, WAIT)
    return Result(host=task.host, result=failed)


def _run_begin(
    host: ScriptedHost,
    data: Mapping[str, Any],
    swaps: dict[str, tuple[RenderedStack, TwinPlan]],
    plans: dict[str, tuple[RenderedStack, StackPlan]],
) -> tuple[AggregatedResult, list[RenderedStack]]:
    touched = [stack for stack, _ in plans.values()]
    nr = scripted_nornir({"trusted": (data, host)})
    agg = nr.run(task=_begin, swaps=swaps, touched=touched, plans=plans)
    assert not agg.failed, agg["trusted"][0].exception
    return agg, touched


def _step(agg: AggregatedResult, name: str) -> Result:
    return next(r for r in agg["trusted"] if r.name == name)


def _no_secret(host: ScriptedHost, *texts: str) -> None:
    """No form of any secret in the commands sent to the host nor in ``texts``."""
    sent = "\n".join([*host.ran, *texts]).encode()
    assert scan_bytes(sent, KEYS) == []


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedHost]:
    """The trusted host's double (scripted by each test) with the fake clock in tasks.twin.

    After each test: no command it was sent holds a secret.
    """
    h = ScriptedHost("trusted")
    monkeypatch.setattr(twin, "time", Clock(h.ran))
    yield h
    _no_secret(h)


def test_a_routed_twin_lets_the_stack_be_recreated(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    """Starting, then healthy but not yet a server, then a server: only then is it routed."""
    swaps, plans = _swaps(rendered, "litellm")
    seen: list[str] = []
    up = _up("litellm", "litellm")
    up.check = lambda cmd, _stdin: seen.append(cmd)
    host.script = [
        up,
        *_polls(
            CONTAINERS,
            [
                listing(
                    _box("litellm", "litellm", OLD["litellm"]),
                    _box("litellm", "litellm-twin", TWIN["litellm"], health),
                )
                for health in ("starting", "healthy", "healthy")
            ],
        ),
        *_api(
            {"litellm": [OLD["litellm"]]},
            {"litellm": [OLD["litellm"]]},
            {"litellm": [OLD["litellm"], TWIN["litellm"]]},
        ),
    ]
    agg, touched = _run_begin(host, TRUSTED, swaps, plans)
    assert agg["trusted"][0].result == {}  # nothing failed: the deploy recreates litellm
    assert [s.name for s in touched] == ["litellm"] and list(plans) == ["litellm"]
    step = _step(agg, "zero-downtime: twins healthy and routed")
    assert step.changed and step.result["failed"] == {}
    (row,) = step.result["twins"]
    assert row["container"] == "litellm-twin" and row["address"] == TWIN["litellm"]
    assert row["routed_by"] == "traefik api"
    assert row["ready_s"] == 0.5 and row["routed_s"] == 1.0  # ready at poll 2, routed at poll 3
    assert host.ran.count(CONTAINERS) == 3
    # The twin runs the new config from the stack's own compose file, renamed by the override.
    (cmd,) = seen
    assert cmd.startswith(f"cd {rendered['litellm'].project_dir} && printf '%s' ")
    assert "container_name: litellm-twin" in cmd and DRAIN_FILE in cmd
    assert not any(c.startswith("docker stop") for c in host.ran)  # nothing removed
    assert host.unused() == []
    _no_secret(host, json.dumps(step.result))


@pytest.mark.parametrize(
    ("twin_health", "why"),
    [
        ("starting", "twin litellm-twin not ready after 30s"),
        ("healthy", "twin litellm-twin not routed by Traefik after 20s"),
        ("unhealthy", "twin litellm-twin turned unhealthy (its healthcheck fails)"),
    ],
    ids=["never-healthy", "never-routed", "unhealthy"],
)
def test_a_twin_not_ready_or_routed_in_time_drops_its_stack_and_is_removed(
    rendered: dict[str, RenderedStack],
    host: ScriptedHost,
    twin_health: str,
    why: str,
) -> None:
    """LiteLLM's twin fails; Open WebUI's is routed at once and stays in the run."""
    swaps, plans = _swaps(rendered, "litellm", "openwebui")
    boxes = listing(
        _box("litellm", "litellm", OLD["litellm"]),
        _box("litellm", "litellm-twin", TWIN["litellm"], twin_health),
        _box("open-webui", "open-webui", OLD["open-webui"]),
        _box("open-webui", "open-webui-twin", TWIN["open-webui"]),
    )
    leaked_log = f"litellm | booting with key {KEYS['vault_litellm_master_key']}\n"
    host.script = [
        _up("litellm", "litellm"),
        _up("openwebui", "open-webui"),
        Command(CONTAINERS, out=boxes),
        *_api(
            {
                "litellm": [OLD["litellm"]],  # never the twin
                "open-webui": [OLD["open-webui"], TWIN["open-webui"]],
            }
        ),
        Command("docker logs --tail 5 litellm-twin 2>&1", out=leaked_log),
        Command(_remove("litellm-twin")),
    ]
    agg, touched = _run_begin(host, TRUSTED, swaps, plans)
    failed = agg["trusted"][0].result
    assert list(failed) == ["litellm"]
    reason = failed["litellm"]
    assert reason.startswith(why), reason
    if twin_health == "healthy":
        assert f"Traefik's servers for it: http://{OLD['litellm']}:4000" in reason
    assert reason.endswith(
        "; last log lines: litellm | booting with key <secret vault_litellm_master_key>"
    )
    # Dropped from the run (the deploy recreates and records only `touched`); Open WebUI stays.
    assert [s.name for s in touched] == ["openwebui"] and list(plans) == ["openwebui"]
    step = _step(agg, "zero-downtime: twins healthy and routed")
    assert [r["container"] for r in step.result["twins"]] == ["open-webui-twin"]
    # Only the failed twin is removed, after its last poll; the old container is never stopped.
    removals = [c for c in host.ran if c.startswith("docker stop")]
    assert removals == [_remove("litellm-twin")]
    assert host.ran.index(removals[0]) > max(i for i, c in enumerate(host.ran) if c == CONTAINERS)
    assert host.ran[-1] == removals[0]
    error = twin.not_started("trusted", failed)
    assert isinstance(error, StackFailed)
    assert str(error).startswith(
        "trusted: stack litellm: zero-downtime swap not started, the old container keeps serving"
    )
    assert host.unused() == []
    _no_secret(host, reason, str(error))


def test_a_twin_whose_compose_fails_is_removed_and_its_stderr_redacted(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    swaps, plans = _swaps(rendered, "litellm")
    key = KEYS["vault_litellm_master_key"]
    host.script = [
        _up("litellm", "litellm", exit=1, err=f"invalid interpolation near {key}\n"),
        Command(_remove("litellm-twin")),
    ]
    agg, touched = _run_begin(host, TRUSTED, swaps, plans)
    reason = agg["trusted"][0].result["litellm"]
    assert reason == (
        "twin did not start (compose exited 1): invalid interpolation near "
        "<secret vault_litellm_master_key>"
    )
    assert touched == [] and plans == {}
    assert CONTAINERS not in host.ran  # nothing to wait for
    assert host.ran[-1] == _remove("litellm-twin")
    _no_secret(host, reason)


def test_leftover_twins_are_removed_before_anything_starts(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    swaps, plans = _swaps(rendered, "litellm", leftover=True)
    assert swaps["litellm"][1].leftovers == ("litellm-twin",)
    boxes = listing(
        _box("litellm", "litellm", OLD["litellm"]),
        _box("litellm", "litellm-twin", TWIN["litellm"]),
    )
    host.script = [
        Command(_remove("litellm-twin")),
        _up("litellm", "litellm"),
        Command(CONTAINERS, out=boxes),
        *_api({"litellm": [OLD["litellm"], TWIN["litellm"]]}),
    ]
    agg, _ = _run_begin(host, TRUSTED, swaps, plans)
    assert agg["trusted"][0].result == {}
    step = _step(agg, "zero-downtime: remove leftover twins")
    assert step.changed and step.result == {"litellm": ["litellm-twin"]}
    assert host.ran[0] == _remove("litellm-twin")  # first: before the new twin's compose run
    assert "up -d --no-deps --force-recreate litellm" in host.ran[1]
    assert host.unused() == []


def test_a_leftover_of_an_unchanged_stack_is_removed_and_nothing_else_runs(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    stack = rendered["openwebui"]
    twins, _ = _swap(stack, changed=False, leftover=True)
    assert twins.twins == () and twins.leftovers == ("open-webui-twin",)
    host.script = [Command(_remove("open-webui-twin"))]
    touched: list[RenderedStack] = []
    nr = scripted_nornir({"trusted": (TRUSTED, host)})
    agg = nr.run(task=_begin, swaps={"openwebui": (stack, twins)}, touched=touched, plans={})
    assert not agg.failed and agg["trusted"][0].result == {}
    assert host.ran == [_remove("open-webui-twin")]


def test_without_traefiks_api_a_twin_counts_as_routed_after_the_blind_settle(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    swaps, plans = _swaps(rendered, "litellm")
    boxes = listing(
        _box("litellm", "litellm", OLD["litellm"]),
        _box("litellm", "litellm-twin", TWIN["litellm"]),
    )
    host.script = [_up("litellm", "litellm"), Command(CONTAINERS, out=boxes)]  # no API lines
    agg, touched = _run_begin(host, BLIND, swaps, plans)
    assert agg["trusted"][0].result == {} and [s.name for s in touched] == ["litellm"]
    (row,) = _step(agg, "zero-downtime: twins healthy and routed").result["twins"]
    assert row["routed_by"] == f"{twin.BLIND_SETTLE:.0f}s settle"
    assert row["ready_s"] == 0.0 and row["routed_s"] >= twin.BLIND_SETTLE
    assert not any("/api/http/" in c for c in host.ran)


def test_without_traefiks_api_the_drain_waits_the_blind_settle_before_removing(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    swaps, _ = _swaps(rendered, "litellm")
    boxes, touch = _recreated_with_twin(), DRAIN_LITELLM_TWIN
    host.script = [Command(CONTAINERS, out=boxes), Command(touch), Command(_remove("litellm-twin"))]
    nr = scripted_nornir({"trusted": (BLIND, host)})
    agg = nr.run(task=twin.finish_swaps, swaps=swaps, edge_timeout=20.0)
    assert not agg.failed, agg["trusted"][0].exception
    ran = host.ran
    settle = f"<sleep {twin.BLIND_SETTLE:g}>"
    assert (
        ran.index(touch)
        < len(ran) - 1 - ran[::-1].index(settle)
        < ran.index(_remove("litellm-twin"))
    )
    assert ran[-1] == _remove("litellm-twin")
    (row,) = agg["trusted"][0].result
    assert row["container"] == "litellm" and row["routed_by"] == "5s settle"


def test_the_twin_is_drained_before_it_is_removed(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    """Recreated container routed; drain file created; twin removed once Traefik drops it."""
    swaps, _ = _swaps(rendered, "litellm")
    boxes, touch = _recreated_with_twin(), DRAIN_LITELLM_TWIN
    both = {"litellm": [NEW["litellm"], TWIN["litellm"]]}
    host.script = [
        Command(CONTAINERS, out=boxes),
        Command(touch),
        *_api(both, both, {"litellm": [NEW["litellm"]]}),
        Command(_remove("litellm-twin")),
    ]
    nr = scripted_nornir({"trusted": (TRUSTED, host)})
    agg = nr.run(task=twin.finish_swaps, swaps=swaps, edge_timeout=20.0)
    assert not agg.failed, agg["trusted"][0].exception
    ran = host.ran
    services = [i for i, c in enumerate(ran) if c == API_CMDS["traefik:services"]]
    assert len(services) == 3  # routed again; twin still a server; twin gone
    assert services[0] < ran.index(touch) < services[1]
    assert ran.index(_remove("litellm-twin")) > services[2]
    assert ran[-1] == _remove("litellm-twin")
    (row,) = agg["trusted"][0].result
    assert row["container"] == "litellm" and row["address"] == NEW["litellm"]
    assert row["twin_removed_s"] >= row["twin_drained_s"] > row["routed_s"]
    _no_secret(host, json.dumps(row))


def test_a_recreated_container_not_routed_fails_and_the_twin_is_removed_all_the_same(
    rendered: dict[str, RenderedStack], host: ScriptedHost
) -> None:
    swaps, _ = _swaps(rendered, "litellm")
    boxes, touch = _recreated_with_twin(), DRAIN_LITELLM_TWIN
    host.script = [
        Command(CONTAINERS, out=boxes),
        *_api({"litellm": [TWIN["litellm"]]}),  # Traefik never lists the recreated container
        Command(touch),
        Command(_remove("litellm-twin")),
    ]
    nr = scripted_nornir({"trusted": (TRUSTED, host)})
    agg = nr.run(task=twin.finish_swaps, swaps=swaps, edge_timeout=20.0)
    assert agg.failed
    error = agg["trusted"][0].exception
    assert isinstance(error, StackFailed)
    assert str(error).startswith("trusted: stack litellm: litellm not routed by Traefik after 20s")
    assert host.ran[-1] == _remove("litellm-twin")
