"""Deploy and verify the homehub zone on a BIND9 host (Debian layout).

``deploy_zone``: facts (one batched command; a second one reads ``$INCLUDE``d files) -> plan
record by record (pure, `plan.zoneplan`: the zone file is edited in place, records nornir_homehub
did not write are kept) -> safety (a refused plan changes nothing) -> validate -> apply:

1. the candidate zone is read back (in `plan_zone`), uploaded next to the zone file under a
   hidden name and checked with ``named-checkzone``;
2. the zone's stanza is added to ``named.conf.local`` when missing (atomic upload, previous
   file kept as ``.bak``) and ``named-checkconf`` must pass, else the old file is put back;
3. only then the candidate is renamed over the zone file (previous kept as ``.bak``), named
   is told (``rndc reconfig`` for a new zone, ``rndc reload ZONE`` otherwise) and the SOA
   serial is polled from the controller until named serves the new one (reload only queues).
   The state file beside the zone (which records are managed, the highest serial seen) is
   written right after the zone file it describes.

Any failure before step 3 leaves the zone file, the state file and named untouched.
``verify_zone`` asks the dns host directly (UDP 53) and returns `Check` objects.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from nornir_homehub import safety
from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.connection import host_connection
from nornir_homehub.connection_options import SSH_PLUGIN
from nornir_homehub.errors import (
    CheckFailed,
    NamedNotRunning,
    PlanError,
    UnsafeZonePlan,
    ZoneRejected,
)
from nornir_homehub.facts.dns import (
    NAMED_CONF_LOCAL,
    DnsFacts,
    dns_fact_commands,
    include_fact_commands,
    parse_dns_facts,
    parse_include_facts,
)
from nornir_homehub.plan.named import plan_stanza
from nornir_homehub.plan.zonefile import MAX_INCLUDE_DEPTH, parse_zone_file
from nornir_homehub.plan.zoneplan import ZonePlan, plan_zone
from nornir_homehub.plan.zonespec import HostEntry, ZoneSpec, zone_spec_from_inventory

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import HostConnection

DNS_PORT = 53
ZONE_OWNER = "root"
ZONE_GROUP = "bind"  # Debian's bind9 runs named as bind; /etc/bind is root:bind
DEFAULT_POLL_TIMEOUT = 20.0
DEFAULT_QUERY_TIMEOUT = 2.0
REMEDY_DEPLOY = "run `python -m nornir_homehub dns` (add --dry-run to see the change first)"


@dataclass(frozen=True)
class ZoneDeployment:
    """What `deploy_zone` found, planned and did on one dns host.

    Attributes:
        host: inventory name of the dns host.
        dry_run: nothing was changed on purpose.
        plan: the zone plan (records before/after, serial, diff, notes).
        stanza_changed: ``named.conf.local`` gets (or got) the zone's stanza.
        stanza_diff: unified diff of ``named.conf.local``.
        actions: rndc commands run (or that would run): ``reconfig``, ``reload``.
        served_serial_before: SOA serial named served before the run (None: not served).
        served_serial: SOA serial named serves at the end (None in dry-run).
        facts: what the batched facts said.
        notes: remarks (serial arithmetic, why a reload happens without a change).
        file_diff: the zone file diff is part of ``diff`` (``--diff``).

    """

    host: str
    dry_run: bool
    plan: ZonePlan
    stanza_changed: bool
    stanza_diff: str
    actions: tuple[str, ...]
    served_serial_before: int | None
    served_serial: int | None
    facts: DnsFacts
    notes: tuple[str, ...] = field(default=())
    file_diff: bool = False

    @property
    def changed(self) -> bool:
        """True when the zone file, the state file, the config or what named serves changes."""
        return self.plan.changed or self.stanza_changed or bool(self.actions)

    @property
    def diff(self) -> str:
        """The record plan, the zone file diff (``file_diff``), the named.conf.local diff.

        The record plan is shown when something changes or the plan was refused.
        """
        parts = []
        if self.changed or self.plan.refusals:
            parts.append(self.plan.text())
            parts += [f"  note: {n}\n" for n in self.notes if n not in self.plan.notes]
        if self.file_diff and self.plan.diff:
            parts.append(self.plan.diff)
        if self.stanza_diff:
            parts.append(self.stanza_diff)
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "zone": self.plan.zone,
            "zone_file": self.plan.zone_file,
            "serial_before": self.plan.serial_before,
            "serial": self.plan.serial,
            "served_serial_before": self.served_serial_before,
            "served_serial": self.served_serial,
            "stanza_changed": self.stanza_changed,
            "actions": list(self.actions),
            "plan": self.plan.to_dict(file_diff=self.file_diff),
            "stanza_diff": self.stanza_diff,
            "facts": self.facts.to_dict(),
            "notes": list(self.notes),
        }


# -- inventory helpers -----------------------------------------------------------------------


def zone_hosts(hosts: Mapping[str, Host]) -> list[HostEntry]:
    """Return what the zone needs from each inventory host, in inventory order."""
    return [
        HostEntry(
            name=h.name,
            address=str(h.hostname) if h.hostname else None,
            fqdn=h.get("fqdn"),
            role=h.get("role"),
        )
        for h in hosts.values()
    ]


def inventory_hosts(task: Task) -> Mapping[str, Host]:
    """Return every host of the inventory the task's Nornir was loaded from.

    A run narrowed by ``--filter`` (``name=dns``) must still derive the zone from every host:
    dropping the trusted host's A record because it was not selected would be a silent
    outage. `config.load_nornir` keeps the unfiltered hosts in ``nr.data.all_hosts`` (shared
    by every filtered copy); without it the inventory plugin is loaded again (files only, no
    connection); when that is not possible the task's own hosts are used (a missing
    trusted/compute host is then a `PlanError`, not a silently smaller zone).
    """
    from nornir.core.plugins.inventory import InventoryPluginRegister

    every: Mapping[str, Host] | None = getattr(task.nornir.data, "all_hosts", None)
    if every:
        return every

    cfg = task.nornir.config.inventory
    try:
        plugin = InventoryPluginRegister.get_plugin(cfg.plugin)
        hosts: Mapping[str, Host] = plugin(**(cfg.options or {})).load().hosts
    except Exception:
        return task.nornir.inventory.hosts
    return hosts


def zone_spec_for(host: Host, hosts: Mapping[str, Host]) -> ZoneSpec:
    """Return the desired zone for dns ``host`` given every inventory host.

    Raises:
        ConfigError: inventory variables have the wrong shape.
        PlanError: a record is invalid or a name is both present and absent.

    """
    return zone_spec_from_inventory(zone_hosts(hosts), dict(host.items()))


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


# -- queries from the controller -------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One authoritative-style answer from the dns host."""

    rcode: str
    authoritative: bool
    values: tuple[str, ...]
    error: str = ""


def query(address: str, name: str, rdtype: str, *, port: int, timeout: float) -> Answer:
    """Ask ``address`` for ``name``/``rdtype`` over UDP (no recursion desired).

    Returns:
        rcode text, AA flag and the answer's rdata (names absolute); ``error`` is set when
        no answer came (timeout, network error) and ``rcode`` is then ``NOANSWER``.

    """
    msg = dns.message.make_query(name, rdtype)
    msg.flags &= ~dns.flags.RD
    try:
        resp = dns.query.udp(msg, address, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError) as exc:
        return Answer("NOANSWER", False, (), f"{type(exc).__name__}: {exc}".rstrip(": "))
    values: list[str] = []
    want = dns.rdatatype.from_text(rdtype)
    for rrset in resp.answer:
        if rrset.rdtype == want and rrset.name == msg.question[0].name:
            values += [rd.to_text() for rd in rrset]
    return Answer(
        rcode=dns.rcode.to_text(resp.rcode()),
        authoritative=bool(resp.flags & dns.flags.AA),
        values=tuple(sorted(values)),
    )


def served_serial(address: str, zone: str, *, port: int, timeout: float) -> int | None:
    """Return the SOA serial ``address`` serves authoritatively for ``zone``, or None."""
    ans = query(address, zone + ".", "SOA", port=port, timeout=timeout)
    if ans.rcode != "NOERROR" or not ans.authoritative or not ans.values:
        return None
    return int(ans.values[0].split()[2])


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


# -- remote steps ----------------------------------------------------------------------------

_CHECK_LINE = re.compile(r":(\d+):\s*")


def _explain_checkzone(output: str, content: str) -> str:
    """Name the record of each ``file:LINE:`` in named-checkzone output."""
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


def _check_candidate(conn: HostConnection, host: str, plan: ZonePlan, named_dir: str) -> str:
    """Upload the candidate zone next to the zone file and run named-checkzone on it."""
    folder, base = plan.zone_file.rsplit("/", 1)
    candidate = f"{folder}/.{base}.candidate"
    conn.put_file(candidate, plan.content.encode(), mode=0o644, owner=ZONE_OWNER, group=ZONE_GROUP)
    # -k/-n fail: refuse what named refuses for a primary zone (bad owner names, in-zone NS
    # without an address), not only syntax errors. -i local: check MX/SRV/NS targets inside
    # the zone only, as named does, never by looking names up elsewhere. Run from named's
    # folder, so a relative $INCLUDE finds the file named will read.
    res = conn.run(
        f"cd {shlex.quote(named_dir)} && named-checkzone -k fail -n fail -i local "
        f"{shlex.quote(plan.zone)} {shlex.quote(candidate)}"
    )
    if not res.ok:
        conn.run(f"rm -f -- {shlex.quote(candidate)}")
        detail = _explain_checkzone(res.stdout + res.stderr, plan.content)
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


# -- the tasks -------------------------------------------------------------------------------


def deploy_zone(
    task: Task,
    *,
    dry_run: bool | None = None,
    zone_hosts_map: Mapping[str, Host] | None = None,
    today: dt.date | None = None,
    poll_timeout: float = DEFAULT_POLL_TIMEOUT,
    prune: bool = False,
    force: bool = False,
    file_diff: bool = False,
) -> Result:
    """Plan the homehub zone record by record, validate and install it, wait until served.

    Args:
        task: Nornir task for a dns host.
        dry_run: plan only (default: Nornir's global dry-run setting).
        zone_hosts_map: every inventory host (A records, CNAME targets); default: the whole
            inventory ``task.nornir`` was loaded from, even when the run is filtered.
        today: date for the ``YYYYMMDDNN`` serial (default: the controller's date).
        poll_timeout: seconds to wait for named to serve the new serial.
        prune: allow replacing the values of records someone else wrote.
        force: allow what ``prune`` allows, removing conflicting foreign records, changing
            more than ``dns_max_change_percent`` of the zone, replacing an unreadable file.
        file_diff: put the zone file's unified diff in ``diff`` (after the record plan).

    Returns:
        Result with ``changed`` (zone file, state file, stanza or a reload), ``diff`` (the
        record-level plan, the file diff with ``file_diff``, the named.conf.local diff) and
        ``result`` = `ZoneDeployment`. A plan that is refused (see `plan.zoneplan`) comes back
        as a failed Result carrying both the plan and an `UnsafeZonePlan`, dry run or not;
        nothing is changed.

    Raises:
        PlanError: a record is invalid, dnspython or named-checkzone/named-checkconf rejects
            the candidate (nothing replaced, named not reloaded).
        CheckFailed: named does not answer rndc (`NamedNotRunning`, nothing changed), a reload
            fails, or the new serial is not served in time.

    """
    from nornir.core.task import Result

    host = task.host
    is_dry = task.is_dry_run(dry_run)
    spec = zone_spec_for(host, zone_hosts_map or inventory_hosts(task))
    port = int(host.get("dns_port") or DNS_PORT)
    address = dns_address(host)
    conn = host_connection(task)
    facts = parse_dns_facts(conn.run_batch(dns_fact_commands(spec.zone_file, spec.state_file)))
    includes = _read_includes(conn, spec, facts)
    served_before = served_serial(address, spec.zone, port=port, timeout=DEFAULT_QUERY_TIMEOUT)
    plan = plan_zone(
        spec,
        facts.zone_file,
        today or dt.date.today(),
        served_serial=served_before,
        state_text=facts.state_file,
        includes=includes,
        include_dir=facts.named_directory,
        prune=prune,
        force=force,
    )
    new_conf = plan_stanza(facts.named_conf_local, spec.zone, spec.zone_file)
    stanza_diff = ""
    if new_conf is not None:
        stanza_diff = "".join(
            difflib.unified_diff(
                (facts.named_conf_local or "").splitlines(keepends=True),
                new_conf.splitlines(keepends=True),
                fromfile=NAMED_CONF_LOCAL,
                tofile=NAMED_CONF_LOCAL,
            )
        )
    notes = list(plan.notes)
    actions: list[str] = []
    if new_conf is not None:
        actions.append("reconfig")
    if (new_conf is None or served_before is not None) and (
        plan.zone_changed or served_before != plan.serial
    ):
        actions.append(f"reload {spec.zone}")
        if not plan.zone_changed and new_conf is None:
            notes.append(
                f"zone file unchanged but named serves serial {served_before}, not "
                f"{plan.serial}: reloading"
            )
    if not facts.rndc.running:
        notes.append(f"named does not answer `rndc status`: {facts.rndc.detail}")

    def result(served: int | None) -> ZoneDeployment:
        return ZoneDeployment(
            host=host.name,
            dry_run=is_dry,
            plan=plan,
            stanza_changed=new_conf is not None,
            stanza_diff=stanza_diff,
            actions=tuple(actions),
            served_serial_before=served_before,
            served_serial=served,
            facts=facts,
            notes=tuple(notes),
            file_diff=file_diff,
        )

    if plan.refused:
        done = result(None if is_dry else served_before)
        reasons = "; ".join(
            r.reason + (f" (allowed by {r.allowed_by})" if r.allowed_by else "")
            for r in plan.refused
        )
        exc = UnsafeZonePlan(
            f"{host.name}: zone {spec.zone} not changed, the plan needs a decision: {reasons}"
        )
        return Result(
            host=host, changed=False, failed=True, diff=done.diff, result=done, exception=exc
        )
    if is_dry or not (plan.changed or new_conf is not None or actions):
        done = result(None if is_dry else served_before)
        return Result(host=host, changed=done.changed, diff=done.diff, result=done)
    if not facts.rndc.running:
        raise NamedNotRunning(
            f"{host.name}: named does not answer `rndc status` ({facts.rndc.detail}); nothing "
            "was changed. Start named (Debian: `systemctl start named`, or `named -u bind`), "
            "check it with `rndc status`, then rerun"
        )

    _apply(conn, host.name, plan, new_conf=new_conf, facts=facts, actions=actions)
    served = served_before
    if actions:
        served = wait_for_serial(
            address, spec.zone, plan.serial, port=port, timeout=poll_timeout, host=host.name
        )
    done = result(served)
    return Result(host=host, changed=True, diff=done.diff, result=done)


def _read_includes(conn: HostConnection, spec: ZoneSpec, facts: DnsFacts) -> dict[str, str]:
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


def _apply(
    conn: HostConnection,
    host: str,
    plan: ZonePlan,
    *,
    new_conf: str | None,
    facts: DnsFacts,
    actions: list[str],
) -> None:
    """Validate, install and tell named, in the order that keeps failures harmless."""
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
        q = shlex.quote(plan.zone_file)
        bak, part = shlex.quote(plan.zone_file + ".bak"), shlex.quote(plan.zone_file + ".bak.part")
        conn.run(
            f"if [ -e {q} ]; then cp -p -- {q} {part} && mv -fT -- {part} {bak}; fi && "
            f"mv -fT -- {shlex.quote(candidate)} {q}",
            check=True,
        )
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


def verify_zone(
    task: Task,
    *,
    zone_hosts_map: Mapping[str, Host] | None = None,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> list[Check]:
    """Check what the dns host serves against the inventory (layer dns).

    Every expected record resolves to its value, every ``dns_absent`` name is NXDOMAIN and
    the served SOA serial equals the zone file's. Queries go from the controller straight to
    the dns host (UDP, no recursion); the zone file is read over the host's connection.

    Args:
        task: Nornir task for a dns host.
        zone_hosts_map: every inventory host (default: the whole inventory, see
            `inventory_hosts`).
        timeout: seconds per query.

    Returns:
        One `Check` per name (``dns.<name>``, ``dns.absent.<name>``) plus ``dns.serial``.

    """
    host = task.host
    spec = zone_spec_for(host, zone_hosts_map or inventory_hosts(task))
    port = int(host.get("dns_port") or DNS_PORT)
    address = dns_address(host)
    where = f"{host.name} ({address}:{port})"
    checks: list[Check] = []

    grouped: dict[tuple[str, str], set[str]] = {}
    for r in spec.records:
        grouped.setdefault((r.name, r.rtype), set()).add(r.value)
    types_at: dict[str, int] = {}
    for name, _ in grouped:
        types_at[name] = types_at.get(name, 0) + 1
    for (name, rtype), values in grouped.items():
        fqdn = spec.fqdn(name)
        if name == "@":
            label = rtype.lower()
        else:
            label = name if types_at[name] == 1 else f"{name}.{rtype.lower()}"
        ans = query(address, fqdn, rtype, port=port, timeout=timeout)
        # The apex NS set may list name servers besides the inventory's (an adopted zone).
        same = (
            set(ans.values) >= values if (name, rtype) == ("@", "NS") else set(ans.values) == values
        )
        ok = ans.rcode == "NOERROR" and ans.authoritative and same
        seen = ", ".join(ans.values) or ans.error or ans.rcode
        checks.append(
            Check(
                name=f"dns.{label}",
                host=host.name,
                layer=Layer.DNS,
                status=Status.PASS if ok else Status.FAIL,
                evidence=f"{fqdn} {rtype} -> {seen}"
                + ("" if ok else f" (expected {', '.join(sorted(values))}, from {where})"),
                remedy="" if ok else REMEDY_DEPLOY,
                data={
                    "name": fqdn,
                    "type": rtype,
                    "expected": sorted(values),
                    "served": list(ans.values),
                    "rcode": ans.rcode,
                    "authoritative": ans.authoritative,
                },
            )
        )
    for name in spec.absent:
        fqdn = spec.fqdn(name)
        ans = query(address, fqdn, "A", port=port, timeout=timeout)
        ok = ans.rcode == "NXDOMAIN" and ans.authoritative
        checks.append(
            Check(
                name=f"dns.absent.{name}",
                host=host.name,
                layer=Layer.DNS,
                status=Status.PASS if ok else Status.FAIL,
                evidence=f"{fqdn} -> {ans.rcode if not ans.error else ans.error}"
                + ("" if ok else f" (expected NXDOMAIN from {where})"),
                remedy=""
                if ok
                else f"{name} is declared absent (dns_absent): {REMEDY_DEPLOY} to remove it",
                data={"name": fqdn, "rcode": ans.rcode, "authoritative": ans.authoritative},
            )
        )
    checks.append(_serial_check(task, spec, address, port=port, timeout=timeout, where=where))
    return checks


def _serial_check(
    task: Task, spec: ZoneSpec, address: str, *, port: int, timeout: float, where: str
) -> Check:
    host = task.host.name
    content = host_connection(task).read_file(spec.zone_file)
    file_serial: int | None = None
    problem = ""
    if content is None:
        problem = f"zone file {spec.zone_file} does not exist"
    else:
        try:
            # The zone's own text is enough for the serial; $INCLUDEd files are not needed.
            file_serial = parse_zone_file(content.decode(), spec.zone, source=spec.zone_file).serial
        except PlanError as exc:
            problem = str(exc)
    served = served_serial(address, spec.zone, port=port, timeout=timeout)
    ok = not problem and served is not None and served == file_serial
    evidence = (
        f"served serial {served}, zone file serial {file_serial}"
        if not problem
        else f"{problem}; served serial {served}"
    )
    remedy = ""
    if not ok:
        remedy = (
            REMEDY_DEPLOY
            if problem or served is None
            else f"named serves an old zone: `rndc reload {spec.zone}` on {host} or {REMEDY_DEPLOY}"
        )
    return Check(
        name="dns.serial",
        host=host,
        layer=Layer.DNS,
        status=Status.PASS if ok else Status.FAIL,
        evidence=evidence + ("" if ok else f" ({where})"),
        remedy=remedy,
        data={"served": served, "file": file_serial, "zone_file": spec.zone_file},
    )


def check_zone(
    task: Task,
    *,
    zone_hosts_map: Mapping[str, Host] | None = None,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> Result:
    """Nornir task around `verify_zone`: ``failed`` when any check fails.

    Returns:
        Result with ``result`` = the list of `Check`, ``failed`` when one failed,
        ``changed`` False.

    """
    from nornir.core.task import Result

    checks = verify_zone(task, zone_hosts_map=zone_hosts_map, timeout=timeout)
    return Result(
        host=task.host, result=checks, failed=any(c.failed for c in checks), changed=False
    )
