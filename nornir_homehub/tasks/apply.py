"""Apply a stack's plan on a host: its dirs and files, Docker Compose, the post-deploy steps.

`apply_files` creates the data dirs and uploads the files a plan names (atomic uploads);
`compose_command` turns the plan into its compose command and `compose_all` runs those of
every changed stack side by side in one round trip; `run_post_deploy` runs a stack's
post-deploy steps (each skipped when its ``unless`` check exits 0).
"""

from __future__ import annotations

import posixpath
import shlex
from typing import TYPE_CHECKING

from nornir_homehub.connection import FileUpload
from nornir_homehub.errors import HomehubError, StackFailed, TransportError
from nornir_homehub.plan.stacks import ComposeAction
from nornir_homehub.report.phases import timed

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore


@timed("upload")
def apply_files(conn: HostConnection, stack: RenderedStack, plan: StackPlan) -> list[str]:
    """Create or fix the plan's data dirs, upload (or chmod) its files; say what was done.

    Raises:
        StackFailed: a file cannot be written while the host still answers (disk full,
            read-only), with the free space where it goes.
        TransportError: the host stopped answering (the upload's own error).
    """
    applied: list[str] = []
    if plan.do_dirs:
        by_path = {d.path: d for d in stack.data_dirs}
        cmds = [
            f"install -d -m {by_path[p].mode:o} -o {shlex.quote(by_path[p].owner)} "
            f"-g {shlex.quote(by_path[p].group)} {shlex.quote(p)}"
            for p, _ in plan.do_dirs
        ]
        conn.run(" && ".join(cmds), check=True)
        applied += [f"dir {p} ({r})" for p, r in plan.do_dirs]
    # The new contents in one round trip; then the files whose mode alone differs.
    uploads = [
        FileUpload(f.path, f.content, f.mode)
        for change in plan.do_write
        if change.content_changed
        for f in (stack.files[change.path],)
    ]
    try:
        conn.put_files(uploads)
    except TransportError as exc:
        raise _write_failure(conn, stack, exc.path or uploads[0].path, exc) from None
    for change in plan.do_write:
        f = stack.files[change.path]
        if not change.content_changed:
            conn.run(f"chmod {f.mode:o} {shlex.quote(f.path)}", check=True)
        applied.append(f"file {f.path} ({change.reason})")
    return applied


def _write_failure(
    conn: HostConnection, stack: RenderedStack, path: str, exc: TransportError
) -> HomehubError:
    """Classify a failed upload.

    The host still answers but could not write (disk full, read-only): the stack's failure,
    with the free space where the file goes. The host does not answer: the transport error.
    """
    where = shlex.quote(posixpath.dirname(path) or "/")
    try:
        res = conn.run(
            f'p={where}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -n 1',
            timeout=15,
        )
    except TransportError:
        return exc
    fields = res.stdout.split()
    space = f"; {fields[3]} KiB free on {fields[5]}" if res.ok and len(fields) >= 6 else ""
    detail = str(exc).removeprefix(f"{conn.name}: ")
    return StackFailed(f"{conn.name}: stack {stack.name}: cannot write {path}: {detail}{space}")


def compose_command(stack: RenderedStack, plan: StackPlan) -> str | None:
    """The shell command that applies ``plan``'s compose action (None when there is none)."""
    base = f"docker compose -p {shlex.quote(stack.project)}"
    cmds = []
    if plan.action is ComposeAction.UP:
        cmds.append(f"{base} up -d --remove-orphans")
    if plan.recreate:
        svcs = " ".join(shlex.quote(s) for s in plan.recreate)
        cmds.append(f"{base} up -d --no-deps --force-recreate {svcs}")
    if not cmds:
        return None
    return f"cd {shlex.quote(stack.project_dir)} && " + " && ".join(cmds)


@timed("compose")
def compose_all(
    conn: HostConnection, plans: dict[str, tuple[RenderedStack, StackPlan]], secrets: SecretStore
) -> dict[str, StackFailed]:
    """Run every stack's compose command concurrently, in one round trip.

    Compose spends most of its time waiting for the engine; running the stacks of a host side
    by side costs the slowest one instead of the sum.

    Returns:
        stack name -> the error of its failed compose command (output tail, redacted).
    """
    cmds = {name: compose_command(stack, plan) for name, (stack, plan) in plans.items()}
    todo = {name: cmd for name, cmd in cmds.items() if cmd}
    if not todo:
        return {}
    results = conn.run_parallel(todo)
    failures = {}
    for name, res in results.items():
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            failures[name] = StackFailed(
                f"{conn.name}: stack {name}: `{todo[name].split(' && ', 1)[-1]}` "
                f"exited {res.exit_code}: {tail}"
            )
    return failures


@timed("post-deploy")
def run_post_deploy(
    conn: HostConnection,
    stack: RenderedStack,
    secrets: SecretStore,
    *,
    first_unless: bool | None = None,
) -> tuple[tuple[str, ...], StackFailed | None]:
    """Run the stack's post-deploy steps (each skipped when its ``unless`` exits 0).

    Args:
        conn: the host's connection.
        stack: the stack whose steps run.
        secrets: the run's secrets (a failed step's output is redacted).
        first_unless: whether the first step's ``unless`` passed, when the caller asked it
            already (in the health wait's stable window, after the containers were ready);
            None: ask it here.

    Returns:
        The steps that ran, and the failure of the step that failed (None when all passed).
    """
    done: list[str] = []
    for i, step in enumerate(stack.post_deploy):
        known = first_unless if i == 0 else None
        if step.unless and (known if known is not None else conn.run(step.unless, timeout=60).ok):
            continue
        res = conn.run(step.command, timeout=step.timeout)
        if not res.ok:
            tail = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            return tuple(done), StackFailed(
                f"{conn.name}: stack {stack.name}: post-deploy step {step.name!r} exited "
                f"{res.exit_code}: {tail}"
            )
        done.append(step.name)
    return tuple(done), None
