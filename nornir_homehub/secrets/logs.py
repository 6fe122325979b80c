"""Log redaction: a filter for records, installed on the nornir, paramiko and own loggers."""

from __future__ import annotations

import logging
import threading
from typing import Any

from nornir_homehub.secrets.redact import Redactor
from nornir_homehub.secrets.registry import redact_all

__all__ = ["REDACTED_LOGGERS", "RedactingFilter", "install_log_redaction"]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secret values from records (message, args, traceback).

    The record's message is formatted, redacted and stored back with no args, so handlers
    and formatters further down never see a value.

    Args:
        redactor: the redactor to use; None uses every registered redactor (`redact_all`)
            at the time each record is logged.

    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text) if self._redactor is not None else redact_all(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self._redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


# Loggers whose records may carry task errors, commands or remote output.
REDACTED_LOGGERS = ("nornir", "paramiko", "nornir_homehub")
_log_filter = RedactingFilter()
_factory_lock = threading.Lock()
_factory_installed = False


def _redacted_namespace(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in REDACTED_LOGGERS)


def install_log_redaction() -> None:
    """Redact every record of the nornir, paramiko and nornir_homehub loggers (idempotent).

    The `RedactingFilter` is attached to those loggers and to their handlers (Nornir's own
    log file included, once it is configured); and, because a logger's filters do not see
    records of its child loggers (``nornir.core.task`` logs task errors), records of those
    namespaces are redacted when they are created, through the log record factory.
    """
    global _factory_installed  # noqa: PLW0603 - the record factory is process-wide
    with _factory_lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                if _redacted_namespace(record.name):
                    _log_filter.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _factory_installed = True
    for name in REDACTED_LOGGERS:
        log = logging.getLogger(name)
        targets: list[logging.Filterer] = [log, *log.handlers]
        for target in targets:
            if _log_filter not in target.filters:
                target.addFilter(_log_filter)
