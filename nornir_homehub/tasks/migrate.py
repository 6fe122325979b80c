"""Migrate a host from the old monolithic stacks: plan, stop old, (deploy), verify, remove old.

The Nornir tasks of ``runbooks/migrate.py``, one per stage, each per host:

- `plan_migrate`: ONE round trip gathers the legacy facts and the new stacks' deploy facts;
  returns the `MigrationPlan` and, as ``diff``, the plan in words plus what the deploy of the
  new stacks would do once the old containers are gone. Changes nothing (this is the dry run).
- `stop_legacy`: ``docker compose down`` (never ``-v``) of each old project; checks that no
  container of it is left.
- `verify_migration`: the stack checks (`tasks.verify.verify_stacks`) plus one check per kept
  data directory (it still exists; file counts before/after).
- `remove_legacy`: removes the old directories the plan marks, after re-checking that each is
  safe to remove.
- `keep_legacy`: fails on purpose, naming the kept directories and the rollback commands.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.connection import host_connection
from nornir_homehub.defaults import DEFAULT_DATA_ROOT, DEFAULT_STACKS_ROOT
from nornir_homehub.errors import CheckFailed, PlanError, TransportError
from nornir_homehub.facts.docker import PROJECT_LABEL, containers_command, parse_containers
from nornir_homehub.facts.legacy import (
    dir_mounts_command,
    legacy_containers,
    legacy_fact_commands,
    mounts_inside,
    parse_data,
    parse_legacy_facts,
)
from nornir_homehub.facts.stacks import parse_stack_facts, stack_fact_batch
from nornir_homehub.plan.migrate import MigrationPlan, check_old_dir, plan_migration
from nornir_homehub.plan.stacks import ComposeAction, plan_stack

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack, StacksPath
    from nornir_homehub.secrets import SecretStore

_LEGACY = "legacy:"


def _roots(task: Task) -> tuple[str, str]:
    return (
        str(task.host.get("data_root") or DEFAULT_DATA_ROOT),
        str(task.host.get("stacks_root") or DEFAULT_STACKS_ROOT),
    )


def plan_migrate(
    task: Task,
    *,
    old_dirs: Mapping[str, Sequence[str]],
    rendered: Mapping[str, list[RenderedStack]],
) -> Result:
    """Gather facts in one round trip and plan the host's migration; change nothing.

    Args:
        task: the Nornir task.
        old_dirs: host name -> the old stack directories to migrate from.
        rendered: host name -> its new stacks (rendered before any host was touched).

    Returns:
        Result with ``result`` = `MigrationPlan`, ``diff`` = the plan in words (with what the
        deploy of the new stacks would do), ``changed`` when old projects stop or dirs go.

    Raises:
        UnsafeOldDir: an old dir that must not be removed (the runbook exits 2).
        PlanError: see `plan_migration`.
    """
    conn = host_connection(task)
    data_root, stacks_root = _roots(task)
    dirs = list(old_dirs.get(task.host.name, ()))
    stacks = list(rendered.get(task.host.name, ()))
    batch = stack_fact_batch(stacks)
    batch.update(
        {
            _LEGACY + k: v
            for k, v in legacy_fact_commands(dirs, data_root).items()
            if k != "containers"
        }
    )
    results = conn.run_batch(batch)
    legacy_results = {
        **{k[len(_LEGACY) :]: v for k, v in results.items() if k.startswith(_LEGACY)},
        "containers": results["containers"],
    }
    inside = mounts_inside(legacy_containers(parse_containers(results["containers"])), dirs)
    if inside:
        # Only then: is each bind mount inside an old dir a directory (data) or a file?
        legacy_results["dir_mounts"] = conn.run(dir_mounts_command(inside))
    legacy = parse_legacy_facts(legacy_results)
    plan = plan_migration(
        task.host.name, legacy, stacks, data_root=data_root, stacks_root=stacks_root
    )
    # What the deploy would do once the old projects are down (with them up it cannot plan:
    # their containers hold the names).
    facts = parse_stack_facts(results)
    stopped = {s.project for s in plan.stop}
    after = dataclasses.replace(
        facts, containers=tuple(c for c in facts.containers if c.project not in stopped)
    )
    lines = []
    for stack in stacks:
        sp = plan_stack(stack, after)
        what = [f"write {f.path} ({f.reason})" for f in sp.do_write]
        what += [f"create dir {p} ({r})" for p, r in sp.do_dirs]
        if sp.action is not ComposeAction.NONE:
            what.append(f"compose {sp.action}: {'; '.join(sp.reasons)}")
        what += [f"post-deploy {s}" for s in sp.pending_steps]
        lines.append(
            f"  stack {stack.name}: "
            + ("; ".join(what) if what else f"no change ({sp.noop_reason})")
        )
    return Result(
        host=task.host,
        result=plan,
        diff=plan.describe() + "".join(f"{ln}\n" for ln in lines),
        changed=plan.changed,
    )


def stop_legacy(task: Task, *, plans: Mapping[str, MigrationPlan]) -> Result:
    """``docker compose down`` (volumes kept) each old project of the host's plan.

    Returns:
        Result with ``result`` = the commands run, ``changed`` when a project was stopped.

    Raises:
        CheckFailed: a container of a stopped project is still there afterwards.
    """
    plan = plans[task.host.name]
    conn = host_connection(task)
    done = []
    for stop in plan.stop:
        project = shlex.quote(stop.project)
        # Without a compose file Compose v2 finds the project's containers by label.
        cmd = (
            f"if [ -d {shlex.quote(stop.directory)} ]; then cd {shlex.quote(stop.directory)}; "
            f"else cd /; fi && docker compose -p {project} down --remove-orphans"
        )
        conn.run(cmd, check=True, timeout=300)
        docker = parse_containers(
            conn.run(containers_command(label=f"{PROJECT_LABEL}={stop.project}"))
        )
        if docker.error:
            raise TransportError(
                f"{task.host.name}: cannot list the containers of compose project "
                f"{stop.project}: {docker.error}"
            )
        left = docker.containers
        if left:
            raise CheckFailed(
                f"{task.host.name}: compose project {stop.project} in {stop.directory} still "
                f"has {len(left)} container(s) after `docker compose down`"
            )
        done.append(f"docker compose -p {stop.project} down ({stop.directory})")
    return Result(host=task.host, result=done, changed=bool(done))


def _data_checks(task: Task, plan: MigrationPlan) -> list[Check]:
    if not plan.data:
        return []
    data_root, _ = _roots(task)
    conn = host_connection(task)
    paths = " ".join(shlex.quote(k.path) for k in plan.data)
    res = conn.run(
        f"for d in {paths}; do [ -d \"$d\" ] && printf '%s %s\\n' "
        '"$(find "$d" -type f | wc -l)" "$d"; done; true'
    )
    now = parse_data(res.stdout)
    checks = []
    for k in plan.data:
        before = "?" if k.files is None else str(k.files)
        if k.path in now:
            status, remedy = Status.PASS, ""
            evidence = f"{k.path} kept: {before} files before, {now[k.path]} now"
        else:
            status = Status.FAIL
            evidence = f"{k.path} is gone after the migration ({before} files before)"
            remedy = (
                f"restore {k.path} from a backup (`python -m nornir_homehub run backup`"
                f" archives under the backup dir); data under {data_root} is never "
                "removed by migrate: check what else touched it"
            )
        checks.append(
            Check(
                name=f"data.{k.path}",
                host=task.host.name,
                layer=Layer.CONTAINER,
                status=status,
                evidence=evidence,
                remedy=remedy,
                data={"path": k.path, "before": k.files, "now": now.get(k.path)},
            )
        )
    return checks


def verify_migration(
    task: Task,
    *,
    plans: Mapping[str, MigrationPlan],
    stacks_dir: StacksPath,
    secrets: SecretStore,
    site: Mapping[str, Mapping[str, Any]],
) -> Result:
    """The host's stack checks plus one check per kept data directory.

    Returns:
        Result with ``result`` = list of `Check`, ``failed`` when one failed.
    """
    from nornir_homehub.tasks.verify import verify_stacks

    stacks = verify_stacks(task, stacks_dir=stacks_dir, secrets=secrets, site=site)
    checks: list[Check] = list(stacks.result or [])
    checks += _data_checks(task, plans[task.host.name])
    return Result(host=task.host, result=checks, failed=any(c.failed for c in checks))


def remove_legacy(
    task: Task, *, plans: Mapping[str, MigrationPlan], rendered: Mapping[str, list[RenderedStack]]
) -> Result:
    """Remove the old directories the plan marks (after re-checking each is safe to remove).

    Returns:
        Result with ``result`` = the removed paths, ``changed`` when one was removed.

    Raises:
        PlanError: a path is not safe to remove (see `check_old_dir`).
        CheckFailed: a path is still there after ``rm -rf``.
    """
    plan = plans[task.host.name]
    data_root, stacks_root = _roots(task)
    new_dirs = [s.project_dir for s in rendered.get(task.host.name, ())]
    conn = host_connection(task)
    removed = []
    for path in plan.remove:
        check_old_dir(
            task.host.name, path, data_root=data_root, stacks_root=stacks_root, new_dirs=new_dirs
        )
        q = shlex.quote(path)
        conn.run(f"rm -rf -- {q}", check=True)
        if conn.run(f"[ -e {q} ]").ok:
            raise CheckFailed(f"{task.host.name}: {path} is still there after rm -rf")
        removed.append(path)
    return Result(host=task.host, result=removed, changed=bool(removed))


def keep_legacy(task: Task, *, plans: Mapping[str, MigrationPlan], why: str) -> Result:
    """Fail on purpose: the migration stopped; say what was kept and how to roll back.

    Raises:
        CheckFailed: always; the message names the host, the kept dirs and the rollback.
    """
    plan = plans[task.host.name]
    kept = ", ".join(d.path for d in plan.dirs if d.exists) or "(none)"
    rollback = "; ".join(plan.rollback_commands())
    raise CheckFailed(
        f"{task.host.name}: {why}; old stack dir(s) kept: {kept}. "
        f"To roll back: {rollback or 'nothing was stopped'}"
    )


def old_dirs_for(host_data: Mapping[str, Any], role: str | None, option: Any) -> list[str]:
    """The old dirs for one host: the ``old_dirs`` option, else inventory ``legacy_stack_dirs``.

    ``option`` is a list or a comma-separated string (``-o old_dirs=/opt/stacks/ai``).

    Raises:
        PlanError: ``legacy_stack_dirs`` is not a mapping of role -> list of paths.
    """
    if option:
        items = option.split(",") if isinstance(option, str) else list(option)
        return [str(i).strip() for i in items if str(i).strip()]
    table = host_data.get("legacy_stack_dirs") or {}
    if not isinstance(table, Mapping):
        raise PlanError("inventory legacy_stack_dirs must map a role to a list of directories")
    dirs = table.get(role or "", []) or []
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise PlanError(f"inventory legacy_stack_dirs.{role} must be a list of directories")
    return list(dirs)
