"""The `Redactor`: replace known secret values in text with ``<secret NAME>`` markers."""

from __future__ import annotations

import hmac
import re
import secrets as _stdlib_secrets
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from nornir_homehub.secrets.forms import secret_patterns, unbroken
from nornir_homehub.secrets.secret import Secret

__all__ = ["Redactor"]

# One random key per process: masked values compare equal within a run (so diffs stay
# meaningful) but the marker cannot be brute-forced offline from a saved report.
_MASK_KEY = _stdlib_secrets.token_bytes(32)

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
        joined = unbroken(text)
        out: list[str] = []
        last = 0
        for m in self._pattern.finditer(joined.text):
            if m.end() == m.start():
                continue
            start, end = joined.original(m.start()), joined.original(m.end() - 1) + 1
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
