"""What a zone plan may do without a decision: the safety rules of the ``dns`` task (pure).

Checked on every run, dry runs included; a refused run changes nothing, exit 1:

Safety (checked on every run, dry runs included; a refused run changes nothing, exit 1):

==================================================  ==========  ==========  ==========
the plan would                                      no flag     --prune     --force
==================================================  ==========  ==========  ==========
add, change or remove managed records, remove        yes         yes         yes
dns_absent names, adopt identical foreign records
replace a foreign record's values                   refused     yes         yes
remove a conflicting foreign record (CNAME rule)    refused     refused     yes
change or remove more than dns_max_change_percent   refused     refused     yes
of the zone's records (zones of 10+ records)
replace a zone file that does not parse             refused     refused     yes
edit a record of an $INCLUDE file or $GENERATE      refused     refused     refused
==================================================  ==========  ==========  ==========

A refused plan says why, naming the records, and which flag allows it; the plan is applied
only when every refusal is overridden by a flag the run was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from nornir_homehub.plan.zonespec import MIN_EXISTING_RECORDS

if TYPE_CHECKING:
    from nornir_homehub.plan.zonelines import Located

PRUNE = "--prune"
FORCE = "--force"


class Concern(NamedTuple):
    """Something the plan would do that needs a decision: what, and the flag that allows it."""

    reason: str
    allowed_by: str | None


@dataclass(frozen=True)
class Refusal:
    """A reason the plan must not be applied as it is.

    Attributes:
        reason: what would happen, naming the records.
        allowed_by: the flag that allows it (``--prune``, ``--force``), None when no flag can.
        overridden: the run was given that flag.

    """

    reason: str
    allowed_by: str | None
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def allowed(flag: str | None, *, prune: bool, force: bool) -> bool:
    """True when ``flag`` (``--prune``/``--force``, None: no flag can) is given to this run."""
    if flag == PRUNE:
        return prune or force
    if flag == FORCE:
        return force
    return False


def decide(concerns: Iterable[Concern], *, prune: bool, force: bool) -> tuple[Refusal, ...]:
    """The plan's refusals, each marked overridden when this run's flags allow it."""
    return tuple(
        Refusal(reason, flag, overridden=allowed(flag, prune=prune, force=force))
        for reason, flag in concerns
    )


def not_editable(records: Sequence[Located], what: str) -> list[Concern]:
    """No flag helps: records to change live in an ``$INCLUDE``d file or a ``$GENERATE`` line."""
    return [
        Concern(
            f"{r.name} {r.rtype} {r.value} comes from {r.where}, which nornir_homehub "
            f"does not edit ({what}); change it there or change the inventory",
            None,
        )
        for r in records
        if not r.editable
    ]


def replaces_foreign(
    name: str, rtype: str, lost: Sequence[str], values: Sequence[str], source: str
) -> Concern:
    """``--prune``: the inventory's values would replace those someone else wrote."""
    return Concern(
        f"{name} {rtype}: would replace {', '.join(lost)} (written by "
        f"someone else) with {', '.join(values)} from {source}",
        PRUNE,
    )


def conflicting(name: str, rtype: str, ours: str, values: str) -> Concern:
    """``--force``: a foreign record that cannot stay beside the inventory's (CNAME rule) goes."""
    return Concern(
        f"{name}: the inventory wants {ours}, but the zone has "
        f"{name} {rtype} {values} (written by someone else), which cannot "
        f"stay beside it; {FORCE} removes it, or change the inventory",
        FORCE,
    )


def too_many_changes(existing: int, touched: int, limit: float) -> Concern | None:
    """``--force``: more than ``limit`` % of a zone of 10+ records would change or go."""
    if existing < MIN_EXISTING_RECORDS or not touched:
        return None
    share = 100.0 * touched / existing
    if share <= limit:
        return None
    return Concern(
        f"{touched} of the zone's {existing} records would change or go "
        f"({share:.0f} %, more than dns_max_change_percent {limit:g} %)",
        FORCE,
    )


def unparsable(error: str, *, force: bool) -> Refusal:
    """``--force``: the zone file does not parse and would be replaced as a whole."""
    return Refusal(
        f"the zone file does not parse ({error}); fix it by hand, or {FORCE} replaces it "
        "with the inventory's records only (everything else in it is lost)",
        FORCE,
        overridden=force,
    )
