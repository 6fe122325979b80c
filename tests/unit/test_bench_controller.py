"""Workload 7's pure parts (benchmarks/controller.py): percentiles, targets, latest.json merge."""

from __future__ import annotations

import sys
from typing import Any

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import controller  # benchmarks/ is not a package: found through sys.path above


def _size(exec_s: float, facts_s: float, rss: float = 70.0) -> dict[str, Any]:
    return {
        "exec": {"wall_s": exec_s, "max_rss_mib": rss},
        "facts": {"wall_s": facts_s, "max_rss_mib": rss},
    }


def test_percentiles_are_nearest_rank_and_empty_without_values() -> None:
    values = [float(i) for i in range(1, 101)]
    assert controller.percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert controller.percentiles([]) == {}


def test_the_200_host_goal_is_met_or_missed_per_command() -> None:
    rows = {r["target"]: r for r in controller.targets({"200": _size(2.8, 5.5)})}
    assert rows["controller, exec on 200 hosts"]["met"] is True
    assert rows["controller, facts on 200 hosts"]["met"] is False
    assert all(r["met"] is None for r in controller.targets({"50": _size(1.0, 1.0)}))


def test_a_controller_only_run_keeps_the_other_workloads_and_older_sizes() -> None:
    previous = {"summary": {"2-noop": {}}, "controller": {"50": _size(1, 1), "200": _size(9, 9)}}
    result = {"started": "now", "controller": {"200": _size(2.8, 5.5)}}
    latest = controller.latest(result, previous, {7})
    assert latest["summary"] == {"2-noop": {}}
    assert latest["controller"]["50"] == _size(1, 1)
    assert latest["controller"]["200"] == _size(2.8, 5.5)
    assert latest["controller_run"]["started"] == "now"


def test_a_run_of_other_workloads_carries_the_controller_results_on() -> None:
    previous = {"controller": {"200": _size(2.8, 5.5)}}
    result: dict[str, Any] = {"summary": {"1-first-deploy": {}}}
    latest = controller.latest(result, previous, {1, 2, 3})
    assert latest["summary"] == {"1-first-deploy": {}}
    assert latest["controller"] == {"200": _size(2.8, 5.5)}
