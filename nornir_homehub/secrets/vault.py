"""Ansible Vault: decrypt and encrypt payloads (format 1.1 and 1.2, AES256), read vault files.

Decrypted here with ``cryptography`` so that Ansible is not needed at run time. Both whole-file
vaults and YAML files whose values are ``!vault |`` strings (inline vault) are read.
"""

from __future__ import annotations

import binascii
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from nornir_homehub.errors import SecretError
from nornir_homehub.secrets.secret import Secret

__all__ = [
    "AnsibleYamlLoader",
    "InlineVault",
    "decrypt_vault",
    "encrypt_vault",
    "is_vault",
    "load_vault_file",
]

# The package's logger, as before the split into modules.
logger = logging.getLogger(__package__)

_VAULT_MAGIC = "$ANSIBLE_VAULT"
_KDF_ITERATIONS = 10000
_KEY_LEN = 32
_IV_LEN = 16
_SALT_LEN = 32


@dataclass(frozen=True)
class _Envelope:
    version: str
    vault_id: str | None
    salt: bytes
    mac: bytes
    ciphertext: bytes


def is_vault(data: bytes | str) -> bool:
    """Return True when ``data`` starts with an Ansible Vault header."""
    head = data.lstrip()[: len(_VAULT_MAGIC)]
    return (head.decode("ascii", "replace") if isinstance(head, bytes) else head) == _VAULT_MAGIC


def _parse_envelope(text: str, source: str) -> _Envelope:
    lines = [line.strip() for line in text.strip().splitlines()]
    header = [part.strip() for part in lines[0].split(";")] if lines else []
    if len(header) < 3 or header[0] != _VAULT_MAGIC:
        raise SecretError(f"{source} is not an Ansible Vault (no $ANSIBLE_VAULT header)")
    version, cipher = header[1], header[2]
    if version not in ("1.1", "1.2"):
        raise SecretError(f"{source}: unsupported Ansible Vault format version {version!r}")
    if cipher != "AES256":
        raise SecretError(f"{source}: unsupported Ansible Vault cipher {cipher!r} (need AES256)")
    vault_id = header[3] if version == "1.2" and len(header) > 3 else None
    try:
        inner = binascii.unhexlify("".join(lines[1:]))
        salt_hex, mac_hex, ct_hex = inner.split(b"\n", 2)
        return _Envelope(
            version=version,
            vault_id=vault_id,
            salt=binascii.unhexlify(salt_hex),
            mac=binascii.unhexlify(mac_hex),
            ciphertext=binascii.unhexlify(ct_hex),
        )
    except (binascii.Error, ValueError):
        raise SecretError(f"{source}: Ansible Vault payload is damaged (not valid hex)") from None


def _derive_keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=2 * _KEY_LEN + _IV_LEN,
        salt=salt,
        iterations=_KDF_ITERATIONS,
    )
    key = kdf.derive(password)
    return key[:_KEY_LEN], key[_KEY_LEN : 2 * _KEY_LEN], key[2 * _KEY_LEN :]


def _password_bytes(password: str | bytes | Secret) -> bytes:
    if isinstance(password, Secret):
        password = password.reveal()
    raw = password.encode() if isinstance(password, str) else password
    # ansible-vault strips surrounding whitespace from passwords read from files.
    return raw.strip()


def decrypt_vault(
    data: bytes | str, password: str | bytes | Secret, *, source: str = "vault data"
) -> bytes:
    """Decrypt one Ansible Vault payload (``$ANSIBLE_VAULT;1.1|1.2;AES256``).

    Args:
        data: the vault text, header line included.
        password: the vault password (surrounding whitespace is ignored, as ansible-vault does).
        source: what to name in error messages, e.g. the file and key.

    Returns:
        The plaintext bytes.

    Raises:
        SecretError: the data is not a vault, is damaged, or the password is wrong. The message
            names ``source``, never the password or the plaintext.

    """
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    env = _parse_envelope(text, source)
    key1, key2, iv = _derive_keys(_password_bytes(password), env.salt)
    mac = crypto_hmac.HMAC(key2, hashes.SHA256())
    mac.update(env.ciphertext)
    try:
        mac.verify(env.mac)  # constant-time comparison
    except InvalidSignature:
        label = f" (vault id {env.vault_id!r})" if env.vault_id else ""
        raise SecretError(f"wrong vault password for {source}{label}") from None
    decryptor = Cipher(algorithms.AES(key1), modes.CTR(iv)).decryptor()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        padded = decryptor.update(env.ciphertext) + decryptor.finalize()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise SecretError(f"{source}: Ansible Vault payload is damaged (bad padding)") from None


def encrypt_vault(plaintext: bytes, password: str | bytes | Secret) -> str:
    """Encrypt ``plaintext`` as an Ansible Vault 1.1 AES256 payload.

    The result is what ``ansible-vault encrypt`` writes; `decrypt_vault` and
    ``ansible-vault view`` read it back.

    Args:
        plaintext: the bytes to protect (e.g. a YAML mapping of secrets).
        password: the vault password (surrounding whitespace is ignored, as ansible-vault does).

    Returns:
        The vault text: the ``$ANSIBLE_VAULT;1.1;AES256`` header and 80-column hex lines.
    """
    salt = os.urandom(_SALT_LEN)
    key1, key2, iv = _derive_keys(_password_bytes(password), salt)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key1), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = crypto_hmac.HMAC(key2, hashes.SHA256())
    mac.update(ciphertext)
    inner = b"\n".join(binascii.hexlify(part) for part in (salt, mac.finalize(), ciphertext))
    body = binascii.hexlify(inner).decode("ascii")
    lines = [body[i : i + 80] for i in range(0, len(body), 80)]
    return "\n".join([f"{_VAULT_MAGIC};1.1;AES256", *lines]) + "\n"


class InlineVault(str):
    """An inline ``!vault |`` value read from YAML: its ciphertext (`decrypt_vault` opens it)."""

    __slots__ = ()


class AnsibleYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's ``!vault`` (as `InlineVault`) and ``!unsafe`` tags."""


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> InlineVault:
    return InlineVault(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


AnsibleYamlLoader.add_constructor("!vault", _construct_vault)
AnsibleYamlLoader.add_constructor("!unsafe", _construct_unsafe)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=AnsibleYamlLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        # The YAML error text quotes the document, which here holds secrets: keep only the place.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SecretError(f"{source} is not valid YAML{where}") from None


def display_path(path: Path) -> str:
    """``path`` as messages show it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _scalar(value: Any, key: str, source: str) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is not None:
        # Operators' vaults may hold structured values this tool does not use: skip, not fail.
        logger.warning(
            "%s: skipping %r, a %s; secrets must be strings", source, key, type(value).__name__
        )
    return None


def _parse_vault_mapping(
    text: str, source: str, password: Callable[[], bytes] | None
) -> dict[str, str]:
    doc = _load_yaml(text, source)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SecretError(f"{source} must hold a YAML mapping of secret names to values")
    out: dict[str, str] = {}
    for key, raw in doc.items():
        name = str(key)
        value: Any = raw
        if isinstance(raw, InlineVault):
            if password is None:
                raise SecretError(
                    f"{source}: {name!r} is vault-encrypted but no password was given"
                )
            plain = decrypt_vault(raw, password(), source=f"{source} (key {name!r})")
            value = plain.decode("utf-8", "surrogateescape")
        scalar = _scalar(value, name, source)
        if scalar is not None:
            out[name] = scalar
    return out


def load_vault_file(
    path: Path, password: str | bytes | Secret | Callable[[], str | bytes | Secret] | None
) -> dict[str, str]:
    """Read a secrets file: a whole-file vault, a YAML file with ``!vault`` values, or plain YAML.

    Args:
        path: the file.
        password: the vault password, or a callable returning it (called only if the file holds
            encrypted data), or None when no password is available.

    Returns:
        Secret name -> plaintext value (scalars converted to str; null values dropped).

    Raises:
        SecretError: unreadable file, wrong password, damaged vault, not a mapping, or encrypted
            data with no password.

    """
    source = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretError(f"cannot read vault file {source}: {exc.strerror}") from None

    cached: list[bytes] = []

    def get_password() -> bytes:
        if not cached:
            pw = password() if callable(password) else password
            if pw is None:
                raise SecretError(f"vault file {source} is encrypted but no password was given")
            cached.append(_password_bytes(pw))
        return cached[0]

    have_password = password is not None
    if is_vault(data):
        if not have_password:
            raise SecretError(f"vault file {source} is encrypted but no password was given")
        plain = decrypt_vault(data, get_password(), source=source)
        text = plain.decode("utf-8", "surrogateescape")
    else:
        text = data.decode("utf-8", "surrogateescape")
    return _parse_vault_mapping(text, source, get_password if have_password else None)
