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
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import hmac
import logging
import os
import re
import secrets as _stdlib_secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from nornir_homehub.errors import SecretError

if TYPE_CHECKING:
    from nornir_homehub.config import Settings

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
    "decrypt_vault",
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

logger = logging.getLogger(__name__)

# Names of environment variables, not secrets.
ENV_SECRET_PREFIX = "HOMEHUB_SECRET_"  # noqa: S105
ENV_PASSWORD = "HOMEHUB_VAULT_PASSWORD"  # noqa: S105
ENV_PASSWORD_FILE = "HOMEHUB_VAULT_PASSWORD_FILE"  # noqa: S105
ENV_PASSWORD_FILE_ANSIBLE = "ANSIBLE_VAULT_PASSWORD_FILE"  # noqa: S105

_VAULT_MAGIC = "$ANSIBLE_VAULT"
_KDF_ITERATIONS = 10000
_KEY_LEN = 32
_IV_LEN = 16
_SALT_LEN = 32

# One random key per process: masked values compare equal within a run (so diffs stay
# meaningful) but the marker cannot be brute-forced offline from a saved report.
_MASK_KEY = _stdlib_secrets.token_bytes(32)


# --------------------------------------------------------------------------- Secret


class Secret:
    """A named secret value that never shows itself.

    ``repr``, ``str`` and ``format`` give ``<secret NAME>``; `reveal` is the only way to the
    value. A secret equals another secret with the same name and value; comparing it with a
    plain string raises `TypeError` (compare ``reveal()`` explicitly). It cannot be pickled and
    ``json.dumps`` refuses it (or writes the marker with ``default=str``).

    Args:
        name: the secret's name, e.g. ``vault_qdrant_api_key`` (not secret itself).
        value: the secret value.

    """

    __slots__ = ("_name", "_value")

    _name: str
    _value: str

    def __init__(self, name: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"secret {name!r}: value must be a str, not {type(value).__name__}")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_value", value)

    @property
    def name(self) -> str:
        """The secret's name."""
        return self._name

    def reveal(self) -> str:
        """Return the value. Call it only where the value is really needed (rendering, auth)."""
        return self._value

    def marker(self) -> str:
        """Return the text shown instead of the value: ``<secret NAME>``."""
        return f"<secret {self._name}>"

    def __repr__(self) -> str:
        return self.marker()

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return format(self.marker(), format_spec)

    def __setattr__(self, key: str, value: Any) -> NoReturn:
        raise AttributeError(f"secret {self._name!r} is immutable")

    def __delattr__(self, key: str) -> NoReturn:
        raise AttributeError(f"secret {self._name!r} is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._name == other._name and hmac.compare_digest(
                self._value.encode(), other._value.encode()
            )
        if isinstance(other, str | bytes):
            raise TypeError(
                f"comparing secret {self._name!r} with a plain string; use .reveal() explicitly"
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(("Secret", self._name))

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


# --------------------------------------------------------------------------- Ansible Vault


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


class _InlineVault:
    """A ``!vault |`` value found while loading YAML, decrypted after loading."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return "<inline vault>"


class _VaultYamlLoader(yaml.SafeLoader):
    """SafeLoader that understands Ansible's ``!vault`` and ``!unsafe`` tags."""


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> _InlineVault:
    return _InlineVault(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_VaultYamlLoader.add_constructor("!vault", _construct_vault)
_VaultYamlLoader.add_constructor("!unsafe", _construct_unsafe)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_VaultYamlLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        # The YAML error text quotes the document, which here holds secrets: keep only the place.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SecretError(f"{source} is not valid YAML{where}") from None


def _display(path: Path) -> str:
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
        if isinstance(raw, _InlineVault):
            if password is None:
                raise SecretError(
                    f"{source}: {name!r} is vault-encrypted but no password was given"
                )
            plain = decrypt_vault(raw.text, password(), source=f"{source} (key {name!r})")
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
    source = _display(path)
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


# --------------------------------------------------------------------------- Redaction


# A line break inside a value, as a wrapped line shows it: LF or CRLF, then any indentation.
_BREAK = re.compile(r"\r?\n[ \t]*")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
# Short base64 fragments would match ordinary text; a fragment of 8+ characters is specific.
_MIN_B64 = 8


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``, lone surrogates (from undecodable input) included."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _any_case_hex(digits: str) -> str:
    """Regex matching the hex ``digits`` in upper, lower or mixed case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char_pattern(char: str, *, in_break: bool) -> str:
    """Regex for one character of a value, raw or escaped as URL or JSON text would escape it.

    ``in_break``: the character belongs to a line break of the value itself (newline plus the
    indentation after it); redaction searches text with line breaks removed, so there the raw
    character is matched by nothing.
    """
    alts = ["" if in_break else re.escape(char)]
    alts.append("".join("%" + _any_case_hex(f"{b:02X}") for b in _utf8(char)))
    if char == " ":
        alts.append(r"\+")
    if char in _JSON_SHORT:
        alts.append(re.escape(_JSON_SHORT[char]))
    code = ord(char)
    units = (
        [code] if code <= 0xFFFF else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    alts.append("".join(r"\\u" + _any_case_hex(f"{u:04X}") for u in units))
    return "(?:" + "|".join(alts) + ")"


def _text_pattern(value: str) -> str:
    """Regex for ``value`` raw, URL-encoded (any case, ``+`` for space) or JSON-escaped."""
    out = []
    in_break = False
    for char in value:
        if char == "\n":
            in_break = True
        elif char not in " \t\r":
            in_break = False
        out.append(_char_pattern(char, in_break=in_break and char in "\n\r \t"))
    return "".join(out)


def b64_fragments(raw: bytes) -> list[str]:
    """Base64 text that encodes ``raw`` wherever it sits in a longer blob (3 alignments).

    For each of the three byte offsets modulo 3, the characters fully determined by ``raw``
    alone; standard and URL-safe alphabets. Fragments shorter than 8 characters are left out
    (they would match ordinary text).
    """
    out: list[str] = []
    for prefix in range(3):
        enc = base64.b64encode(b"\0" * prefix + raw).decode()
        start = -(-8 * prefix // 6)
        end = (8 * (prefix + len(raw))) // 6
        fragment = enc[start:end]
        if len(fragment) >= _MIN_B64:
            for form in (fragment, fragment.replace("+", "-").replace("/", "_")):
                if form not in out:
                    out.append(form)
    return out


def secret_patterns(value: str) -> list[str]:
    """Regexes matching every form ``value`` takes in output, once line breaks are removed.

    Raw; URL-encoded (upper, lower or mixed case hex; ``+`` or ``%20`` for a space);
    JSON-escaped (short escapes and ``uXXXX`` escapes); hex of its UTF-8 bytes (any case); base64
    at all three alignments, standard and URL-safe, with the padding that may follow. A value
    wrapped over lines is matched by searching text with its line breaks removed (`Redactor`).
    """
    raw = _utf8(value)
    patterns = [_text_pattern(value), "(?i:" + raw.hex() + ")"]
    patterns += [re.escape(f) + "={0,2}" for f in b64_fragments(raw)]
    return patterns


def _unbroken(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` without line breaks, and where each kept piece starts in both texts."""
    joined_starts = [0]
    orig_starts = [0]
    pieces = []
    pos = 0
    for m in _BREAK.finditer(text):
        pieces.append(text[pos : m.start()])
        pos = m.end()
        joined_starts.append(joined_starts[-1] + len(pieces[-1]))
        orig_starts.append(pos)
    pieces.append(text[pos:])
    return "".join(pieces), joined_starts, orig_starts


_ASSIGNMENT = re.compile(
    r"""^(?P<lead>[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?["']?)
        (?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<q>["']?)
        (?P<sep>[ \t]*=[ \t]*|[ \t]*:[ \t]+)
        (?P<value>.*?)(?P<trail>[ \t]*\r?)$""",
    re.MULTILINE | re.VERBOSE,
)


def _mask_value(value: str) -> str:
    digest = hmac.new(_MASK_KEY, value.encode("utf-8", "surrogateescape"), "sha256").hexdigest()
    return f"<secret sha256:{digest[:8]}>"


class Redactor:
    """Replaces known secret values in text with ``<secret NAME>`` markers.

    Every form `secret_patterns` lists is replaced: raw, URL-encoded (any case), JSON-escaped,
    hex, base64 at every alignment (also inside a longer blob), and any of them wrapped over
    lines (a line break, optionally CRLF and indented, at any position). Longer values are
    tried first, so a secret that contains another is hidden whole. A match that spans line
    breaks is replaced whole, breaks included.

    Args:
        secrets: the secrets to hide. Empty values are ignored (there is nothing to hide).

    """

    __slots__ = ("_count", "_names", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._secrets: tuple[Secret, ...] = tuple(secrets)
        names: list[str] = []
        groups: list[str] = []
        seen: set[str] = set()
        for secret in sorted(self._secrets, key=lambda s: (-len(s.reveal()), s.name)):
            value = secret.reveal()
            if not value or value in seen:
                continue
            seen.add(value)
            groups.append(f"(?P<s{len(names)}>{'|'.join(secret_patterns(value))})")
            names.append(secret.name)
        self._names = names
        self._count = len({s.name for s in self._secrets if s.reveal()})
        self._pattern = re.compile("|".join(groups)) if groups else None

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The secrets this redactor hides."""
        return self._secrets

    def __repr__(self) -> str:
        return f"<Redactor of {self._count} secrets>"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Redactor holds secret values and cannot be pickled")

    def __bool__(self) -> bool:
        return self._pattern is not None

    def _marker(self, m: re.Match[str]) -> str:
        return f"<secret {self._names[int((m.lastgroup or 's0')[1:])]}>"

    def redact(self, text: str) -> str:
        """Return ``text`` with every form of every known secret replaced by ``<secret NAME>``."""
        if self._pattern is None or not text:
            return text
        if "\n" not in text:
            return self._pattern.sub(self._marker, text)
        joined, joined_starts, orig_starts = _unbroken(text)

        def original(pos: int) -> int:
            i = bisect.bisect_right(joined_starts, pos) - 1
            return orig_starts[i] + pos - joined_starts[i]

        out: list[str] = []
        last = 0
        for m in self._pattern.finditer(joined):
            if m.end() == m.start():
                continue
            start, end = original(m.start()), original(m.end() - 1) + 1
            out.append(text[last:start])
            out.append(self._marker(m))
            last = end
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def head(self, text: str, limit: int) -> str:
        """Redact ``text``, then keep its first ``limit`` characters (never cut, then redact)."""
        return self.redact(text)[:limit]

    def tail(self, text: str, limit: int) -> str:
        """Redact ``text``, then keep its last ``limit`` characters."""
        redacted = self.redact(text)
        return redacted[-limit:] if limit > 0 else ""

    def redact_obj(self, obj: Any) -> Any:  # noqa: PLR0911 - one return per type
        """Return a copy of ``obj`` with strings redacted, walking dicts, lists, tuples and sets.

        Dict keys are redacted too; `Secret` objects become their marker; bytes are redacted as
        UTF-8; other values are returned unchanged.
        """
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Secret):
            return obj.marker()
        if isinstance(obj, bytes):
            return self.redact(obj.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
        if isinstance(obj, Mapping):
            return {self.redact_obj(k): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.redact_obj(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(v) for v in obj)
        if isinstance(obj, set | frozenset):
            return type(obj)(self.redact_obj(v) for v in obj)
        return obj

    def mask_assignments(self, text: str, keys: Iterable[str] | None = None) -> str:
        """Mask the values of ``KEY=VALUE`` and ``key: value`` lines (all, or those of ``keys``).

        Each masked value becomes ``<secret sha256:XXXXXXXX>`` (HMAC-SHA256 under a key made once
        per process), so in a diff of an old and a new file a changed secret shows as a changed
        line and an unchanged one as unchanged, without showing either value. Quotes around the
        value are kept. ``export KEY=``, ``- KEY=`` (compose lists) and quoted keys are matched.
        The result is also passed through `redact`.

        Args:
            text: the file content (an env file, compose or YAML config).
            keys: names of the keys whose values are secret (case-sensitive); None masks every
                assignment (a secret env file: a key removed from the inventory is no longer
                known as secret, but its old value still is one).

        Returns:
            The masked text.

        """
        wanted = None if keys is None else frozenset(keys)

        def repl(m: re.Match[str]) -> str:
            if (wanted is not None and m.group("key") not in wanted) or not m.group("value"):
                return m.group(0)
            value = m.group("value")
            pre = value[0] if value[0] in "\"'" else ""
            post = value[-1] if len(value) > len(pre) and value[-1] in "\"'" else ""
            masked = f"{pre}{_mask_value(value)}{post}"
            return f"{m.group('lead')}{m.group('key')}{m.group('q')}{m.group('sep')}{masked}" + (
                m.group("trail")
            )

        masked_text = _ASSIGNMENT.sub(repl, text) if wanted is None or wanted else text
        return self.redact(masked_text)


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


# --------------------------------------------------------------------------- logging

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
    shown = _display(path)
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
    tried = f" ({_display(configured)} does not exist)" if configured is not None else ""
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
        shown = _display(vault)
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
            reason = f"the vault file {_display(vault)} does not exist"
        else:
            return store, None
    return store, (
        f"{reason}: only the values known without it ({ENV_SECRET_PREFIX}* variables) are "
        "redacted from this command's output"
    )
