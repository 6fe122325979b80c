"""Talking to named on the dns host: queries from the controller, and the steps that install a zone.

Queries go from the controller straight to the dns host (UDP, no recursion), after the same
address checks as SSH (`dns_address`). The install steps run over the host's connection in the
order that keeps failures harmless (`apply_zone`): the candidate zone is checked with
``named-checkzone`` next to the zone file, the stanza is installed (``named-checkconf`` must
pass, else the old file is put back), then the candidate replaces the zone file, the state
file is written, and named is told with rndc. The commands and their parsers are
`facts.dns`; what to tell named is `plan.named`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dns.exception
import dns.query

from nornir_homehub import safety
from nornir_homehub.connection_options import SSH_PLUGIN
from nornir_homehub.defaults import NAMED_CONF_LOCAL
from nornir_homehub.errors import CheckFailed, PlanError, ZoneRejected
from nornir_homehub.facts.dns import (
    Answer,
    DnsFacts,
    answer_serial,
    checkzone_command,
    explain_checkzone,
    include_fact_commands,
    no_answer,
    parse_answer,
    parse_include_facts,
    query_message,
    replace_with_backup_command,
)
from nornir_homehub.plan.zonefile import MAX_INCLUDE_DEPTH, parse_zone_file

if TYPE_CHECKING:
    from nornir.core.inventory import Host

    from nornir_homehub.connection import HostConnection
    from nornir_homehub.plan.zoneplan import ZonePlan
    from nornir_homehub.plan.zonespec import ZoneSpec

ZONE_OWNER = "root"
ZONE_GROUP = "bind"  # Debian's bind9 runs named as bind; /etc/bind is root:bind
DEFAULT_QUERY_TIMEOUT = 2.0

# -- queries from the controller -------------------------------------------------------------


def dns_address(host: Host) -> str:
    """Return the IP address to query for ``host``, after the same safety checks as SSH.

    Raises:
        UnsafeDestination: outside ``HOMEHUB_ALLOWED_NETWORKS`` or not on the lab bridge.

    """
    address = safety.resolve(str(host.hostname))
    safety.check_allowed(host.name, address)
    opts = host.connection_options.get(SSH_PLUGIN)
    bridge = (opts.extras or {}).get("lab_bridge") if opts else None
    if bridge:
        safety.check_route(host.name, address, str(bridge))
    return address


def query(address: str, name: str, rdtype: str, *, port: int, timeout: float) -> Answer:
    """Ask ``address`` for ``name``/``rdtype`` over UDP (no recursion desired).

    Returns:
        rcode text, AA flag and the answer's rdata (names absolute); ``error`` is set when
        no answer came (timeout, network error) and ``rcode`` is then ``NOANSWER``.

    """
    msg = query_message(name, rdtype)
    try:
        resp = dns.query.udp(msg, address, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError) as exc:
        return no_answer(exc)
    return parse_answer(msg, resp)


def served_serial(address: str, zone: str, *, port: int, timeout: float) -> int | None:
    """Return the SOA serial ``address`` serves authoritatively for ``zone``, or None."""
    return answer_serial(query(address, zone + ".", "SOA", port=port, timeout=timeout))


def wait_for_serial(
    address: str, zone: str, serial: int, *, port: int, timeout: float, host: str
) -> int:
    """Poll the SOA until ``serial`` is served (``rndc reload`` only queues the reload).

    Raises:
        CheckFailed: the serial is not served within ``timeout`` seconds.

    """
    deadline = time.monotonic() + timeout
    seen: int | None = None
    while True:
        seen = served_serial(address, zone, port=port, timeout=min(1.0, timeout))
        if seen == serial:
            return serial
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{host}: named still serves serial {seen} for {zone} after {timeout:.0f}s "
                f"(expected {serial}); check `rndc zonestatus {zone}` and named's log"
            )
        time.sleep(0.2)


# -- reading the zone's includes -------------------------------------------------------------


def read_includes(conn: HostConnection, spec: ZoneSpec, facts: DnsFacts) -> dict[str, str]:
    """Read the files the zone ``$INCLUDE``s (nested ones too), one round trip per level."""
    texts: dict[str, str] = {}
    if facts.zone_file is None or "$include" not in facts.zone_file.lower():
        return texts
    missing: set[str] = set()
    for _ in range(MAX_INCLUDE_DEPTH):
        try:
            zf = parse_zone_file(
                facts.zone_file,
                spec.zone,
                includes=texts,
                include_dir=facts.named_directory,
                source=spec.zone_file,
            )
        except PlanError:
            return texts  # plan_zone reports the parse error with the includes it has
        wanted = [p for p in zf.missing_includes if p not in missing]
        if not wanted:
            break
        for path, text in parse_include_facts(
            conn.run_batch(include_fact_commands(wanted))
        ).items():
            if text is None:
                missing.add(path)
            else:
                texts[path] = text
    return texts


# -- installing the zone ---------------------------------------------------------------------


def _check_candidate(conn: HostConnection, host: str, plan: ZonePlan, named_dir: str) -> str:
    """Upload the candidate zone next to the zone file and run named-checkzone on it."""
    folder, base = plan.zone_file.rsplit("/", 1)
    candidate = f"{folder}/.{base}.candidate"
    conn.put_file(candidate, plan.content.encode(), mode=0o644, owner=ZONE_OWNER, group=ZONE_GROUP)
    res = conn.run(checkzone_command(named_dir, plan.zone, candidate))
    if not res.ok:
        conn.run(f"rm -f -- {shlex.quote(candidate)}")
        detail = explain_checkzone(res.stdout + res.stderr, plan.content)
        raise ZoneRejected(
            f"{host}: named-checkzone rejected the candidate zone {plan.zone} "
            f"(nothing replaced, named not reloaded): {detail}"
        )
    return candidate


def _install_stanza(conn: HostConnection, host: str, new_conf: str, existed: bool) -> None:
    """Replace named.conf.local atomically; put the old one back if named-checkconf fails."""
    q = shlex.quote(NAMED_CONF_LOCAL)
    bak = shlex.quote(NAMED_CONF_LOCAL + ".bak")
    if existed:
        # Copy, then rename: an interrupted copy never replaces the last good backup.
        part = shlex.quote(NAMED_CONF_LOCAL + ".bak.part")
        conn.run(f"cp -p -- {q} {part} && mv -fT -- {part} {bak}", check=True)
    conn.put_file(
        NAMED_CONF_LOCAL, new_conf.encode(), mode=0o644, owner=ZONE_OWNER, group=ZONE_GROUP
    )
    res = conn.run("named-checkconf")
    if not res.ok:
        restore = f"mv -f -- {bak} {q}" if existed else f"rm -f -- {q}"
        conn.run(restore, check=True)
        raise ZoneRejected(
            f"{host}: named-checkconf failed with the zone stanza added to {NAMED_CONF_LOCAL} "
            f"(previous file restored, named not reloaded): {(res.stdout + res.stderr).strip()}"
        )


def _rndc(conn: HostConnection, host: str, args: str) -> None:
    res = conn.run(f"rndc {args}")
    if not res.ok:
        raise CheckFailed(
            f"{host}: `rndc {args}` failed: {(res.stderr or res.stdout).strip()}; "
            "check named's log and `rndc status`"
        )


def apply_zone(
    conn: HostConnection,
    host: str,
    plan: ZonePlan,
    *,
    new_conf: str | None,
    facts: DnsFacts,
    actions: Sequence[str],
) -> None:
    """Validate, install and tell named, in the order that keeps failures harmless.

    Raises:
        ZoneRejected: named-checkzone or named-checkconf refused (nothing replaced).
        CheckFailed: an rndc command failed.

    """
    candidate = (
        _check_candidate(conn, host, plan, facts.named_directory) if plan.zone_changed else None
    )
    if new_conf is not None:
        try:
            _install_stanza(conn, host, new_conf, facts.named_conf_local is not None)
        except PlanError:
            if candidate:
                conn.run(f"rm -f -- {shlex.quote(candidate)}")
            raise
    if candidate:
        conn.run(replace_with_backup_command(plan.zone_file, candidate), check=True)
    else:
        res = conn.run("named-checkconf")
        if not res.ok:
            detail = (res.stdout + res.stderr).strip()
            raise ZoneRejected(f"{host}: named-checkconf failed (named not reloaded): {detail}")
    if plan.state_changed:
        # After the zone file it describes: a run that dies in between leaves records the
        # next run simply adopts, never a state claiming records the zone does not have.
        conn.put_file(
            plan.state_file,
            plan.state_content.encode(),
            mode=0o644,
            owner=ZONE_OWNER,
            group=ZONE_GROUP,
        )
    for action in actions:
        _rndc(conn, host, action)
