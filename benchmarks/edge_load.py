"""Requests through the lab's Traefik while a deploy runs: how many fail, and the longest gap.

Used by ``benchmarks/run.py --workloads 5`` (a changed Open WebUI secret deployed by each tool
while this loop asks for ``chat.<domain>`` with the lab's auth cookie). A measurement, not a
test: nothing here asserts a count. The loop is bounded in requests and in time.
"""

from __future__ import annotations

import http.client
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class Outcome:
    """What the request loop saw during one deploy."""

    requests: int = 0
    failed: int = 0
    longest_gap_s: float = 0.0
    first_failures: list[str] = field(default_factory=list)

    def detail(self) -> dict[str, float]:
        """The numbers, as a benchmark sample's detail entries."""
        return {
            "edge requests": float(self.requests),
            "edge failed requests": float(self.failed),
            "edge longest gap s": round(self.longest_gap_s, 3),
        }


class RequestLoop:
    """A thread that sends GET ``path`` to ``address:port`` (with ``host`` and ``cookie`` when
    given) until stopped."""

    def __init__(
        self,
        address: str,
        host: str | None,
        cookie: str | None,
        *,
        lab_net: ipaddress.IPv4Network | ipaddress.IPv6Network,
        port: int = 80,
        path: str = "/",
        interval_s: float = 0.05,
        timeout_s: float = 2.0,
        max_requests: int = 20_000,
        max_seconds: float = 900.0,
    ) -> None:
        if ipaddress.ip_address(address) not in lab_net:
            raise ValueError(f"{address} is outside the lab subnet {lab_net}")
        self.address, self.host, self.cookie = address, host, cookie
        self.port, self.path = port, path
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edge-load", daemon=True)

    def _one(self) -> str | None:
        """One request: None when answered 200, else why not."""
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout_s)
        headers = {"Host": self.host} if self.host else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return None if resp.status == 200 else f"HTTP {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def settle(self, timeout_s: float = 60.0) -> float:
        """Wait (bounded) until the edge answers 200, so that no run is charged with the gap the
        previous run left behind (Traefik adds a recreated container seconds after it is
        healthy); returns the seconds waited."""
        start = time.monotonic()
        while self._one() is not None:
            if time.monotonic() - start > timeout_s:
                what = self.host or f"{self.address}:{self.port}{self.path}"
                raise RuntimeError(f"{what} was not served within {timeout_s:g} s")
            time.sleep(self.interval_s)
        return time.monotonic() - start

    def _loop(self) -> None:
        out = self.outcome
        deadline = time.monotonic() + self.max_seconds
        failing_since: float | None = None
        while not self._stop.is_set() and out.requests < self.max_requests:
            now = time.monotonic()
            if now > deadline:
                break
            why = self._one()
            out.requests += 1
            if why is None:
                if failing_since is not None:
                    out.longest_gap_s = max(out.longest_gap_s, time.monotonic() - failing_since)
                failing_since = None
            else:
                out.failed += 1
                failing_since = now if failing_since is None else failing_since
                if len(out.first_failures) < 3:
                    out.first_failures.append(why)
            self._stop.wait(self.interval_s)
        if failing_since is not None:  # still failing when the deploy ended
            out.longest_gap_s = max(out.longest_gap_s, time.monotonic() - failing_since)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 5)


def edge_table(samples: list[dict[str, object]]) -> list[str]:
    """Markdown lines for workload 5: requests, failed requests and the longest gap per run."""
    rows = [s for s in samples if s.get("workload") == "5-edge-change"]
    if not rows:
        return []
    lines = [
        "",
        "Requests through Traefik to chat (every 50 ms) while a changed Open WebUI secret is "
        "deployed:",
        "",
        "| tool | run | wall s | requests | failed | longest gap s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in sorted(rows, key=lambda r: (str(r["tool"]), int(str(r["rep"])))):
        d = s["detail"]
        assert isinstance(d, dict)
        lines.append(
            f"| {s['tool']} | {s['rep']} | {s['wall_s']} | {d.get('edge requests', 0):.0f} | "
            f"{d.get('edge failed requests', 0):.0f} | {d.get('edge longest gap s', 0):.2f} |"
        )
    return lines


def gap_table(samples: list[dict[str, object]]) -> list[str]:
    """Markdown lines for workload 6: the gap a recreated stateful service leaves, per run."""
    rows = [s for s in samples if str(s.get("workload", "")).startswith("6-")]
    if not rows:
        return []
    lines = [
        "",
        "Requests straight to the stateful service's published port (every 50 ms) while a "
        "one-value change recreates it (lab stand-ins, not the vendor images):",
        "",
        "| workload | tool | run | wall s | requests | failed | longest gap s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in sorted(rows, key=lambda r: (str(r["workload"]), str(r["tool"]), int(str(r["rep"])))):
        d = s["detail"]
        assert isinstance(d, dict)
        lines.append(
            f"| {s['workload']} | {s['tool']} | {s['rep']} | {s['wall_s']} | "
            f"{d.get('edge requests', 0):.0f} | {d.get('edge failed requests', 0):.0f} | "
            f"{d.get('edge longest gap s', 0):.2f} |"
        )
    return lines
