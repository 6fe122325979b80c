"""Apply changed stacks on a host: Docker Compose for all of them at once, then the steps.

`compose_command` turns a stack's plan into its compose command; `compose_all` runs those of
every changed stack side by side in one round trip; `run_post_deploy` runs a stack's
post-deploy steps (each skipped when its ``unless`` check exits 0).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from nornir_homehub.errors import StackFailed
from nornir_homehub.plan.stacks import ComposeAction

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore


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


def run_post_deploy(
    conn: HostConnection, stack: RenderedStack, secrets: SecretStore
) -> tuple[tuple[str, ...], StackFailed | None]:
    """Run the stack's post-deploy steps (each skipped when its ``unless`` exits 0).

    Returns:
        The steps that ran, and the failure of the step that failed (None when all passed).
    """
    done: list[str] = []
    for step in stack.post_deploy:
        if step.unless and conn.run(step.unless, timeout=60).ok:
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
