"""One error hierarchy for the whole package.

Every message names what is wrong: the host, file, variable or record involved. The CLI maps
`ConfigError` and `SecretError` to exit code 2 and everything else to exit code 1.
"""

from __future__ import annotations


class HomehubError(Exception):
    """Base class of every error nornir_homehub raises on purpose."""


class ConfigError(HomehubError):
    """Bad configuration or inventory, a bad filter, a bad template variable (exit 2)."""


class SecretError(ConfigError):
    """A secret is missing or the vault cannot be decrypted (exit 2, before any host is touched)."""


class TransportError(HomehubError):
    """SSH connection, authentication, host key or command transport failure."""


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


# --- reports, the engine and the CLI (issue 14, r1) ---------------------------------------------


class ReportError(HomehubError):
    """A report cannot be written, read or validated."""


class ReportSchemaError(ReportError):
    """A report document does not match the published JSON Schema."""


class StageStopped(HomehubError):
    """A gate stopped the run (the report's ``stopped_at`` says which stage and why)."""
