"""Load ``config.yaml``: the Nornir configuration plus our own ``homehub:`` settings.

Every relative path in the file (inventory files, stacks dir, vault, report dir, lab dir) is
resolved against the folder of the config file, so commands work from any working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub import safety
from nornir_homehub.connection_options import PATH_EXTRAS
from nornir_homehub.defaults import DEFAULT_CONFIG, DEFAULT_HISTORY_DIR, DEFAULT_REPORT_DIR
from nornir_homehub.errors import ConfigError
from nornir_homehub.problems import Problems
from nornir_homehub.validate import InventoryDocs, check_config, check_inventory
from nornir_homehub.yamlfile import YamlDoc, load_yaml

if TYPE_CHECKING:
    from nornir.core import Nornir

ENV_CONFIG = "HOMEHUB_CONFIG"


@dataclass(frozen=True)
class Settings:
    """The ``homehub:`` section of config.yaml, with paths resolved.

    Attributes:
        config_path: the config file itself.
        stacks_dir: the site's own ``<stack>/`` folders (default: the built-in stacks); see
            `stacks_path` for the lookup order.
        runbooks_dir: the site's own runbooks (default: the built-in ones); see
            `runbooks_path`.
        vault_file: Ansible Vault file with the secrets (may not exist).
        vault_password_file: file holding the vault password (may not exist).
        report_dir: default folder for JSON reports.
        history_dir: where every run's report is kept (``history`` command).
        lab_dir: state folder of the local lab (only for lab configs).
        extra: any other key of the section, unchanged.
        more_vault_files: further vault files when ``vault_file`` is a list (read in order,
            a later file's value wins), e.g. a site imported from Ansible that references the
            Ansible vault and keeps copied inline ``!vault`` values in a file of its own.
    """

    config_path: Path
    stacks_dir: Path
    runbooks_dir: Path
    vault_file: Path | None
    vault_password_file: Path | None
    report_dir: Path
    history_dir: Path
    lab_dir: Path | None
    extra: dict[str, Any] = field(default_factory=dict)
    more_vault_files: tuple[Path, ...] = ()

    @property
    def stacks_path(self) -> tuple[Path, ...]:
        """Where stacks are looked up: ``stacks_dir`` first, then the built-in stacks."""
        from nornir_homehub import builtin

        return _search_path(self.stacks_dir, builtin.stacks_dir())

    @property
    def runbooks_path(self) -> tuple[Path, ...]:
        """Where runbooks are looked up: ``runbooks_dir`` first, then the built-in runbooks."""
        from nornir_homehub import builtin

        return _search_path(self.runbooks_dir, builtin.runbooks_dir())


def _search_path(own: Path, builtin: Path) -> tuple[Path, ...]:
    if own.resolve() == builtin.resolve():
        return (builtin,)
    return (own, builtin)


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the config file to use: ``path``, else ``$HOMEHUB_CONFIG``, else ./config.yaml."""
    return Path(path or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def read_config(path: Path) -> dict[str, Any]:
    """Read and validate a config file: its sections, keys and the files and folders it names.

    Raises:
        ConfigError: the file is missing, not YAML or not a mapping, or has problems; an
            `InvalidConfig` lists every problem found (file, line, key, what is valid).
    """
    if not path.exists():
        raise ConfigError(f"config file {path} not found (use --config or {ENV_CONFIG})")
    doc = load_yaml(path, what="config file")
    problems = Problems()
    check_config(doc, problems)
    if not problems:
        _check_config_paths(doc, problems)
    problems.raise_if_any()
    data: dict[str, Any] = doc.data
    return data


def _check_config_paths(doc: YamlDoc, problems: Problems) -> None:
    """The files and folders config.yaml names exist and are of the right kind."""
    base = doc.path.resolve().parent
    hh = doc.data.get("homehub") or {}
    for key, kind, must_exist in _SETTINGS_PATHS:
        value = hh.get(key)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            if not isinstance(item, str) or not item.strip():
                continue
            resolved = _resolve(base, item)
            assert resolved is not None  # noqa: S101 - value is not empty
            problem = _path_problem(resolved, kind, must_exist)
            keys: list[str | int] = ["homehub", key] if i is None else ["homehub", key, i]
            if problem:
                where = f"homehub.{key}" if i is None else f"homehub.{key}[{i}]"
                problems.add(doc.at(keys), where, problem)
    inv = doc.data.get("inventory") or {}
    if inv.get("plugin", "SimpleInventory") != "SimpleInventory":
        return
    opts = inv.get("options") or {}
    for key in ("host_file", "group_file", "defaults_file"):
        value = opts.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        resolved = _resolve(base, value)
        assert resolved is not None  # noqa: S101 - value is not empty
        problem = _path_problem(resolved, "file", must_exist=True)
        if problem:
            problems.add(doc.at(["inventory", "options", key]), f"inventory.options.{key}", problem)


# homehub key, "dir"/"file", must it exist? Vault and password files may be absent (secrets
# then come from the environment); output folders are created when needed. A stacks or
# runbooks folder named in the config adds to the built-in ones: a missing one is a typo.
_SETTINGS_PATHS = (
    ("stacks_dir", "dir", True),
    ("runbooks_dir", "dir", True),
    ("vault_file", "file", False),
    ("vault_password_file", "file", False),
    ("report_dir", "dir", False),
    ("history_dir", "dir", False),
    ("lab_dir", "dir", False),
)


def _path_problem(path: Path, kind: str, must_exist: bool) -> str | None:
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:
        return f"cannot check {path}: {exc.strerror or exc}"
    problem = None
    if kind == "dir" and exists and not is_dir:
        problem = f"{path} is a file, not a folder"
    elif kind == "file" and is_dir:
        problem = f"{path} is a directory, not a file"
    elif must_exist and not exists:
        problem = f"{'folder' if kind == 'dir' else 'file'} {path} does not exist"
    return problem


def _resolve(base: Path, value: Any) -> Path | None:
    if value in (None, ""):
        return None
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def load_settings(path: Path, raw: dict[str, Any] | None = None) -> Settings:
    """Build `Settings` from the ``homehub:`` section of the config at ``path``."""
    raw = raw if raw is not None else read_config(path)
    base = path.resolve().parent
    hh = dict(raw.get("homehub") or {})

    def req(key: str, default: str | Path) -> Path:
        resolved = _resolve(base, hh.pop(key, default))
        assert resolved is not None  # noqa: S101 - default is never empty
        return resolved

    from nornir_homehub import builtin

    vaults = hh.pop("vault_file", None)
    vault_list = vaults if isinstance(vaults, list) else [vaults]
    vault_paths = [v for v in (_resolve(base, x) for x in vault_list) if v is not None]
    return Settings(
        config_path=path.resolve(),
        stacks_dir=req("stacks_dir", builtin.stacks_dir()),
        runbooks_dir=req("runbooks_dir", builtin.runbooks_dir()),
        vault_file=vault_paths[0] if vault_paths else None,
        vault_password_file=_resolve(base, hh.pop("vault_password_file", None)),
        report_dir=req("report_dir", DEFAULT_REPORT_DIR),
        history_dir=req("history_dir", DEFAULT_HISTORY_DIR),
        lab_dir=_resolve(base, hh.pop("lab_dir", None)),
        extra=hh,
        more_vault_files=tuple(vault_paths[1:]),
    )


def load_nornir(path: Path, raw: dict[str, Any] | None = None) -> Nornir:
    """Initialise Nornir from the config file, without connecting anywhere.

    Inventory file paths are resolved against the config's folder; connection extras are
    merged defaults -> groups -> host (Nornir would replace them whole) and their file paths
    resolved against the inventory's folder; each host learns its inventory name for messages.

    Raises:
        ConfigError: the config or inventory cannot be loaded.
    """
    import logging

    from nornir import InitNornir

    from nornir_homehub.connection import register_plugins
    from nornir_homehub.inventory import keep_all_hosts
    from nornir_homehub.stackspec import available_stacks

    register_plugins()
    raw = dict(raw if raw is not None else read_config(path))
    settings = load_settings(path, raw)
    safety.allowed_networks()  # a malformed HOMEHUB_ALLOWED_NETWORKS stops here, not per host
    if not (raw.get("logging") or {}).get("enabled"):
        # Nornir logs "has not been run - 0 hosts selected" and similar through the root
        # logger's last-resort handler; our commands report outcomes themselves. (With
        # Nornir's logging enabled it must not find a handler here, or it adds none.)
        logging.getLogger("nornir").addHandler(logging.NullHandler())
        logging.getLogger("nornir").propagate = False
    base = path.resolve().parent
    inv = dict(raw.get("inventory") or {})
    opts = dict(inv.get("options") or {})
    file_dirs: dict[str, Path] = {}
    for key in ("host_file", "group_file", "defaults_file"):
        if key in opts:
            resolved = _resolve(base, opts[key])
            opts[key] = str(resolved)
            if resolved is not None:
                file_dirs[key] = resolved.parent
    inv.setdefault("plugin", "SimpleInventory")
    inv["options"] = opts
    stacks = available_stacks(settings.stacks_path)
    if inv["plugin"] == "SimpleInventory":
        _validate_simple_inventory(opts, stacks)
    nornir_cfg = {k: v for k, v in raw.items() if k != "homehub"}
    nornir_cfg["inventory"] = inv
    nornir_cfg.setdefault("runner", {"plugin": "threaded", "options": {"num_workers": 20}})
    nornir_cfg.setdefault("logging", {"enabled": False})
    try:
        nr = InitNornir(**nornir_cfg)
    except Exception as exc:  # any failure of a plugin here is a configuration problem
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"cannot load the inventory of {path} (plugin {inv['plugin']}): "
            f"{type(exc).__name__}: {first}"
        ) from None
    if inv["plugin"] != "SimpleInventory":
        _validate_loaded_inventory(nr, str(inv["plugin"]), stacks)
    _merge_connection_extras(nr, file_dirs, base)
    keep_all_hosts(nr)
    return nr


def _validate_simple_inventory(opts: dict[str, Any], stacks: list[str] | None) -> None:
    """Read SimpleInventory's files with the bounded loader and check them as a schema.

    Files not named in the config are the ones SimpleInventory itself falls back to (relative
    to the working directory), read only when they exist, as SimpleInventory does.
    """
    encoding = str(opts.get("encoding") or "utf-8")

    def doc(key: str, default: str, what: str) -> YamlDoc | None:
        p = Path(str(opts.get(key) or default)).expanduser()
        if key != "host_file" and not p.exists():
            return None
        return load_yaml(p, what=what, yaml12=True, encoding=encoding)

    hosts = doc("host_file", "hosts.yaml", "inventory host file")
    assert hosts is not None  # noqa: S101 - the host file is always read
    docs = InventoryDocs(
        hosts,
        doc("group_file", "groups.yaml", "inventory group file"),
        doc("defaults_file", "defaults.yaml", "inventory defaults file"),
    )
    problems = Problems()
    check_inventory(docs, problems, stacks=stacks, resolve=_resolve_path)
    problems.raise_if_any()


def _validate_loaded_inventory(nr: Nornir, plugin: str, stacks: list[str] | None) -> None:
    """Check an inventory another plugin built, as SimpleInventory's files are checked."""
    data = nr.inventory.dict()
    where = Path(f"<inventory plugin {plugin}>")

    def strip(elements: dict[str, Any]) -> dict[str, Any]:
        return {n: {k: v for k, v in e.items() if k != "name"} for n, e in elements.items()}

    docs = InventoryDocs(
        YamlDoc(where, strip(data.get("hosts") or {})),
        YamlDoc(where, strip(data.get("groups") or {})),
        YamlDoc(where, data.get("defaults") or {}),
    )
    problems = Problems()
    check_inventory(docs, problems, stacks=stacks)
    problems.raise_if_any()


def _resolve_path(folder: Path, value: str) -> Path:
    resolved = _resolve(folder, value)
    return resolved if resolved is not None else folder


def _merge_connection_extras(nr: Nornir, file_dirs: dict[str, Path], base: Path) -> None:
    """Merge extras defaults -> groups -> host; resolve paths against the file naming them."""
    from nornir.core.inventory import ConnectionOptions

    from nornir_homehub.connection_options import LOCAL_PLUGIN, SSH_PLUGIN

    defaults = nr.inventory.defaults
    for host in nr.inventory.hosts.values():
        for plugin in (SSH_PLUGIN, LOCAL_PLUGIN):
            layers: list[tuple[Any, str]] = [
                (defaults.connection_options.get(plugin), "defaults_file")
            ]
            layers += [
                (g.connection_options.get(plugin), "group_file") for g in reversed(host.groups)
            ]
            layers.append((host.connection_options.get(plugin), "host_file"))
            extras: dict[str, Any] = {}
            for layer, source in layers:
                if layer is None or not layer.extras:
                    continue
                where = file_dirs.get(source, base)
                for key, value in layer.extras.items():
                    is_path = key in PATH_EXTRAS and value
                    extras[key] = str(_resolve(where, value)) if is_path else value
            extras["inventory_name"] = host.name
            own = host.connection_options.get(plugin)
            host.connection_options[plugin] = ConnectionOptions(
                hostname=own.hostname if own else None,
                port=own.port if own else None,
                username=own.username if own else None,
                password=own.password if own else None,
                platform=own.platform if own else None,
                extras=extras,
            )
