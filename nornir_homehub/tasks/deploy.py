"""Deploy the stacks a host's role owns: facts (one round trip), plan, apply, wait until healthy.

``deploy_stacks`` is the per-host Nornir task; each stack is a subtask (``stack:<name>``) so that
reports show one record per host and stack with its own changed/failed/diff. Then, for the
changed stacks, ``compose + health + post-deploy`` (compose for all at once, one health wait,
the steps, the state records) and, when a routed service was (re)created, ``edge convergence``
(the wait until Traefik serves its routes through the auth middleware). A stack whose template
declares ``zero_downtime`` gets a twin around its compose run (`tasks.twin`, `plan.twin`).

A stack's state record is written only once its compose run, health wait (healthy, and still
so after the stable window) and post-deploy steps succeeded; it holds the hash of every file
that deploy applied, so the next run knows what the containers really run with.

What runs on the host lives beside this module: `tasks.apply` (dirs, files, compose, the
post-deploy steps), `tasks.finish` (compose, the health wait, the steps and the state records of
the changed stacks; the edge convergence), `tasks.health` (the readiness wait and its HTTP
probes) and `tasks.pull` (the pre-pull).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import HostConnection, host_connection
from nornir_homehub.errors import PlanError, StackFailed
from nornir_homehub.facts.images import parse_running_images, running_images_command
from nornir_homehub.facts.stacks import (
    Health,
    HostStackFacts,
    parse_stack_facts,
    stack_fact_batch,
)
from nornir_homehub.plan.pull import PullPlan, image_updates, plan_pull
from nornir_homehub.plan.stacks import ComposeAction, StackPlan, plan_stack
from nornir_homehub.plan.twin import TwinPlan, plan_twins
from nornir_homehub.report.phases import timed
from nornir_homehub.tasks import edge, twin
from nornir_homehub.tasks.apply import apply_files
from nornir_homehub.tasks.finish import (
    DEFAULT_STABLE,
    DEFAULT_WAIT,
    WaitReads,
    converge_edge,
    finish_stacks,
    wait_starting,
)
from nornir_homehub.tasks.pull import pull_failed, pull_stacks, record_digests

if TYPE_CHECKING:
    from nornir_homehub.connection import CommandResult
    from nornir_homehub.render import RenderedStack, StacksPath
    from nornir_homehub.secrets import SecretStore
    from nornir_homehub.tasks.models import ModelsAhead
    from nornir_homehub.tasks.releases import ReleaseContext


# Facts read ahead (`FactsAhead`) stand in for the stage's own only this young.
FACTS_AHEAD_FRESH = 1.0


@dataclass(frozen=True)
class EarlyFacts:
    """A host's stack facts read before its stage: the reads made, what they saw, when."""

    batch: Mapping[str, str]
    facts: HostStackFacts
    at: float


class FactsAhead:
    """The stack facts of a later stage's hosts, read in a thread while earlier stages run.

    The deploy's trusted stage plans from facts read while the compute stage ran, when they
    are still as good as reading them again: the same reads (its render did not change
    which), nothing changed by the run since, and at most `FACTS_AHEAD_FRESH` seconds old.
    The hosts are locked already, and no earlier stage uses their connections.
    """

    def __init__(self, nr: Any, rendered: Mapping[str, list[RenderedStack]]) -> None:
        import threading

        from nornir_homehub.connection.plugins import shared_connection

        self._got: dict[str, EarlyFacts] = {}
        jobs = [
            (name, conn, stacks)
            for name, stacks in rendered.items()
            if stacks and name in nr.inventory.hosts
            if (conn := shared_connection(nr.inventory.hosts[name])) is not None
        ]
        self._threads = [
            threading.Thread(target=self._read, args=job, daemon=True, name=f"facts-{job[0]}")
            for job in jobs
        ]
        for t in self._threads:
            t.start()

    def _read(self, name: str, conn: HostConnection, stacks: list[RenderedStack]) -> None:
        batch = stack_fact_batch(stacks)
        try:
            facts = gather_stack_facts(conn, stacks)
        except Exception:
            return
        self._got[name] = EarlyFacts(batch, facts, time.monotonic())

    def take(self, *, changed_since: bool, timeout: float | None = None) -> dict[str, EarlyFacts]:
        """Wait for the reads (each at most ``timeout`` s); what they saw.

        Nothing when the run changed anything since, or a read is still going on.
        """
        for t in self._threads:
            t.join(timeout)
        if changed_since or any(t.is_alive() for t in self._threads):
            return {}
        return dict(self._got)


@dataclass(frozen=True)
class StackOutcome:
    """What happened to one stack on one host (the subtask's ``result``)."""

    plan: StackPlan
    dry_run: bool
    applied: tuple[str, ...] = ()
    twins: TwinPlan | None = None  # the zero-downtime plan (stacks that declare it)
    # Each file's sha256 on the host before this run (None: missing) and as rendered now.
    files_before: Mapping[str, str | None] = field(default_factory=dict)
    files_after: Mapping[str, str] = field(default_factory=dict)

    def audit(self) -> dict[str, Any]:
        """What the audit log keeps of this stack: action, file hashes before and after."""
        return {
            "action": str(self.plan.action),
            "changed": self.plan.changed,
            "files_before": dict(self.files_before),
            "files_after": dict(self.files_after),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        extra = {"zero_downtime": self.twins.to_dict()} if self.twins else {}
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "applied": list(self.applied),
            **extra,
        }


@dataclass(frozen=True)
class HostDeploy:
    """Summary for one host (the parent task's ``result``)."""

    host: str
    stacks: tuple[str, ...]
    bytes_uploaded: int
    fact_round_trips: int = 1
    plans: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "stacks": list(self.stacks),
            "bytes_uploaded": self.bytes_uploaded,
            "plans": list(self.plans),
        }


def deploy_stacks(
    task: Task,
    *,
    stacks_dir: StacksPath,
    secrets: SecretStore,
    only: Collection[str] | None = None,
    rendered: Mapping[str, list[RenderedStack]] | None = None,
    dry_run: bool = False,
    force: bool = False,
    wait_timeout: float | None = None,
    release: ReleaseContext | None = None,
    pull: bool = False,
    early: Mapping[str, EarlyFacts] | None = None,
    models: ModelsAhead | None = None,
) -> Result:
    """Deploy every stack the host's role owns (narrowed by ``only``).

    Facts for all stacks come back in one round trip; then each stack is planned and applied
    in its own subtask. In dry-run, only the old content of changed files is read (for diffs).
    ``rendered`` (host name -> stacks) reuses a render done before any host was touched.
    ``release``: record a release of each stack whose deploy completed, and roll a stack
    whose health wait failed back to its newest release (`tasks.releases`); None: neither.
    Stacks that would replace a running container's image pull first (`tasks.pull`); with
    ``pull`` every image is pulled and a tag that now names another image recreates the
    services that run the old one. ``early``: host name -> facts read ahead (`FactsAhead`),
    used instead of reading them again while they are the same reads and fresh. ``models``:
    read Ollama's answers for the models check on the way (`ModelsAhead`).

    Returns:
        Result with ``result`` = `HostDeploy`, ``changed`` when any stack changed.
    """
    from nornir_homehub.render import render_host

    if rendered is not None and task.host.name in rendered:
        stacks = rendered[task.host.name]
    else:
        stacks = render_host(task.nornir, task.host, stacks_dir, secrets.as_template_vars(), only)
    if not stacks:
        return Result(host=task.host, result=HostDeploy(task.host.name, (), 0), changed=False)
    conn = host_connection(task)
    here = release.on(task) if release is not None and not dry_run else None
    ahead = (early or {}).get(task.host.name)
    return _deploy(
        task, conn, stacks, secrets, dry_run, force, wait_timeout, here, pull, ahead, models
    )


def _deploy(
    task: Task,
    conn: HostConnection,
    rendered: list[RenderedStack],
    secrets: SecretStore,
    dry_run: bool,
    force: bool,
    wait_timeout: float | None,
    release: ReleaseContext | None = None,
    pull: bool = False,
    early: EarlyFacts | None = None,
    models: ModelsAhead | None = None,
) -> Result:
    if not rendered:
        return Result(host=task.host, result=HostDeploy(task.host.name, (), 0), changed=False)
    reads = models.commands(task.host.name) if models is not None and not dry_run else {}
    read: dict[str, CommandResult] = {}
    read_at = time.monotonic()
    facts = _facts(conn, rendered, early, reads, read)
    if facts.docker_error:
        raise StackFailed(
            f"{task.host.name}: Docker Engine not usable ({facts.docker_error}); "
            "check `docker version` and `systemctl status docker` on the host"
        )
    uploaded_before = conn.bytes_uploaded
    timeout = float(wait_timeout or task.host.get("deploy_wait_timeout", DEFAULT_WAIT))
    stable = float(task.host.get("deploy_stable_window", DEFAULT_STABLE))
    changed = False
    plans = []
    touched: list[RenderedStack] = []
    plans_by_stack: dict[str, tuple[RenderedStack, StackPlan]] = {}
    swaps: dict[str, tuple[RenderedStack, TwinPlan]] = {}
    # A dry run pulls nothing (it changes nothing); see `plan.pull`.
    failed_pulls, updates = (
        ({}, {}) if dry_run else _pre_pull(task, conn, rendered, facts, secrets, force, pull)
    )
    for stack in rendered:
        if stack.name in failed_pulls:
            continue
        sub = task.run(
            task=deploy_one_stack,
            name=f"stack:{stack.name}",
            stack=stack,
            facts=facts,
            secrets=secrets,
            dry_run=dry_run,
            force=force,
            image_updates=updates.get(stack.name, ()),
        )
        changed |= sub.changed
        plans.append(sub[0].result.to_dict() if hasattr(sub[0].result, "to_dict") else {})
        if sub.changed and not dry_run:
            touched.append(stack)
            plans_by_stack[stack.name] = (stack, sub[0].result.plan)
        if getattr(sub[0].result, "twins", None) is not None and not dry_run:
            swaps[stack.name] = (stack, sub[0].result.twins)
    # Containers this run does not touch but that are still starting (a host or engine just
    # restarted): converging means waiting for them too, without calling them changed.
    starting = [
        s
        for s in rendered
        if s not in touched
        and any(c.health is Health.STARTING for c in facts.project_containers(s.project))
    ]
    # What both waits take: the run's secrets, the bound, the containers seen before.
    waiting = {"secrets": secrets, "wait_timeout": timeout, "before": facts.containers}
    if models is not None and not (touched or starting):
        models.keep(task.host.name, read, read_at)  # the stage changed nothing since
    if starting and not dry_run:
        task.run(
            task=wait_starting, name="wait for starting containers", stacks=starting, **waiting
        )
    failed_twins = twin.begin_swaps(task, swaps, touched, plans_by_stack, secrets, timeout)
    swaps = {n: s for n, s in swaps.items() if s[1].twins and n not in failed_twins}
    changed |= bool(failed_twins)
    seen = WaitReads()
    if touched:
        try:
            task.run(
                task=finish_stacks,
                name="compose + health + post-deploy",
                stacks=touched,
                plans=plans_by_stack,
                stable_window=stable,
                release=release,
                seen=seen,
                at_end=reads,
                **waiting,
            )
        except BaseException:
            if swaps:
                task.run(task=twin.remove_twins, name="zero-downtime: remove twins", swaps=swaps)
            raise
        if swaps:
            task.run(
                task=twin.finish_swaps,
                name="zero-downtime: routed again, twins removed",
                swaps=swaps,
                edge_timeout=float(task.host.get("edge_wait_timeout", edge.DEFAULT_EDGE_WAIT)),
            )
        _converge_edge(task, plans_by_stack)
        _digests(task, touched, seen, bool(swaps or failed_twins), models)
    _raise_failed(task.host.name, failed_pulls, failed_twins)
    return Result(
        host=task.host,
        result=HostDeploy(
            host=task.host.name,
            stacks=tuple(s.name for s in rendered),
            bytes_uploaded=conn.bytes_uploaded - uploaded_before,
            plans=tuple(plans),
        ),
        changed=changed,
    )


def _digests(
    task: Task,
    touched: list[RenderedStack],
    seen: WaitReads,
    swapped: bool,
    models: ModelsAhead | None,
) -> None:
    """``image digests`` of the changed stacks; keep the models check's answers read on the way.

    ``seen``: what the health wait read that still holds (`finish_stacks`).
    """
    # The twins' removal changes what runs; the edge wait does not.
    listing = None if swapped or seen.images is None else seen.images.stdout
    task.run(task=record_digests, name="image digests", stacks=touched, listing=listing)
    if models is not None:
        models.keep(task.host.name, seen.at_end, seen.at_end_time)


def _converge_edge(task: Task, plans: Mapping[str, tuple[RenderedStack, StackPlan]]) -> None:
    """Wait until Traefik serves the routes of the stacks that compose (re)created."""
    routes = edge.unique(
        r
        for stack, plan in plans.values()
        if plan.action is not ComposeAction.NONE
        if stack.compose_file in stack.files
        for r in edge.routes_from_compose(
            stack.files[stack.compose_file].content.decode("utf-8", "replace"),
            stack=stack.name,
        )
    )
    if routes:
        task.run(
            task=converge_edge,
            name="edge convergence",
            routes=routes,
            timeout=float(task.host.get("edge_wait_timeout", edge.DEFAULT_EDGE_WAIT)),
        )


def _facts(
    conn: HostConnection,
    rendered: list[RenderedStack],
    early: EarlyFacts | None,
    extra: Mapping[str, str] | None = None,
    extra_out: dict[str, CommandResult] | None = None,
) -> HostStackFacts:
    """The facts read ahead when they are the same reads and fresh, else read now.

    ``extra`` (name -> command) runs in the same round trip when the facts are read now; its
    results go to ``extra_out``.
    """
    if (
        early is not None
        and early.batch == stack_fact_batch(rendered)
        and time.monotonic() - early.at <= FACTS_AHEAD_FRESH
    ):
        return early.facts
    return gather_stack_facts(conn, rendered, extra=extra, extra_out=extra_out)


def _raise_failed(host: str, pulls: Mapping[str, str], twins: Mapping[str, str]) -> None:
    """Fail the host for stacks whose pull or twin failed (the others were deployed)."""
    if pulls and twins:
        both = str(twin.not_started(host, twins)).split(": ", 1)[1]
        raise StackFailed(f"{pull_failed(host, pulls)} | {both}")
    if pulls:
        raise pull_failed(host, pulls)
    if twins:
        raise twin.not_started(host, twins)


def _pre_pull(
    task: Task,
    conn: HostConnection,
    rendered: list[RenderedStack],
    facts: HostStackFacts,
    secrets: SecretStore,
    force: bool,
    pull: bool,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Pull what the changed stacks need before any of their files is written.

    Returns:
        (stack -> why its pull failed, stack -> image updates for its plan (``pull``)).
    """
    pulls: dict[str, PullPlan] = {}
    for stack in rendered:
        try:
            planned = None if pull else plan_stack(stack, facts, force=force)
        except PlanError:
            continue  # the stack's own subtask reports it
        p = plan_pull(stack, planned, facts, always=pull)
        if p.images:
            pulls[stack.name] = p
    if not pulls:
        return {}, {}
    res = task.run(task=pull_stacks, name="pull", pulls=pulls, secrets=secrets)[0].result
    failed: dict[str, str] = res["failed"]
    if not pull:
        return failed, {}
    ok = [s for s in rendered if s.name in pulls and s.name not in failed]
    running = parse_running_images(conn.run(running_images_command()).stdout)
    updates = {s.name: image_updates(s, res["image_ids"], running) for s in ok}
    return failed, {n: u for n, u in updates.items() if u}


@timed("facts")
def gather_stack_facts(
    conn: HostConnection,
    rendered: list[RenderedStack],
    *,
    extra: Mapping[str, str] | None = None,
    extra_out: dict[str, CommandResult] | None = None,
) -> HostStackFacts:
    """One round trip: file hashes/modes, data dirs, deploy states, containers, step checks.

    ``extra`` (name -> command, names unlike the facts') runs in the same round trip; its
    results go to ``extra_out``.
    """
    batch = stack_fact_batch(rendered)
    # Side by side: the checks are independent reads, and the slowest (`docker exec` of a
    # step's check, `docker inspect`) then cost the longest of them, not their sum.
    got = conn.run_parallel({**batch, **(extra or {})})
    if extra_out is not None:
        extra_out.update({n: got[n] for n in extra or {} if n in got and n not in batch})
    return parse_stack_facts({n: got[n] for n in batch})


def deploy_one_stack(
    task: Task,
    *,
    stack: RenderedStack,
    facts: HostStackFacts,
    secrets: SecretStore,
    dry_run: bool,
    force: bool,
    image_updates: tuple[str, ...] = (),
) -> Result:
    """Plan and (unless ``dry_run``) apply one stack: dirs, files, compose up/recreate.

    Waiting for health and post-deploy steps follow for all changed stacks together
    (`finish_stacks`).

    Returns:
        Result with ``result`` = `StackOutcome`, ``diff`` = unified diffs of changed files
        (secret values masked), ``changed`` when the plan is not empty.

    """
    conn = host_connection(task)
    plan = plan_stack(stack, facts, force=force, image_updates=image_updates)
    # `config` twins only while the image stays: a tag that now names a new image (--pull) is
    # an image change the reference comparison in `plan_twins` cannot see.
    new_image = bool(image_updates) and stack.zero_downtime == "config"
    twins = plan_twins(stack, plan, facts) if stack.zero_downtime and not new_image else None
    diff = _diffs(conn, stack, plan, secrets)
    before: dict[str, str | None] = {
        p: getattr(facts.files.get(p), "sha256", None) for p in stack.files
    }
    after = {p: f.sha256 for p, f in stack.files.items()}
    if dry_run or not plan.changed:
        return Result(
            host=task.host,
            result=StackOutcome(plan, dry_run, twins=twins, files_before=before, files_after=after),
            diff=diff,
            changed=plan.changed,
        )

    applied = apply_files(conn, stack, plan)
    # Compose itself runs in `finish_stacks`, for all changed stacks of the host at once.
    if plan.action is ComposeAction.UP:
        applied.append("compose up -d")
    if plan.recreate:
        applied.append(f"recreate {', '.join(plan.recreate)}")
    applied += [f"twin {u.twin} serves during the recreate" for u in (twins.twins if twins else ())]
    return Result(
        host=task.host,
        result=StackOutcome(
            plan, False, tuple(applied), twins, files_before=before, files_after=after
        ),
        diff=diff,
        changed=True,
    )


def _diffs(
    conn: HostConnection, stack: RenderedStack, plan: StackPlan, secrets: SecretStore
) -> str:
    """Unified diffs of files whose content changes; secret values masked by key and value.

    In a secret file every assignment's value is masked, old and new lines alike: a key taken
    out of the inventory (an external provider's API key) is no longer a known secret, but its
    old value on the host still is one.
    """
    redactor = secrets.redactor()
    out = []
    for change in plan.do_write:
        f = stack.files[change.path]
        if not change.content_changed:
            out.append(f"mode {f.path}: -> {f.mode:o}\n")
            continue
        old_bytes = conn.read_file(f.path) if change.reason != "missing" else b""
        old = (old_bytes or b"").decode("utf-8", "replace")
        new = f.content.decode("utf-8", "replace")
        if f.secret:
            old, new = redactor.mask_assignments(old), redactor.mask_assignments(new)
        text = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"{conn.name}:{f.path}" if change.reason != "missing" else "/dev/null",
                tofile=f"{conn.name}:{f.path}",
            )
        )
        out.append(redactor.redact(text))
    return "".join(out)
