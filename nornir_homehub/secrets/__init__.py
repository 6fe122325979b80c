"""Secrets as a type: loading (Ansible Vault or environment), holding and redacting them.

A `Secret` never shows its value unless `Secret.reveal` is called; a `SecretStore` is what
`load_secrets` returns; a `Redactor` removes every known value (in every form `secret_patterns`
lists: URL, JSON, hex, base64, wrapped over lines) from text that leaves the process: terminal
output, logs, reports, diffs and exception messages. Text is always redacted before it is cut
(`redact_head`, `redact_tail`). `install_log_redaction` covers the nornir, paramiko and
nornir_homehub loggers; `scrubbed_environ` is the environment of a command run on the
controller.

Ansible Vault files (format 1.1 and 1.2, AES256) are decrypted here with ``cryptography`` so that
Ansible is not needed at run time. Both whole-file vaults and YAML files whose values are
``!vault |`` strings (inline vault) are read.

Modules: `secret` (the `Secret` type), `vault` (Ansible Vault crypto and vault files), `forms`
(the forms a value takes in output), `redact` (the `Redactor`), `registry` (the process-wide
redactors: `redact_all`, `redact_head`, `redact_tail`), `logs` (log redaction), `store`
(`SecretStore`, `load_secrets`, the password lookup, `scrubbed_environ`). Every public name is
importable from ``nornir_homehub.secrets``.
"""

from __future__ import annotations

from nornir_homehub.secrets.forms import b64_fragments, secret_patterns
from nornir_homehub.secrets.logs import REDACTED_LOGGERS, RedactingFilter, install_log_redaction
from nornir_homehub.secrets.redact import Redactor
from nornir_homehub.secrets.registry import (
    active_redactor,
    redact_all,
    redact_head,
    redact_tail,
    register_redactor,
    unregister_redactor,
)
from nornir_homehub.secrets.secret import Secret
from nornir_homehub.secrets.store import (
    ENV_PASSWORD,
    ENV_PASSWORD_FILE,
    ENV_PASSWORD_FILE_ANSIBLE,
    ENV_SECRET_PREFIX,
    SAFE_ENV,
    SecretStore,
    load_secrets,
    load_secrets_for_output,
    scrubbed_environ,
)
from nornir_homehub.secrets.vault import decrypt_vault, encrypt_vault, is_vault, load_vault_file

__all__ = [
    "ENV_PASSWORD",
    "ENV_PASSWORD_FILE",
    "ENV_PASSWORD_FILE_ANSIBLE",
    "ENV_SECRET_PREFIX",
    "REDACTED_LOGGERS",
    "SAFE_ENV",
    "RedactingFilter",
    "Redactor",
    "Secret",
    "SecretStore",
    "active_redactor",
    "b64_fragments",
    "decrypt_vault",
    "encrypt_vault",
    "install_log_redaction",
    "is_vault",
    "load_secrets",
    "load_secrets_for_output",
    "load_vault_file",
    "redact_all",
    "redact_head",
    "redact_tail",
    "register_redactor",
    "scrubbed_environ",
    "secret_patterns",
    "unregister_redactor",
]
