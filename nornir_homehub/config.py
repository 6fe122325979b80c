"""Load ``config.yaml``: the Nornir configuration plus our own ``homehub:`` settings.

Every relative path in the file (inventory files, stacks dir, vault, report dir, lab dir) is
resolved against the folder of the config file, so commands work from any working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.errors import ConfigError

if TYPE_CHECKING:
    from nornir.core import Nornir

ENV_CONFIG = "HOMEHUB_CONFIG"
DEFAULT_CONFIG = "config.yaml"
_PATH_EXTRAS = ("known_hosts", "key_file", "ssh_config")


@dataclass(frozen=True)
class Settings:
    """The ``homehub:`` section of config.yaml, with paths resolved.

    Attributes:
        config_path: the config file itself.
        stacks_dir: folder of ``stacks/<service>/``.
        runbooks_dir: folder of user and built-in runbooks.
        vault_file: Ansible Vault file with the secrets (may not exist).
        vault_password_file: file holding the vault password (may not exist).
        report_dir: default folder for JSON reports.
        history_dir: where every run's report is kept (``history`` command).
        lab_dir: state folder of the local lab (only for lab configs).
        extra: any other key of the section, unchanged.
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


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the config file to use: ``path``, else ``$HOMEHUB_CONFIG``, else ./config.yaml."""
    return Path(path or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def read_config(path: Path) -> dict[str, Any]:
    """Read and minimally validate a config file.

    Raises:
        ConfigError: the file is missing, not YAML or not a mapping.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (use --config or HOMEHUB_CONFIG)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping")
    return raw


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

    def req(key: str, default: str) -> Path:
        resolved = _resolve(base, hh.pop(key, default))
        assert resolved is not None  # noqa: S101 - default is never empty
        return resolved

    return Settings(
        config_path=path.resolve(),
        stacks_dir=req("stacks_dir", "stacks"),
        runbooks_dir=req("runbooks_dir", "runbooks"),
        vault_file=_resolve(base, hh.pop("vault_file", None)),
        vault_password_file=_resolve(base, hh.pop("vault_password_file", None)),
        report_dir=req("report_dir", ".homehub/reports"),
        history_dir=req("history_dir", ".homehub/runs"),
        lab_dir=_resolve(base, hh.pop("lab_dir", None)),
        extra=hh,
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

    # Nornir logs "has not been run - 0 hosts selected" and similar through the root logger's
    # last-resort handler; our commands report outcomes themselves.
    logging.getLogger("nornir").addHandler(logging.NullHandler())
    logging.getLogger("nornir").propagate = False

    from nornir_homehub.connection import register_plugins

    register_plugins()
    raw = dict(raw if raw is not None else read_config(path))
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
            if key == "host_file" and resolved is not None and not resolved.is_file():
                raise ConfigError(f"inventory host file {resolved} not found (config {path})")
    inv.setdefault("plugin", "SimpleInventory")
    inv["options"] = opts
    nornir_cfg = {k: v for k, v in raw.items() if k != "homehub"}
    nornir_cfg["inventory"] = inv
    nornir_cfg.setdefault("runner", {"plugin": "threaded", "options": {"num_workers": 20}})
    nornir_cfg.setdefault("logging", {"enabled": False})
    try:
        nr = InitNornir(**nornir_cfg)
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot load inventory of {path}: {exc}") from None
    _merge_connection_extras(nr, file_dirs, base)
    nr.data = _state_with_inventory(nr)
    return nr


def _state_with_inventory(nr: Nornir) -> Any:
    """Nornir's shared state plus the unfiltered hosts.

    Values derived from the whole inventory (the compute host's address for a trusted host's
    extra_hosts) must not depend on ``--filter``; filtered Nornir objects share ``data``.
    """
    from nornir.core.state import GlobalState

    class HomehubState(GlobalState):
        __slots__ = ("all_hosts",)

    state = HomehubState(dry_run=nr.data.dry_run, failed_hosts=nr.data.failed_hosts)
    state.all_hosts = dict(nr.inventory.hosts)  # type: ignore[attr-defined]
    return state


def _merge_connection_extras(nr: Nornir, file_dirs: dict[str, Path], base: Path) -> None:
    """Merge extras defaults -> groups -> host; resolve paths against the file naming them."""
    from nornir.core.inventory import ConnectionOptions

    from nornir_homehub.connection import LOCAL_PLUGIN, SSH_PLUGIN, check_extras

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
                    is_path = key in _PATH_EXTRAS and value
                    extras[key] = str(_resolve(where, value)) if is_path else value
            extras["inventory_name"] = host.name
            check_extras(host.name, extras)
            own = host.connection_options.get(plugin)
            host.connection_options[plugin] = ConnectionOptions(
                hostname=own.hostname if own else None,
                port=own.port if own else None,
                username=own.username if own else None,
                password=own.password if own else None,
                platform=own.platform if own else None,
                extras=extras,
            )
