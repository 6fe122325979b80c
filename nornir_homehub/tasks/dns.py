"""Deploy and verify the homehub zone on a BIND9 host (Debian layout): the Nornir tasks.

``deploy_zone``: facts (one batched command; a second one reads ``$INCLUDE``d files,
`facts.dns`) -> plan record by record (pure, `plan.zoneplan`: the zone file is edited in
place, records nornir_homehub did not write are kept) -> safety (a refused plan changes
nothing, `plan.zonesafety`) -> what named must be told (`plan.named`) -> apply
(`tasks.named.apply_zone`):

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
``verify_zone`` asks the dns host directly (UDP 53) and evaluates the answers with
`checks.dns`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.dns import (
    evaluate_absent,
    evaluate_record,
    evaluate_serial,
    expected_rrsets,
)
from nornir_homehub.connection import host_connection
from nornir_homehub.errors import NamedNotRunning, UnsafeZonePlan
from nornir_homehub.facts.dns import DnsFacts, dns_fact_commands, parse_dns_facts
from nornir_homehub.plan.named import plan_reload, plan_stanza, stanza_diff
from nornir_homehub.plan.zoneplan import ZonePlan, plan_zone
from nornir_homehub.plan.zonespec import HostEntry, ZoneSpec, zone_spec_from_inventory
from nornir_homehub.tasks.named import (
    DEFAULT_QUERY_TIMEOUT,
    apply_zone,
    dns_address,
    query,
    read_includes,
    served_serial,
    wait_for_serial,
)

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import Result, Task

    from nornir_homehub.checks.model import Check

DNS_PORT = 53
DEFAULT_POLL_TIMEOUT = 20.0


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
    from nornir_homehub.inventory import all_hosts

    return all_hosts(task.nornir, reload=True)


def zone_spec_for(host: Host, hosts: Mapping[str, Host]) -> ZoneSpec:
    """Return the desired zone for dns ``host`` given every inventory host.

    Raises:
        ConfigError: inventory variables have the wrong shape.
        PlanError: a record is invalid or a name is both present and absent.

    """
    return zone_spec_from_inventory(zone_hosts(hosts), dict(host.items()))


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
    includes = read_includes(conn, spec, facts)
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
    conf_diff = stanza_diff(facts.named_conf_local, new_conf)
    reload = plan_reload(
        spec.zone,
        stanza_added=new_conf is not None,
        zone_changed=plan.zone_changed,
        served=served_before,
        serial=plan.serial,
    )
    actions = list(reload.actions)
    notes = [*plan.notes, *reload.notes]
    if not facts.rndc.running:
        notes.append(f"named does not answer `rndc status`: {facts.rndc.detail}")

    def result(served: int | None) -> ZoneDeployment:
        return ZoneDeployment(
            host=host.name,
            dry_run=is_dry,
            plan=plan,
            stanza_changed=new_conf is not None,
            stanza_diff=conf_diff,
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

    apply_zone(conn, host.name, plan, new_conf=new_conf, facts=facts, actions=actions)
    served = served_before
    if actions:
        served = wait_for_serial(
            address, spec.zone, plan.serial, port=port, timeout=poll_timeout, host=host.name
        )
    done = result(served)
    return Result(host=host, changed=True, diff=done.diff, result=done)


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
    for want in expected_rrsets(spec):
        ans = query(address, want.fqdn, want.rtype, port=port, timeout=timeout)
        checks.append(evaluate_record(host.name, want, ans, where=where))
    for name in spec.absent:
        fqdn = spec.fqdn(name)
        ans = query(address, fqdn, "A", port=port, timeout=timeout)
        checks.append(evaluate_absent(host.name, name, fqdn, ans, where=where))
    content = host_connection(task).read_file(spec.zone_file)
    served = served_serial(address, spec.zone, port=port, timeout=timeout)
    checks.append(evaluate_serial(host.name, spec, content, served, where=where))
    return checks


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
