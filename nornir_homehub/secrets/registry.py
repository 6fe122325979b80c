"""The process-wide set of redactors: what `redact_all`, `redact_head` and `redact_tail` use."""

from __future__ import annotations

import threading

from nornir_homehub.secrets.redact import Redactor

__all__ = [
    "active_redactor",
    "redact_all",
    "redact_head",
    "redact_tail",
    "register_redactor",
    "unregister_redactor",
]

# Every store loaded in this process registers its redactor here, so that reports, logs and
# the CLI's error printer hide all secrets without each caller holding the store.
_registry_lock = threading.Lock()
_registry: list[Redactor] = []
_combined: Redactor | None = None


def register_redactor(redactor: Redactor) -> None:
    """Add ``redactor`` to the process-wide set used by `redact_all` (idempotent)."""
    global _combined  # noqa: PLW0603 - a process-wide registry is the point
    with _registry_lock:
        if not any(r is redactor for r in _registry):
            _registry.append(redactor)
            _combined = None
    # Imported here: the log filter redacts through this registry (logs imports registry).
    from nornir_homehub.secrets.logs import install_log_redaction

    install_log_redaction()


def unregister_redactor(redactor: Redactor) -> None:
    """Remove ``redactor`` from the process-wide set (no error if absent)."""
    global _combined  # noqa: PLW0603
    with _registry_lock:
        _registry[:] = [r for r in _registry if r is not redactor]
        _combined = None


def active_redactor() -> Redactor:
    """Return one redactor hiding the secrets of every registered redactor."""
    global _combined  # noqa: PLW0603
    with _registry_lock:
        if _combined is None:
            _combined = Redactor(s for r in _registry for s in r.secrets)
        return _combined


def redact_all(text: str) -> str:
    """Redact ``text`` with every secret loaded in this process."""
    return active_redactor().redact(text)


def redact_head(text: str, limit: int) -> str:
    """Redact ``text`` with every loaded secret, then keep its first ``limit`` characters.

    Text is always redacted before it is cut: cut first, the start or end of a secret would
    survive without the rest that the redactor recognises.
    """
    return active_redactor().head(text, limit)


def redact_tail(text: str, limit: int) -> str:
    """Redact ``text`` with every loaded secret, then keep its last ``limit`` characters."""
    return active_redactor().tail(text, limit)
