"""Render a stack spec for one host: `render_stack`, `stacks_for_host`, `render_host`.

Pure code: nothing here opens a connection. Secrets are plain template variables
(``vault_*``); a rendered file that contains one is marked ``secret`` and must be mode 0600.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from nornir_homehub.defaults import DEFAULT_DATA_ROOT, DEFAULT_STACKS_ROOT
from nornir_homehub.errors import ConfigError, SecretError
from nornir_homehub.problems import did_you_mean
from nornir_homehub.render.jinja import render_text, template_environment, template_refs
from nornir_homehub.render.output import PostDeployStep, RenderedDir, RenderedFile, RenderedStack
from nornir_homehub.stackspec import (
    TEMPLATE_FILE,
    StacksPath,
    StackSpec,
    available_stacks,
    host_secret_names,
    load_stack,
    secret_names,
)

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.inventory import Host

    from nornir_homehub.inventory import SiteHost

__all__ = ["masked_secrets", "render_host", "render_stack", "stacks_for_host"]

MASK_PREFIX = "MASKED-"


def masked_secrets(names: Iterable[str]) -> dict[str, str]:
    """Return placeholder values (``MASKED-<name>``) that render without the vault."""
    return {n: f"{MASK_PREFIX}{n}" for n in names}


def compose_healthchecks(services: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Service -> healthcheck ``test`` of a compose file's services, as Docker stores it.

    A string test is Docker's ``CMD-SHELL``. Left out: services without a test, disabled ones
    (``disable: true``, ``NONE``), and tests with a ``$`` (Compose interpolates those, so the
    text here is not what the container runs).
    """
    out: dict[str, tuple[str, ...]] = {}
    for name, svc in services.items():
        check = (svc or {}).get("healthcheck") if isinstance(svc, Mapping) else None
        if not isinstance(check, Mapping) or check.get("disable") is True:
            continue
        test = check.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if not isinstance(test, list) or len(test) < 2 or not all(isinstance(t, str) for t in test):
            continue
        if test[0] not in ("CMD", "CMD-SHELL") or any("$" in t for t in test):
            continue
        out[str(name)] = tuple(test)
    return out


def _compose_services(content: str, where: str, spec: StackSpec) -> dict[str, Any]:
    try:
        # libyaml's loader when PyYAML has it: the same YAML 1.1 safe loading, 5x faster per host.
        doc = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: rendered compose file is not valid YAML: {exc}") from None
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        raise ConfigError(f"{where}: rendered compose file has no services")
    if sorted(services) != sorted(spec.services):
        raise ConfigError(
            f"{where}: compose services {sorted(services)} differ from template.yaml "
            f"services {sorted(spec.services)} (stack {spec.name})"
        )
    return services


def _container_names(services: Mapping[str, Any], spec: StackSpec) -> dict[str, str]:
    return {
        name: str((svc or {}).get("container_name") or f"{spec.project}-{name}-1")
        for name, svc in services.items()
    }


# A secret value this long found in a file that does not name it is a leak by another path (a
# secret copied into a site value); shorter values turn up in ordinary text by chance.
MIN_SECRET_MATCH = 8


def _secrets_in(
    env: jinja2.Environment, template: str, text: str, secret_values: Mapping[str, str]
) -> set[str]:
    """The secrets a rendered file holds: those its template places, plus clear leaks.

    A secret is placed when the template names its variable, or calls ``var()`` (secrets named
    in inventory data, e.g. external providers' keys) and the value is in the text. A value
    in a file whose template does not place it counts only from `MIN_SECRET_MATCH` characters:
    a short secret ("admin") also appears in ordinary text.
    """
    names, dynamic = template_refs(env, template, set())
    out = {n for n in secret_values if n in names}
    for name, value in secret_values.items():
        if value in text and (dynamic or len(value) >= MIN_SECRET_MATCH):
            out.add(name)
    return out


def render_stack(spec: StackSpec, variables: Mapping[str, Any]) -> RenderedStack:
    """Render every file of ``spec`` with ``variables`` (site values + secrets).

    Uses ``stacks_root`` (default /opt/stacks) and ``data_root`` (default /srv/docker) from the
    variables for the destination paths and ``inventory_hostname`` for messages.

    Raises:
        SecretError: a secret the stack needs is not in ``variables``.
        ConfigError: a template uses an undefined variable (the message names the template
            file, line and variable), a file holding a secret is not mode 0600, or the rendered
            compose file does not declare the services of template.yaml.

    """
    host = str(variables.get("inventory_hostname", "?"))
    secret_names_ = host_secret_names(spec, variables)
    missing = [s for s in secret_names_ if s not in variables]
    if missing:
        raise SecretError(f"host {host}, stack {spec.name}: missing secret(s) {', '.join(missing)}")
    secret_values = {
        name: str(variables[name]) for name in secret_names_ if str(variables[name] or "")
    }
    env = template_environment(spec.directory)
    stacks_root = str(variables.get("stacks_root") or DEFAULT_STACKS_ROOT)
    data_root = str(variables.get("data_root") or DEFAULT_DATA_ROOT)
    project_dir = str(PurePosixPath(stacks_root) / spec.name)

    files: dict[str, RenderedFile] = {}
    compose_file = ""
    containers: dict[str, str] = {}
    healthchecks: dict[str, tuple[str, ...]] = {}
    for f in spec.files:
        where = f"{spec.directory / f.template}"
        text = render_text(
            env, f.template, variables, where=where, host=host, stack=spec.name, from_file=True
        )
        dest = str(PurePosixPath(project_dir) / f.dest)
        holds = sorted(_secrets_in(env, f.template, text, secret_values))
        secret = f.secret or bool(holds)
        if secret and f.mode & 0o077:
            names = ", ".join(holds) or "declared secret"
            raise ConfigError(
                f"{where}: renders secret(s) ({names}) into {dest} with mode {f.mode:04o}; "
                "use mode 0600"
            )
        if PurePosixPath(f.dest).name == "compose.yaml":
            compose_file = dest
            services = _compose_services(text, where, spec)
            containers = _container_names(services, spec)
            healthchecks = compose_healthchecks(services)
        files[dest] = RenderedFile(dest, text.encode(), f.mode, secret, f.restarts)

    steps: list[PostDeployStep] = []
    for s in spec.post_deploy:
        where = f"{spec.directory / TEMPLATE_FILE} post_deploy {s.name!r}"
        items: list[Any] = [None]
        if s.loop is not None:
            if s.loop not in variables:
                raise ConfigError(
                    f"{where}: undefined variable '{s.loop}' (loop; host {host}, stack {spec.name})"
                )
            loop_value = variables[s.loop]
            if not isinstance(loop_value, list | tuple):
                raise ConfigError(f"{where}: loop variable '{s.loop}' must be a list (host {host})")
            items = list(loop_value)
        for item in items:
            scope = {**variables, "item": item} if s.loop is not None else variables

            def expand(source: str, scope: Mapping[str, Any] = scope, where: str = where) -> str:
                return render_text(
                    env, source, scope, where=where, host=host, stack=spec.name, from_file=False
                ).strip()

            steps.append(
                PostDeployStep(
                    name=expand(s.name),
                    service=s.service,
                    command=expand(s.command),
                    unless=expand(s.unless) if s.unless is not None else None,
                    timeout=s.timeout,
                )
            )

    dirs = tuple(
        RenderedDir(str(PurePosixPath(data_root) / d.path), d.owner, d.group, d.mode)
        for d in spec.data_dirs
    )
    return RenderedStack(
        name=spec.name,
        host=host,
        role=spec.role,
        project=spec.project,
        project_dir=project_dir,
        compose_file=compose_file,
        files=files,
        data_dirs=dirs,
        services=spec.services,
        containers=containers,
        healthchecks=healthchecks,
        post_deploy=tuple(steps),
        health=spec.health,
        secrets=secret_names_,
        zero_downtime=spec.zero_downtime,
    )


def stacks_for_host(
    host_vars: Mapping[str, Any], stacks_dir: StacksPath, only: Collection[str] | None = None
) -> list[StackSpec]:
    """Return the specs of the stacks a host deploys: its ``stacks:`` list, narrowed by ``only``.

    Raises:
        ConfigError: ``only`` or the host's list names an unknown stack (the message lists the
            valid ones), or a listed stack belongs to another role.

    """
    host = host_vars.get("inventory_hostname", "?")
    valid = available_stacks(stacks_dir)
    if only is not None:
        unknown = sorted(set(only) - set(valid))
        if unknown:
            listing = ", ".join(valid) or "(none)"
            hints = "".join(did_you_mean(u, valid) for u in unknown)
            raise ConfigError(
                f"unknown stack(s) {', '.join(unknown)}{hints}; valid stacks: {listing}"
            )
    listed = host_vars.get("stacks") or []
    if not isinstance(listed, list | tuple) or not all(isinstance(s, str) for s in listed):
        raise ConfigError(f"host {host}: 'stacks' must be a list of stack names")
    unknown = [s for s in listed if s not in valid]
    if unknown:
        raise ConfigError(
            f"host {host}: unknown stack(s) {', '.join(unknown)} in inventory 'stacks'; "
            f"valid stacks: {', '.join(valid) or '(none)'}"
        )
    role = host_vars.get("role")
    specs = []
    for name in listed:
        if only is not None and name not in only:
            continue
        spec = load_stack(stacks_dir, name)
        if spec.secrets_from:
            spec = dataclasses.replace(spec, secrets=host_secret_names(spec, host_vars))
        if role is not None and spec.role != role:
            raise ConfigError(
                f"host {host} (role {role}) lists stack {name}, which is for role {spec.role}"
            )
        specs.append(spec)
    return specs


def render_host(
    nr: Nornir,
    host: Host,
    stacks_dir: StacksPath,
    secrets: Mapping[str, str],
    only: Collection[str] | None = None,
    *,
    facts: Mapping[str, Any] | None = None,
    index: Sequence[SiteHost] | None = None,
) -> list[RenderedStack]:
    """Render every stack ``host`` deploys (narrowed by ``only``), with `site_vars` + secrets.

    ``facts`` are facts gathered during the run (`site_vars`); None renders offline.
    ``index``: the inventory's `site_index`, read once by a caller rendering many hosts.

    Raises:
        SecretError: a needed secret is missing from ``secrets``.
        ConfigError: see `stacks_for_host` and `render_stack`.

    """
    from nornir_homehub.inventory import site_vars

    variables = site_vars(nr, host, facts, index=index)
    specs = stacks_for_host(variables, stacks_dir, only)
    missing = sorted(secret_names(specs) - set(secrets))
    if missing:
        raise SecretError(f"host {host.name}: missing secret(s) {', '.join(missing)}")
    return [render_stack(spec, {**variables, **secrets}) for spec in specs]
