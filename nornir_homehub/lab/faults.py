"""Fault helpers of the lab's links (for the fault suite; each undone by its counterpart)."""

from __future__ import annotations

IMPAIR_TAG = "homehub-lab-impair"


def veth_name(name: str) -> str:
    """The bridge side of a host's veth pair."""
    return f"hv-{name}"[:15]


def loss_rule(way: str, loss_pct: float) -> list[str]:
    """The iptables rule (after ``-I CHAIN``) dropping ``loss_pct`` % of eth0's packets."""
    return [
        way,
        "eth0",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        f"{loss_pct / 100:.4f}",
        "-m",
        "comment",
        "--comment",
        IMPAIR_TAG,
        "-j",
        "DROP",
    ]
