"""Stack specs and rendering: ``stacks/<service>/template.yaml`` + Jinja2 templates -> files.

Pure code: nothing here opens a connection. `load_stack` reads and validates one stack's
metadata, `render_stack` renders its files for one host's variables, `render_host` does both for
every stack a host deploys. Secrets are plain template variables (``vault_*``); a rendered file
that contains one is marked ``secret`` and must be mode 0600.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
import traceback
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml

from nornir_homehub.errors import ConfigError, SecretError
from nornir_homehub.problems import did_you_mean
from nornir_homehub.yamlfile import YamlDoc, load_yaml

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.inventory import Host

TEMPLATE_FILE = "template.yaml"
DEFAULT_STACKS_ROOT = "/opt/stacks"
DEFAULT_DATA_ROOT = "/srv/docker"
MASK_PREFIX = "MASKED-"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SECRET_RE = re.compile(r"^vault_[A-Za-z0-9_]+$")
_OWNER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ENV_SAFE_RE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")
_UNDEFINED_RE = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_ATTR_RE = re.compile(r"has no attribute '(?P<name>[^']+)'")

_TOP_KEYS = {
    "description",
    "role",
    "project",
    "services",
    "secrets",
    "secrets_from",
    "data_dirs",
    "files",
    "post_deploy",
    "health",
}


# ---------------------------------------------------------------------------------------------
# Specs (template.yaml)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataDirSpec:
    """A data directory under the host's ``data_root`` (e.g. ``ollama/data``)."""

    path: str
    owner: str = "root"
    group: str = "root"
    mode: int = 0o755

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "owner": self.owner,
            "group": self.group,
            "mode": f"{self.mode:04o}",
        }


@dataclass(frozen=True)
class FileSpec:
    """A templated file: ``template`` (in the stack folder) -> ``dest`` (under the project dir).

    Attributes:
        restarts: compose services to restart when this file changes (bind-mounted files whose
            content Compose cannot see).
        secret: declared secret (a file is also secret when its content holds a secret value).

    """

    template: str
    dest: str
    mode: int
    restarts: tuple[str, ...] = ()
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "template": self.template,
            "dest": self.dest,
            "mode": f"{self.mode:04o}",
            "restarts": list(self.restarts),
            "secret": self.secret,
        }


@dataclass(frozen=True)
class HttpProbe:
    """An HTTP request that must answer for a service to count as healthy.

    Attributes:
        name: short identifier (``readyz``, ``models``).
        port: container port (equal to the host port when ``published``).
        path: request path.
        status: expected HTTP status.
        body_contains: a string the response body must contain (None: not checked).
        published: the port is published on the host (probe from the host); otherwise probe
            from inside the container (``docker exec``) or through Traefik.
        auth_header: request header carrying a secret (``api-key``, ``Authorization``).
        auth_prefix: text before the secret in that header (``Bearer ``).
        auth_secret: name of the secret variable whose value goes in the header.

    """

    name: str
    port: int
    path: str
    status: int = 200
    body_contains: str | None = None
    published: bool = False
    auth_header: str | None = None
    auth_prefix: str = ""
    auth_secret: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the secret's name only, never its value)."""
        return {
            "name": self.name,
            "port": self.port,
            "path": self.path,
            "status": self.status,
            "body_contains": self.body_contains,
            "published": self.published,
            "auth_header": self.auth_header,
            "auth_prefix": self.auth_prefix,
            "auth_secret": self.auth_secret,
        }


@dataclass(frozen=True)
class ServiceHealth:
    """What "running and healthy" means for one compose service.

    The container ``container`` is running; when ``healthcheck`` its Docker health status is
    ``healthy``; every probe in ``http`` answers as expected.
    """

    service: str
    container: str
    healthcheck: bool
    http: tuple[HttpProbe, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "service": self.service,
            "container": self.container,
            "healthcheck": self.healthcheck,
            "http": [p.to_dict() for p in self.http],
        }


@dataclass(frozen=True)
class StepSpec:
    """A post-deploy step; ``command``/``unless``/``name`` are Jinja templates.

    With ``loop`` (a variable holding a list) the step is rendered once per item (``item``).
    """

    name: str
    service: str
    command: str
    unless: str | None = None
    loop: str | None = None
    timeout: int = 600


@dataclass(frozen=True)
class StackSpec:
    """A stack's parsed and validated ``template.yaml``."""

    name: str
    directory: Path
    role: str
    project: str
    description: str
    services: tuple[str, ...]
    secrets: tuple[str, ...]
    data_dirs: tuple[DataDirSpec, ...]
    files: tuple[FileSpec, ...]
    post_deploy: tuple[StepSpec, ...]
    health: tuple[ServiceHealth, ...]
    # (inventory variable, key): each item of that list names one more secret in that key
    # (``litellm_external_models`` -> ``api_key_secret``); required only when listed.
    secrets_from: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "directory": str(self.directory),
            "role": self.role,
            "project": self.project,
            "description": self.description,
            "services": list(self.services),
            "secrets": list(self.secrets),
            "secrets_from": [{"var": v, "key": k} for v, k in self.secrets_from],
            "data_dirs": [d.to_dict() for d in self.data_dirs],
            "files": [f.to_dict() for f in self.files],
            "post_deploy": [s.name for s in self.post_deploy],
            "health": [h.to_dict() for h in self.health],
        }


# ---------------------------------------------------------------------------------------------
# Rendered output
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderedFile:
    """One file to put on the host. ``content`` never appears in repr or `to_dict`."""

    path: str
    content: bytes = field(repr=False)
    mode: int
    secret: bool
    restarts: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content (what the deploy task compares and records)."""
        return hashlib.sha256(self.content).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict without the content."""
        return {
            "path": self.path,
            "mode": f"{self.mode:04o}",
            "secret": self.secret,
            "restarts": list(self.restarts),
            "sha256": self.sha256,
            "size": len(self.content),
        }


@dataclass(frozen=True)
class RenderedDir:
    """A directory to create on the host (absolute path)."""

    path: str
    owner: str
    group: str
    mode: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "owner": self.owner,
            "group": self.group,
            "mode": f"{self.mode:04o}",
        }


@dataclass(frozen=True)
class PostDeployStep:
    """A command run on the host after ``up``; skipped when ``unless`` exits 0."""

    name: str
    service: str
    command: str
    unless: str | None
    timeout: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "service": self.service,
            "command": self.command,
            "unless": self.unless,
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class RenderedStack:
    """Everything the deploy task needs for one stack on one host.

    Attributes:
        files: absolute destination path -> file, in template.yaml order.
        project_dir: ``<stacks_root>/<name>`` (where ``docker compose`` runs).
        compose_file: absolute path of the rendered compose file.
        containers: compose service -> container name, read from the rendered compose file.

    """

    name: str
    host: str
    role: str
    project: str
    project_dir: str
    compose_file: str
    files: Mapping[str, RenderedFile]
    data_dirs: tuple[RenderedDir, ...]
    services: tuple[str, ...]
    containers: Mapping[str, str]
    post_deploy: tuple[PostDeployStep, ...]
    health: tuple[ServiceHealth, ...]
    secrets: tuple[str, ...]

    @property
    def config_hash(self) -> str:
        """SHA-256 over every file's path, mode and content: changes when anything used changes."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            f = self.files[path]
            h.update(f"{path}\0{f.mode:o}\0{f.sha256}\n".encode())
        return h.hexdigest()

    def restarts_for(self, changed_paths: Iterable[str]) -> tuple[str, ...]:
        """Services to restart explicitly because one of ``changed_paths`` changed."""
        out: list[str] = []
        for path in changed_paths:
            f = self.files.get(path)
            if f is not None:
                out.extend(s for s in f.restarts if s not in out)
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (file metadata and hashes, never content)."""
        return {
            "name": self.name,
            "host": self.host,
            "role": self.role,
            "project": self.project,
            "project_dir": self.project_dir,
            "compose_file": self.compose_file,
            "config_hash": self.config_hash,
            "files": [f.to_dict() for f in self.files.values()],
            "data_dirs": [d.to_dict() for d in self.data_dirs],
            "services": list(self.services),
            "containers": dict(self.containers),
            "post_deploy": [s.to_dict() for s in self.post_deploy],
            "health": [h.to_dict() for h in self.health],
            "secrets": list(self.secrets),
        }


# ---------------------------------------------------------------------------------------------
# Loading template.yaml
# ---------------------------------------------------------------------------------------------
class _Spec:
    """Typed access to a parsed YAML mapping, with errors naming the file and key."""

    def __init__(
        self,
        source: Path,
        data: Mapping[str, Any],
        where: str = "",
        doc: YamlDoc | None = None,
        keys: tuple[object, ...] = (),
    ) -> None:
        self.source = source
        self.data = data
        self.where = where
        self.doc = doc
        self.keys = keys

    def err(self, key: str, problem: str) -> ConfigError:
        line = self.doc.line((*self.keys, key)) if self.doc is not None else None
        at = f"{self.source}:{line}" if line else str(self.source)
        return ConfigError(f"{at}: key '{self.where}{key}': {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.err(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.err(key, f"must be {names}, got {type(value).__name__}")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        if not all(isinstance(i, str) for i in items):
            raise self.err(key, "must be a list of strings")
        return tuple(items)

    def mode(self, key: str, default: int | None = None) -> int:
        raw = self.get(key, (str, int), default if default is not None else ...)
        if isinstance(raw, int):
            # PyYAML reads an unquoted 0600 as an octal int already.
            value = raw
        else:
            try:
                value = int(raw, 8)
            except ValueError:
                raise self.err(key, f'must be an octal mode like "0600", got {raw!r}') from None
        if not 0 <= value <= 0o7777:
            raise self.err(key, f"mode {value:o} is out of range")
        return value

    def items(self, key: str) -> list[_Spec]:
        raw = self.get(key, list, [])
        out = []
        for i, item in enumerate(raw):
            where = f"{self.where}{key}[{i}]."
            if not isinstance(item, dict):
                raise self.err(f"{key}[{i}]", "must be a mapping")
            out.append(_Spec(self.source, item, where, self.doc, (*self.keys, key, i)))
        return out

    def only(self, allowed: Collection[str]) -> None:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            hint = did_you_mean(unknown[0], allowed)
            raise self.err(unknown[0], f"unknown key{hint} (valid: {', '.join(sorted(allowed))})")


def _relative(spec: _Spec, key: str) -> str:
    value: str = spec.get(key, str)
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or not value.strip():
        raise spec.err(key, f"must be a relative path without '..', got {value!r}")
    return str(p)


StacksPath = Path | Sequence[Path]
"""Where stacks are looked up: one folder, or several searched in order (a site's own first)."""


def _dirs(stacks: StacksPath) -> tuple[Path, ...]:
    return (stacks,) if isinstance(stacks, Path) else tuple(stacks)


def _shown(stacks: StacksPath) -> str:
    return ", ".join(str(d) for d in _dirs(stacks))


def available_stacks(stacks: StacksPath) -> list[str]:
    """Names of the stacks in ``stacks`` (folders holding a template.yaml), sorted."""
    names = set()
    for folder in _dirs(stacks):
        if folder.is_dir():
            names |= {p.parent.name for p in folder.glob(f"*/{TEMPLATE_FILE}")}
    return sorted(names)


def find_stack(stacks: StacksPath, name: str) -> Path | None:
    """The ``template.yaml`` of stack ``name``: the first folder of ``stacks`` that has it."""
    for folder in _dirs(stacks):
        source = folder / name / TEMPLATE_FILE
        if source.is_file():
            return source
    return None


def _load_data_dirs(top: _Spec) -> tuple[DataDirSpec, ...]:
    out = []
    for d in top.items("data_dirs"):
        d.only({"path", "owner", "group", "mode"})
        owner, group = d.get("owner", str, "root"), d.get("group", str, "root")
        for key, value in (("owner", owner), ("group", group)):
            if not _OWNER_RE.match(value):
                raise d.err(key, f"{value!r} is not a user/group name")
        out.append(DataDirSpec(_relative(d, "path"), owner, group, d.mode("mode", 0o755)))
    return tuple(out)


def _load_files(top: _Spec, services: tuple[str, ...]) -> tuple[FileSpec, ...]:
    out = []
    for f in top.items("files"):
        f.only({"template", "dest", "mode", "restarts", "secret"})
        template = _relative(f, "template")
        if not (top.source.parent / template).is_file():
            raise f.err("template", f"template {top.source.parent / template} does not exist")
        dest = _relative(f, "dest")
        mode = f.mode("mode", 0o644)
        if PurePosixPath(dest).name.startswith(".env") and mode != 0o600:
            raise f.err("mode", f"env file {dest} must be mode 0600, got {mode:04o}")
        restarts = f.str_list("restarts")
        for svc in restarts:
            if svc not in services:
                raise f.err("restarts", f"{svc!r} is not one of the services {list(services)}")
        out.append(FileSpec(template, dest, mode, restarts, bool(f.get("secret", bool, False))))
    if not any(PurePosixPath(f.dest).name == "compose.yaml" for f in out):
        raise top.err("files", "no file has dest compose.yaml")
    dests = [f.dest for f in out]
    if len(set(dests)) != len(dests):
        raise top.err("files", "two files have the same dest")
    return tuple(out)


def _load_steps(top: _Spec, services: tuple[str, ...]) -> tuple[StepSpec, ...]:
    out = []
    for st in top.items("post_deploy"):
        st.only({"name", "service", "command", "unless", "loop", "timeout"})
        svc = st.get("service", str)
        if svc not in services:
            raise st.err("service", f"{svc!r} is not one of the services {list(services)}")
        out.append(
            StepSpec(
                name=st.get("name", str),
                service=svc,
                command=st.get("command", str),
                unless=st.get("unless", str, None),
                loop=st.get("loop", str, None),
                timeout=st.get("timeout", int, 600),
            )
        )
    return tuple(out)


def _load_probe(p: _Spec, secrets: tuple[str, ...]) -> HttpProbe:
    p.only(set(HttpProbe.__dataclass_fields__))
    auth_secret = p.get("auth_secret", str, None)
    if auth_secret is not None and auth_secret not in secrets:
        raise p.err("auth_secret", f"{auth_secret!r} is not in the stack's secrets")
    path = p.get("path", str)
    if not path.startswith("/"):
        raise p.err("path", f"must start with '/', got {path!r}")
    return HttpProbe(
        name=p.get("name", str),
        port=p.get("port", int),
        path=path,
        status=p.get("status", int, 200),
        body_contains=p.get("body_contains", str, None),
        published=p.get("published", bool, False),
        auth_header=p.get("auth_header", str, None),
        auth_prefix=p.get("auth_prefix", str, ""),
        auth_secret=auth_secret,
    )


def _load_health(
    top: _Spec, services: tuple[str, ...], secrets: tuple[str, ...]
) -> tuple[ServiceHealth, ...]:
    out = []
    for h in top.items("health"):
        h.only({"service", "container", "healthcheck", "http"})
        svc = h.get("service", str)
        if svc not in services:
            raise h.err("service", f"{svc!r} is not one of the services {list(services)}")
        probes = tuple(_load_probe(p, secrets) for p in h.items("http"))
        out.append(
            ServiceHealth(svc, h.get("container", str, svc), h.get("healthcheck", bool), probes)
        )
    return tuple(out)


def load_stack(stacks: StacksPath, name: str) -> StackSpec:
    """Parse and validate ``<folder>/name/template.yaml``, from the first folder that has it.

    Raises:
        ConfigError: the stack does not exist (the message lists the valid ones), the file is
            not YAML, or a key is missing, unknown or invalid (the message names file and key).

    """
    source = find_stack(stacks, name)
    if source is None:
        valid = ", ".join(available_stacks(stacks)) or "(none)"
        raise ConfigError(f"unknown stack {name!r} in {_shown(stacks)}; valid stacks: {valid}")
    doc = load_yaml(source, what="stack metadata")
    raw = doc.data
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of keys (description, role, ...)")
    top = _Spec(source, raw, doc=doc)
    top.only(_TOP_KEYS)
    project = top.get("project", str, name)
    if not _NAME_RE.match(project):
        raise top.err("project", f"{project!r} is not a valid compose project name")
    services = top.str_list("services")
    if not services:
        raise top.err("services", "must list at least one compose service")
    secrets = top.str_list("secrets")
    for secret in secrets:
        if not _SECRET_RE.match(secret):
            raise top.err("secrets", f"{secret!r} is not a secret name (vault_<name>)")
    return StackSpec(
        name=name,
        directory=source.parent,
        role=top.get("role", str),
        project=project,
        description=top.get("description", str, ""),
        services=services,
        secrets=secrets,
        data_dirs=_load_data_dirs(top),
        files=_load_files(top, services),
        post_deploy=_load_steps(top, services),
        health=_load_health(top, services, secrets),
        secrets_from=_load_secrets_from(top),
    )


def _load_secrets_from(top: _Spec) -> tuple[tuple[str, str], ...]:
    out = []
    for item in top.items("secrets_from"):
        item.only({"var", "key"})
        out.append((item.get("var", str), item.get("key", str)))
    return tuple(out)


def host_secret_names(spec: StackSpec, host_vars: Mapping[str, Any]) -> tuple[str, ...]:
    """The stack's secrets plus those its ``secrets_from`` lists name in ``host_vars``.

    Raises:
        ConfigError: the variable is not a list of mappings, or an item's key is missing or
            not a secret name (vault_<name>).
    """
    host = host_vars.get("inventory_hostname", "?")
    names = list(spec.secrets)
    for var, key in spec.secrets_from:
        items = host_vars.get(var) or []
        if not isinstance(items, list | tuple):
            raise ConfigError(f"host {host}: '{var}' must be a list (stack {spec.name})")
        for i, item in enumerate(items):
            name = item.get(key) if isinstance(item, Mapping) else None
            if not isinstance(name, str) or not _SECRET_RE.match(name):
                raise ConfigError(
                    f"host {host}: {var}[{i}].{key} must name a secret (vault_<name>), "
                    f"got {name!r} (stack {spec.name})"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def secret_names(specs: Iterable[StackSpec]) -> set[str]:
    """Every secret variable the given stacks need."""
    return {s for spec in specs for s in spec.secrets}


def masked_secrets(names: Iterable[str]) -> dict[str, str]:
    """Return placeholder values (``MASKED-<name>``) that render without the vault."""
    return {n: f"{MASK_PREFIX}{n}" for n in names}


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------
def env_value(value: Any) -> str:
    """Jinja filter: ``value`` written safely as a Compose env-file value.

    Plain values are written as they are; others single-quoted (literal: Compose does not
    interpolate ``$`` inside single quotes).

    Raises:
        ConfigError: the value holds a single quote or a newline (it cannot be written safely;
            the value itself is never shown).

    """
    text = "" if value is None else str(value)
    if _ENV_SAFE_RE.match(text):
        return text
    if "'" in text or "\n" in text or "\r" in text:
        raise ConfigError("a value holds a quote or newline and cannot go in an env file")
    return f"'{text}'"


def _environment(directory: Path) -> jinja2.Environment:
    # The environment of nornir-jinja2's template_file (StrictUndefined, trim_blocks) plus the
    # whitespace settings YAML needs. Not through nornir-jinja2 itself: it only offers a Nornir
    # task, and stacks must render before and without any Nornir run (offline `render`, the
    # pre-flight render of `deploy`). Autoescape is off: the output is YAML and env files.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML and env files, not HTML
    )
    env.filters["env_value"] = env_value
    env.filters["quote"] = lambda v: shlex.quote(str(v))
    env.globals["var"] = _var
    return env


@jinja2.pass_context
def _var(context: jinja2.runtime.Context, name: str) -> Any:
    """Template function ``var(name)``: the variable called ``name`` (a secret named in data)."""
    value = context.resolve_or_missing(name)
    if value is jinja2.utils.missing:
        raise jinja2.UndefinedError(f"'{name}' is undefined")
    return value


def _template_line(exc: BaseException, filename: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename or frame.filename.endswith("/" + filename):
            return frame.lineno
    return None


def _render_error(exc: Exception, where: str, filename: str, host: str, stack: str) -> ConfigError:
    line = _template_line(exc, filename)
    loc = f"{where}" + (f" line {line}" if line else "")
    if isinstance(exc, jinja2.UndefinedError):
        msg = str(exc.message or exc)
        m = _UNDEFINED_RE.match(msg)
        a = _ATTR_RE.search(msg)
        if m:
            what = f"undefined variable '{m.group('name')}'"
        elif a:
            what = f"undefined variable (missing key '{a.group('name')}')"
        else:
            what = f"undefined variable ({msg})"
        return ConfigError(f"{loc}: {what} (host {host}, stack {stack})")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return ConfigError(f"{loc}: template syntax error: {exc.message} (stack {stack})")
    if isinstance(exc, ConfigError):
        return ConfigError(f"{loc}: {exc} (host {host}, stack {stack})")
    return ConfigError(f"{loc}: cannot render: {type(exc).__name__} (host {host}, stack {stack})")


def _render_text(
    env: jinja2.Environment,
    source: str,
    variables: Mapping[str, Any],
    *,
    where: str,
    host: str,
    stack: str,
    from_file: bool,
) -> str:
    try:
        template = env.get_template(source) if from_file else env.from_string(source)
        return template.render(**variables)
    except (jinja2.TemplateError, ConfigError, TypeError, ValueError) as exc:
        raise _render_error(
            exc, where, source if from_file else "<template>", host, stack
        ) from None


def _compose_containers(content: str, where: str, spec: StackSpec) -> dict[str, str]:
    try:
        doc = yaml.safe_load(content)
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
    return {
        name: str((svc or {}).get("container_name") or f"{spec.project}-{name}-1")
        for name, svc in services.items()
    }


# A secret value this long found in a file that does not name it is a leak by another path (a
# secret copied into a site value); shorter values turn up in ordinary text by chance.
MIN_SECRET_MATCH = 8


def _template_refs(env: jinja2.Environment, name: str, seen: set[str]) -> tuple[set[str], bool]:
    """Variables template ``name`` (and what it includes) uses, and whether it calls var()."""
    seen.add(name)
    assert env.loader is not None  # noqa: S101 - _environment always sets a loader
    source = env.loader.get_source(env, name)[0]
    ast = env.parse(source)
    names = set(jinja2.meta.find_undeclared_variables(ast))
    dynamic = any(
        isinstance(call.node, jinja2.nodes.Name) and call.node.name == "var"
        for call in ast.find_all(jinja2.nodes.Call)
    )
    for ref in jinja2.meta.find_referenced_templates(ast):
        if ref is None:
            dynamic = True
        elif ref not in seen:
            more, more_dynamic = _template_refs(env, ref, seen)
            names |= more
            dynamic |= more_dynamic
    return names, dynamic


def _secrets_in(
    env: jinja2.Environment, template: str, text: str, secret_values: Mapping[str, str]
) -> set[str]:
    """The secrets a rendered file holds: those its template places, plus clear leaks.

    A secret is placed when the template names its variable, or calls ``var()`` (secrets named
    in inventory data, e.g. external providers' keys) and the value is in the text. A value
    in a file whose template does not place it counts only from `MIN_SECRET_MATCH` characters:
    a short secret ("admin") also appears in ordinary text.
    """
    names, dynamic = _template_refs(env, template, set())
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
    env = _environment(spec.directory)
    stacks_root = str(variables.get("stacks_root") or DEFAULT_STACKS_ROOT)
    data_root = str(variables.get("data_root") or DEFAULT_DATA_ROOT)
    project_dir = str(PurePosixPath(stacks_root) / spec.name)

    files: dict[str, RenderedFile] = {}
    compose_file = ""
    containers: dict[str, str] = {}
    for f in spec.files:
        where = f"{spec.directory / f.template}"
        text = _render_text(
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
            containers = _compose_containers(text, where, spec)
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
                return _render_text(
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
        post_deploy=tuple(steps),
        health=spec.health,
        secrets=secret_names_,
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
) -> list[RenderedStack]:
    """Render every stack ``host`` deploys (narrowed by ``only``), with `site_vars` + secrets.

    Raises:
        SecretError: a needed secret is missing from ``secrets``.
        ConfigError: see `stacks_for_host` and `render_stack`.

    """
    from nornir_homehub.inventory import site_vars

    variables = site_vars(nr, host)
    specs = stacks_for_host(variables, stacks_dir, only)
    missing = sorted(secret_names(specs) - set(secrets))
    if missing:
        raise SecretError(f"host {host.name}: missing secret(s) {', '.join(missing)}")
    return [render_stack(spec, {**variables, **secrets}) for spec in specs]
