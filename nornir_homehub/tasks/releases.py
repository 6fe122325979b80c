"""Releases on a host: record one after a completed stack deploy, list them, restore one.

`record_releases` runs at the end of `tasks.finish.finish_stacks` for every stack whose
deploy completed: one round trip for the running images (`facts.images.parse_image_pins`),
then one atomic upload per stack. `restore_release` is what ``rollback`` and the automatic
rollback after a failed health wait run: the release's own copies of the files without
secrets, the files with secrets rendered again from the vault (a release never holds a
secret value), the compose file with every image pinned to the recorded digest (or to a tag
that names the recorded image id), then compose up, the health wait, the post-deploy steps,
the state record and a new release marked as a rollback.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nornir_homehub.connection import FileUpload
from nornir_homehub.defaults import STACK_STATE_FILE
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.images import ImagePin, parse_image_pins
from nornir_homehub.facts.releases import (
    Release,
    ReleaseFile,
    list_releases_command,
    parse_releases,
    release_path,
)
from nornir_homehub.facts.runtime import runtime_commands
from nornir_homehub.plan.drift import compose_images
from nornir_homehub.plan.releases import local_pin_tag, pin_compose, release_id
from nornir_homehub.report.clean import iso, utc_now

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nornir.core.task import Result, Task

    from nornir_homehub.connection import HostConnection
    from nornir_homehub.engine import RunContext
    from nornir_homehub.render import RenderedFile, RenderedStack
    from nornir_homehub.secrets import SecretStore


@dataclass(frozen=True)
class ReleaseContext:
    """Who records releases in this run, and for what (a deploy, or a rollback to a release).

    Attributes:
        root: the host's ``homehub_root``.
        run_id: the run.
        user: ``user@controller``.
        command: the command line (redacted).
        rollback_of: the release a rollback returns to ("" for a deploy).
        reason: why the rollback ran ("" for a deploy).
        auto_rollback: roll a stack whose health wait failed back to its newest release.
    """

    root: str
    run_id: str
    user: str
    command: str
    rollback_of: str = ""
    reason: str = ""
    auto_rollback: bool = True

    @classmethod
    def of_run(cls, ctx: RunContext, *, auto_rollback: bool = True) -> ReleaseContext:
        """The context of a run (its id, user and command); ``root`` is set per host."""
        from nornir_homehub.hostlock import controller_user

        command = " ".join(ctx.recorder.argv) or ctx.recorder.command
        return cls("", ctx.recorder.run_id, controller_user(), command, auto_rollback=auto_rollback)

    def on(self, task: Task) -> ReleaseContext:
        """The context with the host's ``homehub_root``."""
        from nornir_homehub.tasks.hostlock import homehub_root

        return dataclasses.replace(self, root=homehub_root(task))


def record_releases(
    conn: HostConnection,
    stacks: list[RenderedStack],
    ctx: ReleaseContext,
    *,
    runtime: str | None = None,
    also: Sequence[FileUpload] = (),
) -> dict[str, Release]:
    """Record a release of each stack (files, running images, who, when, run id).

    ``runtime``: the host's ``runtime`` fact (`facts.runtime`) when the caller read it already
    (after the stacks' containers were created); None: read it here. ``also``: files written
    before the records, in the same round trip (the stacks' state records).

    Returns:
        stack name -> the release written.
    """
    if not stacks:
        conn.put_files(also)
        return {}
    if runtime is None:
        runtime = conn.run_batch(runtime_commands(()))["runtime"].stdout
    now = utc_now()
    out = {}
    records = list(also)
    for stack in stacks:
        pins = parse_image_pins(runtime, compose_images(stack), stack.containers)
        release = Release(
            id=release_id(now, ctx.run_id),
            stack=stack.name,
            host=conn.name,
            time=iso(now),
            user=ctx.user,
            command=ctx.command,
            run_id=ctx.run_id,
            files={p: _copy(f) for p, f in stack.files.items()},
            images=pins,
            rollback_of=ctx.rollback_of,
            reason=ctx.reason,
        )
        # Its folder is created by the upload itself.
        records.append(FileUpload(release_path(ctx.root, stack.name, release.id),
                                  release.to_json(), 0o600))  # fmt: skip
        out[stack.name] = release
    conn.put_files(records)
    return out


def _copy(f: RenderedFile) -> ReleaseFile:
    return ReleaseFile(f.sha256, f.mode, f.secret, None if f.secret else f.content)


def read_releases(conn: HostConnection, root: str, stack: str | None = None) -> tuple[Release, ...]:
    """Every release of ``stack`` (all stacks when None) on the host, oldest first."""
    res = conn.run(list_releases_command(root, stack), timeout=60, check=True)
    return parse_releases(conn.name, res.stdout)


def rollback_stack_files(
    conn: HostConnection, stack: RenderedStack, release: Release, *, tag: bool = True
) -> tuple[RenderedStack, list[str]]:
    """``stack`` (rendered now, from the vault) with ``release``'s files and pinned images.

    Files without secrets come from the release's copies; files with secrets stay as rendered
    now from the vault (a note says so when their hash differs from the release's). A local
    image id is tagged on the host (`local_pin_tag`) so that the compose file can name it;
    with ``tag`` False (a dry run) it is only checked to be there, and named by that tag.

    Returns:
        The stack to deploy, and notes for the report.

    Raises:
        StackFailed: a recorded image is no longer on the host (pruned), or a copy is missing.
    """
    notes = []
    files = dict(stack.files)
    for path, rec in release.files.items():
        now = files.get(path)
        if rec.secret or rec.content is None:
            if now is not None and now.sha256 != rec.sha256:
                notes.append(f"{path}: rendered again from the vault (differs from the release)")
            continue
        base = now or next(iter(stack.files.values()))
        files[path] = dataclasses.replace(
            base, path=path, content=rec.content, mode=rec.mode, secret=False
        )
    pins: dict[str, str] = {}
    for service, pin in release.images.items():
        pins[pin.image] = pin.repo_digest or _local_pin(conn, stack.name, service, pin, tag)
    compose = files.get(stack.compose_file)
    if compose is not None and pins:
        text = pin_compose(compose.content.decode("utf-8"), pins)
        files[stack.compose_file] = dataclasses.replace(compose, content=text.encode("utf-8"))
    return dataclasses.replace(stack, files=files), notes


def _local_pin(conn: HostConnection, stack: str, service: str, pin: ImagePin, tag: bool) -> str:
    """The tag (`local_pin_tag`) that names ``pin``'s local image id; ``tag``: create it.

    Raises:
        StackFailed: the image is not on the host any more.
    """
    name = local_pin_tag(pin)
    image = shlex.quote(pin.image_id)
    if tag:
        command = f"docker tag {image} {shlex.quote(name)}"
    else:
        command = f"docker image inspect --format . {image} >/dev/null"
    res = conn.run(command, timeout=60)
    if not res.ok:
        raise StackFailed(
            f"{conn.name}: stack {stack}: service {service}: the release's image "
            f"{pin.image_id} is not on the host any more ({res.stderr.strip()[-200:]})"
        )
    return name


def restore_release(
    conn: HostConnection,
    stack: RenderedStack,
    release: Release,
    secrets: SecretStore,
    ctx: ReleaseContext,
    *,
    timeout: float,
    stable: float,
) -> tuple[Release, list[str]]:
    """Return ``stack`` on the host to ``release``: files, images, compose, health, steps.

    Returns:
        The new release (marked as a rollback to ``release``) and the notes.

    Raises:
        StackFailed: compose, the health wait or a post-deploy step failed (the message says
            so); no state record and no release are written then.
    """
    from nornir_homehub.facts.stacks import render_state
    from nornir_homehub.plan.stacks import plan_stack
    from nornir_homehub.tasks.apply import apply_files, compose_all, run_post_deploy
    from nornir_homehub.tasks.deploy import gather_stack_facts
    from nornir_homehub.tasks.health import wait_ready

    target, notes = rollback_stack_files(conn, stack, release)
    facts = gather_stack_facts(conn, [target])
    plan = plan_stack(target, facts, force=True)
    apply_files(conn, target, plan)
    failures = compose_all(conn, {target.name: (target, plan)}, secrets)
    if not failures:
        _ready, failures = wait_ready(
            conn, [target], timeout, secrets, before=facts.containers, stable=stable
        )
    if not failures:
        _steps, failure = run_post_deploy(conn, target, secrets)
        if failure is not None:
            failures = {target.name: failure}
    if failures:
        raise failures[target.name]
    state = render_state(
        target.name, target.config_hash, {p: f.sha256 for p, f in target.files.items()}
    )
    conn.put_file(f"{target.project_dir}/{STACK_STATE_FILE}", state, mode=0o600)
    mark = dataclasses.replace(ctx, rollback_of=release.id)
    return record_releases(conn, [target], mark)[target.name], notes


def auto_rollback(
    conn: HostConnection,
    stack: RenderedStack,
    failure: StackFailed,
    secrets: SecretStore,
    release: ReleaseContext,
    timeout: float,
    stable: float,
) -> tuple[StackFailed, str]:
    """Roll ``stack`` back to its newest release after its health wait failed.

    The newest release is the last deploy of the stack that completed (a failed deploy
    records none). Returns the failure, its message saying to which release the stack was
    rolled back and why, or that there was nothing to roll back to; and the release id ("" when
    no rollback happened).
    """
    why = str(failure).removeprefix(f"{conn.name}: ")
    releases = read_releases(conn, release.root, stack.name)
    if not releases:
        return StackFailed(
            f"{failure}; no automatic rollback: nothing to roll back to (no release of "
            f"{stack.name} recorded on this host)"
        ), ""
    target = releases[-1]
    ctx = dataclasses.replace(release, reason=f"automatic: health wait failed: {why[:300]}")
    try:
        restore_release(conn, stack, target, secrets, ctx, timeout=timeout, stable=stable)
    except StackFailed as exc:
        return StackFailed(
            f"{failure}; the automatic rollback to release {target.id} failed too: "
            f"{str(exc).removeprefix(f'{conn.name}: ')}"
        ), ""
    return StackFailed(
        f"{failure}; rolled back automatically to release {target.id} (the previous "
        f"release, recorded by run {target.run_id}) because its health wait failed; it runs "
        "healthy again (deploy --no-rollback keeps the failed state)"
    ), target.id


def rollback_task(
    task: Task,
    *,
    stack: str,
    to: str | None,
    secrets: SecretStore,
    rendered: dict[str, list[RenderedStack]],
    release: ReleaseContext,
    dry_run: bool = False,
) -> Result:
    """``rollback STACK [--to RELEASE]`` on one host (a host that does not run it is skipped).

    ``dry_run``: change nothing; a ``stack:<name>`` subtask shows the diffs of the files the
    rollback would write and its compose action, as ``deploy --dry-run`` does.

    Returns:
        Result with ``result`` = {stack, from, to, release, notes} (a dry run: {stack, from,
        to, dry_run, images, notes}), ``changed`` True (a dry run: when the rollback would
        change anything).

    Raises:
        PlanError: no release to return to (`plan_rollback`).
        StackFailed: the restore failed (`restore_release`).
    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection
    from nornir_homehub.plan.releases import plan_rollback
    from nornir_homehub.tasks.finish import DEFAULT_STABLE, DEFAULT_WAIT

    mine = [s for s in rendered.get(task.host.name, []) if s.name == stack]
    if not mine:
        return Result(host=task.host, result={"stack": stack, "skipped": True}, changed=False)
    conn = host_connection(task)
    ctx = release.on(task)
    plan = plan_rollback(task.host.name, stack, read_releases(conn, ctx.root, stack), to)
    if dry_run:
        return _preview_rollback(task, conn, mine[0], plan.current, plan.target, secrets)
    ctx = dataclasses.replace(ctx, reason=f"rollback from {plan.current.id}")
    new, notes = restore_release(
        conn,
        mine[0],
        plan.target,
        secrets,
        ctx,
        timeout=float(task.host.get("deploy_wait_timeout", DEFAULT_WAIT)),
        stable=float(task.host.get("deploy_stable_window", DEFAULT_STABLE)),
    )
    done = {
        "stack": stack,
        "from": plan.current.id,
        "to": plan.target.id,
        "release": new.id,
        "images": {s: p.pin for s, p in plan.target.images.items()},
        "notes": notes,
    }
    return Result(host=task.host, result=done, changed=True)


def _preview_rollback(
    task: Task,
    conn: HostConnection,
    stack: RenderedStack,
    current: Release,
    target: Release,
    secrets: SecretStore,
) -> Result:
    """What returning ``stack`` to ``target`` would change: read only, like a deploy dry run."""
    from nornir.core.task import Result

    from nornir_homehub.tasks.deploy import deploy_one_stack, gather_stack_facts

    wanted, notes = rollback_stack_files(conn, stack, target, tag=False)
    facts = gather_stack_facts(conn, [wanted])
    sub = task.run(
        task=deploy_one_stack,
        name=f"stack:{stack.name}",
        stack=wanted,
        facts=facts,
        secrets=secrets,
        dry_run=True,
        force=True,
    )
    done = {
        "stack": stack.name,
        "from": current.id,
        "to": target.id,
        "dry_run": True,
        "images": {s: p.pin for s, p in target.images.items()},
        "notes": notes,
    }
    return Result(host=task.host, result=done, changed=sub.changed)
