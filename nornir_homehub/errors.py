"""One error hierarchy for the whole package.

Every message names what is wrong: the host, file, variable or record involved. The CLI maps
`ConfigError` and `SecretError` to exit code 2 and everything else to exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nornir_homehub.problems import Problem
from nornir_homehub.checks.model import Layer


class HomehubError(Exception):
    """Base class of every error nornir_homehub raises on purpose."""


class ConfigError(HomehubError):
    """Bad configuration or inventory, a bad filter, a bad template variable (exit 2)."""


class SecretError(ConfigError):
    """A secret is missing or the vault cannot be decrypted (exit 2, before any host is touched)."""


class TransportError(HomehubError):
    """SSH connection, authentication, host key or command transport failure."""

    path: str | None = None  # the file an upload could not install, when that was the failure


class HostKeyError(TransportError):
    """A host key is unknown or differs from the one in known_hosts."""


class CommandTimeout(TransportError):
    """A remote command ran past its timeout."""


class ConnectionLost(TransportError):
    """An established SSH connection died: closed, reset, or its keepalives went unanswered."""


class UnsafeDestination(TransportError):
    """A connection to an address outside the allowed networks was refused before it was made."""


class PlanError(HomehubError):
    """The desired state cannot be planned (a broken zone record, an invalid stack)."""


class CheckFailed(HomehubError):
    """A verification check failed."""


class LabError(HomehubError):
    """The local lab cannot be brought up, down or used."""


# --------------------------------------------------------------------------- secrets, stack specs,
# config and inventory validation, the Ansible import


class InvalidConfig(ConfigError):
    """One or more configuration problems (exit 2); ``problems`` lists them all."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            text = f"{len(self.problems)} problems in the configuration:\n{lines}"
        super().__init__(text)


# -- transport, lab, and the deploy, backup and migrate tasks -----------------------------------


class StackFailed(CheckFailed):
    """A stack did not come up (layer container).

    Docker Engine not usable, compose failed, a container not ready or not stable, or a
    post-deploy step failed.
    """

    layer = Layer.CONTAINER
    # (stack, release id) of each stack rolled back automatically after this failure.
    rolled_back: tuple[tuple[str, str], ...] = ()


class ImagePullFailed(StackFailed):
    """A stack's pre-pull failed: nothing of it was stopped, recreated or recorded."""


class UnsafeOldDir(PlanError):
    """An old stack dir that must not be removed: the run is refused before any host changes."""


# -- checks, DNS and facts ---------------------------------------------------------------------


class NoSafeHttpClient(TransportError):
    """The host has no HTTP client that can send request headers off the command line.

    Attributes:
        remedy: what to install on the host.

    """

    def __init__(self, message: str, remedy: str) -> None:
        super().__init__(message)
        self.remedy = remedy


class GpuParseError(HomehubError):
    """nvidia-smi output that cannot be understood."""


class OllamaParseError(HomehubError):
    """An Ollama API answer that is not the documented JSON."""


class ZonePlanError(PlanError):
    """A zone cannot be planned or edited (the message names the file, line or record)."""

    layer = Layer.DNS


class UnsafeZonePlan(ZonePlanError):
    """The plan needs a flag (``--prune``/``--force``) or an inventory change: nothing changed."""


class ZoneRejected(PlanError):
    """named-checkzone or named-checkconf refused the candidate: nothing was replaced."""

    layer = Layer.DNS


class NamedNotRunning(CheckFailed):
    """named does not answer on its control channel: nothing was changed (layer dns)."""

    layer = Layer.DNS


class EdgeNotConverged(CheckFailed):
    """A route through Traefik did not answer as expected within the wait (layer: the cause's)."""

    def __init__(self, message: str, layer: Layer) -> None:
        super().__init__(message)
        self.layer = layer


# --- reports, the engine and the CLI (issue 14, r1) ---------------------------------------------


class ReportError(HomehubError):
    """A report cannot be written, read or validated."""


class ReportSchemaError(ReportError):
    """A report document does not match the published JSON Schema."""


class StageStopped(HomehubError):
    """A gate stopped the run (the report's ``stopped_at`` says which stage and why)."""


class LockHeld(ConfigError):
    """A host's deploy lock is held by another run (exit 2, nothing changed); names the holder."""


class LiteLLMParseError(HomehubError):
    """A LiteLLM proxy answer that is not the JSON its ``/health`` endpoint returns."""
