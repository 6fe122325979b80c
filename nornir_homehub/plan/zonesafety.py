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

from dataclasses import dataclass
from typing import Any

PRUNE = "--prune"
FORCE = "--force"


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
        return {
            "reason": self.reason,
            "allowed_by": self.allowed_by,
            "overridden": self.overridden,
        }


def allowed(flag: str | None, *, prune: bool, force: bool) -> bool:
    """True when ``flag`` (``--prune``/``--force``, None: no flag can) is given to this run."""
    if flag == PRUNE:
        return prune or force
    if flag == FORCE:
        return force
    return False
