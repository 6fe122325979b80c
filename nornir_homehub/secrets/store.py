"""The run's secrets: `SecretStore`, loading them, the environment of controller commands.

`load_secrets` reads the vault file (its password from the config or the environment) and the
``HOMEHUB_SECRET_*`` variables into a `SecretStore`; `scrubbed_environ` is the environment of
a command run on the controller, with nothing secret in it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from nornir_homehub.errors import SecretError
from nornir_homehub.secrets.redact import Redactor
from nornir_homehub.secrets.registry import active_redactor, register_redactor
from nornir_homehub.secrets.secret import Secret
from nornir_homehub.secrets.vault import display_path, load_vault_file

if TYPE_CHECKING:
    from nornir_homehub.config import Settings

__all__ = [
    "ENV_PASSWORD",
    "ENV_PASSWORD_FILE",
    "ENV_PASSWORD_FILE_ANSIBLE",
    "ENV_SECRET_PREFIX",
    "SAFE_ENV",
    "SecretStore",
    "load_secrets",
    "load_secrets_for_output",
    "scrubbed_environ",
]

# Names of environment variables, not secrets.
ENV_SECRET_PREFIX = "HOMEHUB_SECRET_"  # noqa: S105
ENV_PASSWORD = "HOMEHUB_VAULT_PASSWORD"  # noqa: S105
ENV_PASSWORD_FILE = "HOMEHUB_VAULT_PASSWORD_FILE"  # noqa: S105
ENV_PASSWORD_FILE_ANSIBLE = "ANSIBLE_VAULT_PASSWORD_FILE"  # noqa: S105


# --------------------------------------------------------------------------- environment

# Variables a local command may see: what a shell and the usual tools need, nothing else.
SAFE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
)
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def scrubbed_environ(
    environ: Mapping[str, str] = os.environ, keep: Iterable[str] = ()
) -> dict[str, str]:
    """The environment for a command run on the controller, with nothing secret in it.

    Only `SAFE_ENV`, ``LC_*`` and the names in ``keep`` pass; the vault password variables and
    ``HOMEHUB_SECRET_*`` never do (not even when named in ``keep``), nor does any variable
    whose value holds a loaded secret.

    Args:
        environ: the controller's environment.
        keep: more variable names to pass (the local connection's ``env_keep`` extra).

    Returns:
        The variables to give the command (``PATH`` always set).

    """
    allowed = set(SAFE_ENV) | set(keep)
    never = {ENV_PASSWORD, ENV_PASSWORD_FILE, ENV_PASSWORD_FILE_ANSIBLE}
    redactor = active_redactor()
    out: dict[str, str] = {}
    for name, value in environ.items():
        if name in never or name.startswith(ENV_SECRET_PREFIX):
            continue
        if name not in allowed and not name.startswith("LC_"):
            continue
        if redactor.redact(value) != value:
            continue
        out[name] = value
    out.setdefault("PATH", _DEFAULT_PATH)
    return out


# --------------------------------------------------------------------------- SecretStore


class SecretStore:
    """The secrets of one run, by name, with where each came from.

    Args:
        secrets: name -> `Secret`.
        sources: name -> where the value came from (e.g. ``vault inventory/lab/vault.yml`` or
            ``env HOMEHUB_SECRET_X``); never a value.
        searched: descriptions of the places looked in, for "missing secret" messages.
        hidden: secrets that are not template values but must be redacted too (the vault
            password).

    """

    __slots__ = ("_hidden", "_redactor", "_searched", "_secrets", "_sources")

    def __init__(
        self,
        secrets: Mapping[str, Secret],
        *,
        sources: Mapping[str, str] | None = None,
        searched: Iterable[str] = (),
        hidden: Iterable[Secret] = (),
    ) -> None:
        self._secrets = dict(secrets)
        self._hidden = tuple(hidden)
        self._sources = dict(sources or {})
        self._searched = tuple(searched)
        self._redactor: Redactor | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, str], *, source: str = "mapping") -> SecretStore:
        """Build a store from plain name -> value pairs (tests, notebooks, other loaders)."""
        return cls(
            {name: Secret(name, value) for name, value in values.items()},
            sources=dict.fromkeys(values, source),
            searched=(source,),
        )

    def __repr__(self) -> str:
        return f"<SecretStore {len(self._secrets)} secrets: {', '.join(self.names())}>"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a SecretStore holds secret values and cannot be pickled")

    def __contains__(self, name: object) -> bool:
        return name in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)

    def names(self) -> list[str]:
        """Return the secret names, sorted."""
        return sorted(self._secrets)

    def source(self, name: str) -> str:
        """Return where secret ``name`` came from (``vault FILE`` or ``env VAR``)."""
        self.get(name)
        return self._sources.get(name, "unknown")

    def _where(self, names: Iterable[str]) -> str:
        places = list(self._searched)
        env_vars = [ENV_SECRET_PREFIX + n.upper() for n in names]
        places.append("environment " + ", ".join(env_vars))
        return "; ".join(places)

    def get(self, name: str) -> Secret:
        """Return secret ``name``.

        Raises:
            SecretError: no such secret; the message says where it was looked for.

        """
        try:
            return self._secrets[name]
        except KeyError:
            raise SecretError(f"missing secret {name} (looked in {self._where([name])})") from None

    def require(self, names: Iterable[str]) -> None:
        """Check that every name is present, before any host is touched.

        Raises:
            SecretError: listing all missing names at once and where they were looked for.

        """
        missing = sorted({n for n in names if n not in self._secrets})
        if missing:
            raise SecretError(
                f"missing secret{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(looked in {self._where(missing)})"
            )

    def as_template_vars(self) -> dict[str, str]:
        """Return name -> revealed value, for template rendering only (never log it)."""
        return {name: secret.reveal() for name, secret in self._secrets.items()}

    def redactor(self) -> Redactor:
        """Return the `Redactor` for this store's secrets."""
        if self._redactor is None:
            self._redactor = Redactor([*self._secrets.values(), *self._hidden])
        return self._redactor

    def to_dict(self) -> dict[str, Any]:
        """Return the names and their sources (never the values), for reports."""
        return {
            "names": self.names(),
            "sources": {n: self._sources.get(n, "unknown") for n in self.names()},
        }


# --------------------------------------------------------------------------- loading


def _read_password_file(path: Path, origin: str) -> Secret:
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SecretError(f"vault password file {shown} (from {origin}) not found") from None
    except OSError as exc:
        raise SecretError(
            f"cannot read vault password file {shown} (from {origin}): {exc.strerror}"
        ) from None
    if data.startswith(b"#!"):
        raise SecretError(
            f"vault password file {shown} (from {origin}) is a script; password scripts are "
            f"not supported, set {ENV_PASSWORD} instead"
        )
    password = data.decode("utf-8", "surrogateescape").strip()
    if not password:
        raise SecretError(f"vault password file {shown} (from {origin}) is empty")
    return Secret("vault_password", password)


def _find_password(settings: Settings, environ: Mapping[str, str], vault_shown: str) -> Secret:
    configured = settings.vault_password_file
    if configured is not None and configured.is_file():
        return _read_password_file(configured, "config vault_password_file")
    if environ.get(ENV_PASSWORD, "").strip():
        return Secret("vault_password", environ[ENV_PASSWORD].strip())
    for var in (ENV_PASSWORD_FILE, ENV_PASSWORD_FILE_ANSIBLE):
        if environ.get(var):
            return _read_password_file(Path(environ[var]).expanduser(), f"env {var}")
    tried = f" ({display_path(configured)} does not exist)" if configured is not None else ""
    raise SecretError(
        f"vault file {vault_shown} is encrypted but no vault password is available: set "
        f"vault_password_file in the config{tried}, or {ENV_PASSWORD}, or "
        f"{ENV_PASSWORD_FILE} / {ENV_PASSWORD_FILE_ANSIBLE} to a file holding it"
    )


def _env_secrets(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for var, value in environ.items():
        if var.startswith(ENV_SECRET_PREFIX) and len(var) > len(ENV_SECRET_PREFIX) and value:
            found[var[len(ENV_SECRET_PREFIX) :].lower()] = (var, value)
    return found


def load_secrets(
    settings: Settings, *, environ: Mapping[str, str] = os.environ, register: bool = True
) -> SecretStore:
    """Load the run's secrets from the vault file and the environment.

    The vault is ``settings.vault_file`` (a YAML mapping once decrypted; whole-file or inline
    ``!vault`` values). Its password comes from ``settings.vault_password_file`` if that file
    exists, else ``$HOMEHUB_VAULT_PASSWORD``, else the file named by
    ``$HOMEHUB_VAULT_PASSWORD_FILE`` or ``$ANSIBLE_VAULT_PASSWORD_FILE``. Variables
    ``HOMEHUB_SECRET_<NAME>`` override vault values or supply secrets with no vault at all
    (``<NAME>`` is matched case-insensitively to the vault's names, else lower-cased).

    Args:
        settings: the loaded settings.
        environ: the environment to read (tests pass a dict).
        register: also register the store's redactor process-wide (`redact_all`).

    Returns:
        The store.

    Raises:
        SecretError: the vault exists but no password is available, the password is wrong, or
            the file is damaged or not a mapping. A missing vault file is not an error.

    """
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    searched: list[str] = []
    hidden: list[Secret] = []
    vaults = [settings.vault_file] if settings.vault_file is not None else []
    for vault in [*vaults, *settings.more_vault_files]:
        shown = display_path(vault)
        if vault.is_file():
            searched.append(f"vault file {shown}")

            def password(shown: str = shown) -> Secret:
                # Asked only when the file holds encrypted data: a plain file needs none.
                found = _find_password(settings, environ, shown)
                hidden.append(found)
                return found

            for name, value in load_vault_file(vault, password).items():
                values[name] = value
                sources[name] = f"vault {shown}"
        else:
            searched.append(f"vault file {shown} (absent)")
    by_lower = {name.lower(): name for name in values}
    for lower, (var, value) in _env_secrets(environ).items():
        name = by_lower.get(lower, lower)
        values[name] = value
        sources[name] = f"env {var}"
    store = SecretStore(
        {name: Secret(name, value) for name, value in values.items()},
        sources=sources,
        searched=searched,
        hidden=hidden,
    )
    if register:
        register_redactor(store.redactor())
    return store


def load_secrets_for_output(
    settings: Settings, *, environ: Mapping[str, str] = os.environ
) -> tuple[SecretStore | None, str | None]:
    """Load every secret that can be loaded, so that a command's output can be redacted.

    For commands that need no secret (``exec``, ``check``) a vault that cannot be opened is
    not an error: the ``HOMEHUB_SECRET_*`` values are still registered for redaction, and the
    returned note says that only those are redacted.

    Args:
        settings: the loaded settings.
        environ: the environment to read.

    Returns:
        The store (None when the vault could not be opened) and a note for the user (None
        when the vault was loaded).

    """
    vault = settings.vault_file
    try:
        store = load_secrets(settings, environ=environ)
    except SecretError as exc:
        fallback = dataclasses.replace(settings, vault_file=None)
        load_secrets(fallback, environ=environ)
        reason = f"the vault was not loaded ({exc})"
        store = None
    else:
        if vault is None:
            reason = "no vault is configured (homehub.vault_file)"
        elif not vault.is_file():
            reason = f"the vault file {display_path(vault)} does not exist"
        else:
            return store, None
    return store, (
        f"{reason}: only the values known without it ({ENV_SECRET_PREFIX}* variables) are "
        "redacted from this command's output"
    )
