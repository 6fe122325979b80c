"""Nornir tasks for models as desired state: the deploy's model gate, ``models``, ``--prune``.

`ensure_models` runs in the deploy's compute stage after the stacks (whose post-deploy steps
pulled the missing models, every host in parallel): it checks that every entry of
``ollama_models`` is installed (with its pinned digest), warms up the models (``keep_loaded``
ones with ``keep_alive: -1``) and, on a host whose inventory declares a GPU, runs the GPU gate
(`checks.gpu_gate`). Its `ModelsOutcome` carries the installed models: the facts the trusted
stage renders LiteLLM's config from. `list_models` gathers the ``models`` table,
`prune_models` removes installed models the inventory does not list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.facts.ollama import DEFAULT_BASE_URL, DEFAULT_WARMUP_TIMEOUT, gather_ollama
from nornir_homehub.plan.models import parse_model_entries, plan_model_prune, plan_model_pulls

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nornir.core.inventory import Host
    from nornir.core.task import Result, Task

    from nornir_homehub.connection import CommandResult, HostConnection
    from nornir_homehub.facts.models import ModelRow
    from nornir_homehub.facts.ollama import OllamaFacts


@dataclass(frozen=True)
class ModelsOutcome:
    """What `ensure_models` found on one compute host.

    Attributes:
        host: inventory name.
        installed: the installed models' names (Ollama's /api/tags), for LiteLLM's config.
        checks: ``models.<m>`` per entry, ``ollama.*`` after the warm-up, ``gpu.*`` and
            ``gpu.gate`` on a host that declares a GPU.

    """

    host: str
    installed: tuple[str, ...]
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "installed": list(self.installed),
            "checks": [c.to_dict() for c in self.checks],
        }


def _base_url(host: Host) -> str:
    return str(host.get("ollama_url") or DEFAULT_BASE_URL)


def _warmed(host: Host) -> list[str]:
    """The models `ensure_models` warms up on ``host``: all on a GPU host, else keep_loaded."""
    declared = host.get("gpu")
    entries = parse_model_entries(host.get("ollama_models"))
    return [e.name for e in entries if declared or e.keep_loaded]


# Answers read ahead (`ModelsAhead`) stand in for the check's own only this young.
MODELS_AHEAD_FRESH = 1.0
_AHEAD = "models "  # prefix of the reads' names in the compute stage's batches


class ModelsAhead:
    """Ollama's /api/tags and /api/ps, read by the compute stage for `ensure_models`.

    The compute stage reads them in round trips it makes anyway: with its facts, used when the
    stage changed nothing on the host, and with the health wait's last poll, used when no
    post-deploy step ran and nothing was rolled back after it. `ensure_models` takes them
    instead of asking again while at most `MODELS_AHEAD_FRESH` seconds old. A host whose check
    warms models up (it declares a GPU, or an entry is ``keep_loaded``) is not read ahead:
    the warm-up comes between the two requests.
    """

    def __init__(self, hosts: Iterable[Host]) -> None:
        from nornir_homehub.facts.ollama import read_commands

        self._commands = {
            h.name: {_AHEAD + url: cmd for url, cmd in read_commands(_base_url(h)).items()}
            for h in hosts
            if "ollama" in (h.get("stacks") or []) and not _warmed(h)
        }
        self._got: dict[str, tuple[float, dict[str, CommandResult]]] = {}

    def commands(self, host: str) -> dict[str, str]:
        """The reads to run on ``host`` (name -> command; none for a host not read ahead)."""
        return dict(self._commands.get(host, {}))

    def keep(self, host: str, results: Mapping[str, CommandResult], at: float) -> None:
        """Keep what ``host``'s reads returned, read at ``at`` (``time.monotonic()``).

        ``results`` may hold other names too.
        """
        got = {n: results[n] for n in self._commands.get(host, {}) if n in results}
        if got and len(got) == len(self._commands[host]):
            self._got[host] = (at, got)

    def take(self, host: str) -> dict[str, CommandResult] | None:
        """``host``'s answers (url -> result) while fresh, else None; each is taken once."""
        import time

        at, got = self._got.pop(host, (0.0, {}))
        if not got or time.monotonic() - at > MODELS_AHEAD_FRESH:
            return None
        return {n.removeprefix(_AHEAD): r for n, r in got.items()}


def _entry_checks(host: str, facts: OllamaFacts, entries: list[Any]) -> list[Check]:
    installed = {m.name: m.digest for m in facts.installed}
    from nornir_homehub.facts.ollama import normalize_model

    by_norm = {normalize_model(k): v for k, v in installed.items()}
    checks = []
    for plan in plan_model_pulls(entries, by_norm):
        name = f"models.{plan.entry.name}"
        if plan.pull:
            seen = f"{plan.entry.name}: {plan.reason} after the pull step"
            remedy = f"Pull it: `docker exec ollama ollama pull {plan.entry.pull_ref}`"
            checks.append(Check(name, host, Layer.MODEL, Status.FAIL, seen, remedy))
        else:
            seen = f"{plan.entry.name}: {plan.reason}"
            checks.append(Check(name, host, Layer.MODEL, Status.PASS, seen, "", plan.to_dict()))
    return checks


def ensure_models(
    task: Task, warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT, ahead: ModelsAhead | None = None
) -> Result:
    """Nornir task: the desired models are on the host, warm, and on its GPU when it has one.

    Host data used: ``stacks`` (a host without ``ollama`` is skipped), ``ollama_models``,
    ``gpu`` (a mapping or true: the GPU gate runs), ``gpu_thresholds``, ``ollama_url``.
    ``ahead``: the API's answers the compute stage read already (`ModelsAhead`).

    Returns:
        Result with ``result`` = `ModelsOutcome`, ``failed`` when a model is missing or has
        another digest than its pin, or the GPU gate failed; ``changed`` False (warm-ups load
        models but change no configuration).

    Raises:
        TransportError: the host cannot be reached.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection

    host = task.host
    if "ollama" not in (host.get("stacks") or []):
        return Result(host=host, result=ModelsOutcome(host.name, ()), changed=False)
    entries = parse_model_entries(host.get("ollama_models"))
    declared = host.get("gpu")
    conn = host_connection(task)
    warm = _warmed(host)
    alive: dict[str, str | int] = {e.name: -1 for e in entries if e.keep_loaded}
    facts = gather_ollama(
        conn,
        warm,
        base_url=_base_url(task.host),
        warmup=bool(warm),
        warmup_timeout=warmup_timeout,
        keep_alive=alive,
        read=ahead.take(host.name) if ahead is not None and not warm else None,
    )
    installed = tuple(m.name for m in facts.installed)
    if facts.api_error:
        from nornir_homehub.checks.ollama import evaluate_ollama

        checks = evaluate_ollama(host.name, [e.name for e in entries], facts, has_gpu=False)
    else:
        checks = _entry_checks(host.name, facts, entries)
        if declared:
            checks += _gpu_gate(conn, task, facts, [e.name for e in entries], declared)
    failed = any(c.failed for c in checks)
    return Result(host=host, result=ModelsOutcome(host.name, installed, checks), failed=failed)


def _gpu_gate(
    conn: HostConnection, task: Task, facts: OllamaFacts, names: list[str], declared: Any
) -> list[Check]:
    """The GPU checks and the ``gpu.gate`` verdict of a host that declares a GPU."""
    from nornir_homehub.checks.gpu import GpuThresholds, evaluate_gpu, wants_smi
    from nornir_homehub.checks.gpu_gate import evaluate_gpu_gate
    from nornir_homehub.checks.ollama import evaluate_ollama
    from nornir_homehub.facts.gpu import gather_gpu
    from nornir_homehub.facts.models import device_requests_command, parse_device_requests

    host = task.host
    thresholds = GpuThresholds.from_data(host.name, host.get("gpu_thresholds"))
    ollama_checks = evaluate_ollama(host.name, names, facts, has_gpu=True)
    gpu_facts = gather_gpu(conn) if wants_smi(declared) else None
    gpu_checks = evaluate_gpu(host.name, declared, gpu_facts, thresholds)
    res = conn.run(device_requests_command("ollama"), timeout=30)
    requested = parse_device_requests(res.exit_code, res.stdout)
    reservation = not isinstance(declared, dict) or declared.get("compose_reservation", True)
    gate = evaluate_gpu_gate(
        host.name,
        ollama_checks,
        gpu_checks,
        gpu_facts,
        thresholds,
        gpu_requested=requested,
        reservation_rendered=bool(reservation),
    )
    loaded = [c for c in ollama_checks if c.name.endswith(".loaded")]
    return [*loaded, *(c for c in gpu_checks if c.name == "gpu.driver"), gate]


def list_models(task: Task) -> Result:
    """Nornir task: the ``models`` rows of a host (no warm-up: loaded means loaded already).

    Returns:
        Result with ``result`` = list of `ModelRow` (empty on a host without ``ollama``),
        ``failed`` when the Ollama API did not answer (its error in ``exception``-free form:
        one row-less failed result whose ``result`` is the message).

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection
    from nornir_homehub.facts.models import model_rows

    host = task.host
    if "ollama" not in (host.get("stacks") or []):
        return Result(host=host, result=[], changed=False)
    facts = gather_ollama(host_connection(task), [], base_url=_base_url(task.host), warmup=False)
    if facts.api_error:
        return Result(host=host, result=f"Ollama API: {facts.api_error}", failed=True)
    entries = parse_model_entries(host.get("ollama_models"))
    rows: list[ModelRow] = model_rows(host.name, entries, facts)
    return Result(host=host, result=rows, changed=False)


def prune_models(task: Task, dry_run: bool = True) -> Result:
    """Nornir task: remove the installed models the host's ``ollama_models`` does not list.

    Returns:
        Result with ``result`` = the names removed (or, in a dry run, to remove), ``changed``
        when any was (would be) removed, ``diff`` one ``- model`` line per name.

    Raises:
        TransportError: the host cannot be reached.
        HomehubError: Ollama refused to delete a model (its message).

    """
    import json

    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection
    from nornir_homehub.errors import HomehubError
    from nornir_homehub.facts.http import http_get

    host = task.host
    if "ollama" not in (host.get("stacks") or []):
        return Result(host=host, result=[], changed=False)
    conn = host_connection(task)
    base = _base_url(task.host).rstrip("/")
    facts = gather_ollama(conn, [], base_url=base, warmup=False)
    if facts.api_error:
        raise HomehubError(f"{host.name}: Ollama API: {facts.api_error}")
    entries = parse_model_entries(host.get("ollama_models"))
    extra = plan_model_prune(entries, [m.name for m in facts.installed])
    if not task.is_dry_run(dry_run):
        for name in extra:
            res = http_get(
                conn,
                f"{base}/api/delete",
                method="DELETE",
                body=json.dumps({"model": name}),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            if not res.ok:
                raise HomehubError(f"{host.name}: deleting {name}: HTTP {res.status}")
    diff = "".join(f"- {name}\n" for name in extra)
    return Result(host=host, result=extra, changed=bool(extra), diff=diff)
