"""DNS host facts: the zone and state files, ``named.conf.local``, named's folder and rndc.

All of them come back in one round trip (`HostConnection.run_batch`); files the zone
``$INCLUDE``s are read in a second one, only when there are any. Also here: the
``named-checkzone`` command and its output, and a DNS answer as the controller reads it
(`parse_answer`). The commands are strings and the parsers pure; the task runs them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import dns.flags
import dns.message
import dns.rcode

from nornir_homehub.codes import EXIT_MISSING
from nornir_homehub.defaults import DEFAULT_NAMED_DIRECTORY, NAMED_CONF_LOCAL
from nornir_homehub.errors import TransportError

if TYPE_CHECKING:
    from nornir_homehub.connection import CommandResult

_MISSING = EXIT_MISSING  # the "file does not exist" branch


def _cat_if_exists(path: str) -> str:
    q = shlex.quote(path)
    return f"if [ -e {q} ]; then cat -- {q}; else exit {_MISSING}; fi"


def dns_fact_commands(
    zone_file: str, state_file: str | None = None, named_conf_local: str = NAMED_CONF_LOCAL
) -> dict[str, str]:
    """Return the batched fact commands (name -> shell command) for a dns host.

    Args:
        zone_file: path of the zone file on the host.
        state_file: path of the state file beside it (which records are managed).
        named_conf_local: path of the local named configuration.

    Returns:
        ``zone_file``, ``state_file`` and ``named_conf_local`` (content, or exit 44 when
        missing), ``named_directory`` (named's ``directory`` option, where relative
        ``$INCLUDE`` paths point) and ``rndc_status`` (``rndc status``: exit 0 when named
        answers on its control channel).

    """
    commands = {
        "zone_file": _cat_if_exists(zone_file),
        "named_conf_local": _cat_if_exists(named_conf_local),
        "named_directory": "named-checkconf -p 2>/dev/null | "
        "sed -n 's/^[[:space:]]*directory \"\\(.*\\)\";/\\1/p' | head -n 1",
        "rndc_status": "rndc status",
    }
    if state_file is not None:
        commands["state_file"] = _cat_if_exists(state_file)
    return commands


def include_fact_commands(paths: list[str]) -> dict[str, str]:
    """Return commands reading each ``$INCLUDE``d file (``include:<path>`` -> command)."""
    return {f"include:{p}": _cat_if_exists(p) for p in paths}


def parse_include_facts(results: Mapping[str, CommandResult]) -> dict[str, str | None]:
    """Return path -> text (None when missing) for the results of `include_fact_commands`.

    Raises:
        TransportError: a file exists but cannot be read.

    """
    return {
        key.removeprefix("include:"): _file(key.removeprefix("include:"), res)
        for key, res in results.items()
    }


@dataclass(frozen=True)
class RndcStatus:
    """What ``rndc status`` said.

    Attributes:
        running: named answered on its control channel.
        version: named's version line, when it answered.
        zones: number of zones named has loaded, when it answered.
        detail: the error text when it did not answer (never a secret: rndc prints none).

    """

    running: bool
    version: str | None = None
    zones: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class DnsFacts:
    """The dns host as the zone task needs it.

    Attributes:
        zone_file: content of the zone file, None when it does not exist.
        named_conf_local: content of ``named.conf.local``, None when it does not exist.
        rndc: whether named answers, and what it says.
        state_file: content of the state file, None when it does not exist.
        named_directory: named's working folder (``options { directory ... }``).

    """

    zone_file: str | None
    named_conf_local: str | None
    rndc: RndcStatus
    state_file: str | None = None
    named_directory: str = DEFAULT_NAMED_DIRECTORY

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (file presence and sizes, not contents)."""
        return {
            "zone_file_exists": self.zone_file is not None,
            "zone_file_bytes": len(self.zone_file.encode()) if self.zone_file is not None else 0,
            "named_conf_local_exists": self.named_conf_local is not None,
            "state_file_exists": self.state_file is not None,
            "named_directory": self.named_directory,
            "rndc": self.rndc.to_dict(),
        }


_VERSION_RE = re.compile(r"^version:\s*(.+)$", re.MULTILINE)
_ZONES_RE = re.compile(r"^number of zones:\s*(\d+)", re.MULTILINE)


def parse_rndc_status(exit_code: int, stdout: str, stderr: str) -> RndcStatus:
    """Parse ``rndc status`` output.

    Returns:
        ``running`` True only when rndc exited 0 and named reported itself up.

    """
    if exit_code != 0 or "server is up and running" not in stdout:
        detail = (stderr or stdout).strip().splitlines()
        return RndcStatus(False, detail="; ".join(detail[-3:]) or f"rndc exited {exit_code}")
    version = _VERSION_RE.search(stdout)
    zones = _ZONES_RE.search(stdout)
    return RndcStatus(
        running=True,
        version=version.group(1).strip() if version else None,
        zones=int(zones.group(1)) if zones else None,
    )


def _file(name: str, res: CommandResult) -> str | None:
    if res.exit_code == _MISSING:
        return None
    if res.exit_code != 0:
        raise TransportError(f"cannot read {name}: {res.stderr.strip() or res.exit_code}")
    return res.stdout


def parse_dns_facts(results: Mapping[str, CommandResult]) -> DnsFacts:
    """Turn the results of `dns_fact_commands` into `DnsFacts`.

    Raises:
        TransportError: a file exists but cannot be read (permissions, I/O).

    """
    rndc = results["rndc_status"]
    state = results.get("state_file")
    directory = results.get("named_directory")
    named_dir = directory.stdout.strip() if directory is not None and directory.ok else ""
    return DnsFacts(
        zone_file=_file("zone file", results["zone_file"]),
        named_conf_local=_file("named.conf.local", results["named_conf_local"]),
        rndc=parse_rndc_status(rndc.exit_code, rndc.stdout, rndc.stderr),
        state_file=_file("state file", state) if state is not None else None,
        named_directory=named_dir if named_dir.startswith("/") else DEFAULT_NAMED_DIRECTORY,
    )


# -- named-checkzone -------------------------------------------------------------------------

_CHECK_LINE = re.compile(r":(\d+):\s*")


def checkzone_command(named_dir: str, zone: str, path: str) -> str:
    """``named-checkzone`` of the zone file at ``path``, run from named's folder.

    ``-k fail -n fail``: refuse what named refuses for a primary zone (bad owner names, in-zone
    NS without an address), not only syntax errors. ``-i local``: check MX/SRV/NS targets
    inside the zone only, as named does, never by looking names up elsewhere. Run from named's
    folder, so a relative ``$INCLUDE`` finds the file named will read.
    """
    return (
        f"cd {shlex.quote(named_dir)} && named-checkzone -k fail -n fail -i local "
        f"{shlex.quote(zone)} {shlex.quote(path)}"
    )


def explain_checkzone(output: str, content: str) -> str:
    """Name the record of each ``file:LINE:`` in named-checkzone output (one line, ``; ``)."""
    lines = content.splitlines()
    out = []
    for raw in output.strip().splitlines():
        match = _CHECK_LINE.search(raw)
        if match and 0 < int(match.group(1)) <= len(lines):
            number = int(match.group(1))
            out.append(f"line {number} `{lines[number - 1].strip()}`: {raw[match.end() :]}")
        else:
            out.append(raw)
    return "; ".join(out)


def replace_with_backup_command(path: str, new: str | None = None) -> str:
    """Keep ``path`` as ``path.bak`` (when it exists), then move ``new`` over it (if given).

    The copy goes to ``.bak.part`` first and is renamed: an interrupted copy never replaces
    the last good backup.
    """
    q = shlex.quote(path)
    bak, part = shlex.quote(path + ".bak"), shlex.quote(path + ".bak.part")
    keep = f"if [ -e {q} ]; then cp -p -- {q} {part} && mv -fT -- {part} {bak}; fi"
    return keep if new is None else f"{keep} && mv -fT -- {shlex.quote(new)} {q}"


# -- answers from the dns host ---------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One authoritative-style answer from the dns host."""

    rcode: str
    authoritative: bool
    values: tuple[str, ...]
    error: str = ""


def query_message(name: str, rdtype: str) -> dns.message.Message:
    """The question for ``name``/``rdtype``, no recursion desired (the host is authoritative)."""
    msg = dns.message.make_query(name, rdtype)
    msg.flags &= ~dns.flags.RD
    return msg


def parse_answer(question: dns.message.Message, response: dns.message.Message) -> Answer:
    """The rcode, AA flag and rdata (names absolute, sorted) answering ``question``."""
    asked = question.question[0]
    values = [
        rd.to_text()
        for rrset in response.answer
        if rrset.rdtype == asked.rdtype and rrset.name == asked.name
        for rd in rrset
    ]
    return Answer(
        rcode=dns.rcode.to_text(response.rcode()),
        authoritative=bool(response.flags & dns.flags.AA),
        values=tuple(sorted(values)),
    )


def no_answer(exc: BaseException) -> Answer:
    """The `Answer` when nothing came back (timeout, network error): rcode ``NOANSWER``."""
    return Answer("NOANSWER", False, (), f"{type(exc).__name__}: {exc}".rstrip(": "))


def answer_serial(answer: Answer) -> int | None:
    """The SOA serial of an authoritative NOERROR answer to a SOA question, else None."""
    if answer.rcode != "NOERROR" or not answer.authoritative or not answer.values:
        return None
    return int(answer.values[0].split()[2])
