"""GPU facts from ``nvidia-smi``: the commands to run and pure parsers of their output.

Machine-readable sources only: ``--query-gpu`` and ``--query-compute-apps`` in CSV (with or
without the header line, with or without units) and the ``-q -x`` XML report, which also lists
graphics processes and serves as a fallback when a driver rejects a query field.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import GpuParseError
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection

QUERY_GPU_FIELDS = (
    "index",
    "uuid",
    "name",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "utilization.gpu",
    "utilization.memory",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    "pstate",
    "clocks.sm",
)
QUERY_APPS_FIELDS = ("gpu_uuid", "pid", "process_name", "used_memory")

SMI = "nvidia-smi"
CMD_QUERY_GPU = f"{SMI} --query-gpu={','.join(QUERY_GPU_FIELDS)} --format=csv,noheader,nounits"
CMD_QUERY_APPS = (
    f"{SMI} --query-compute-apps={','.join(QUERY_APPS_FIELDS)} --format=csv,noheader,nounits"
)
CMD_XML = f"{SMI} -q -x"

# nvidia-smi prints some header names differently from the query names.
_HEADER_ALIASES = {
    "clocks.current.sm": "clocks.sm",
    "used_gpu_memory": "used_memory",
}
_UNIT_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:MiB|%|W|MHz|C)?\s*$")
_NOT_AVAILABLE = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]"}
# Exit codes and messages of nvidia-smi that mean "no usable GPU", for evidence.
_NO_SMI_EXIT = 127


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as ``nvidia-smi`` reports it (None where the driver reports N/A)."""

    index: int
    uuid: str
    name: str
    driver_version: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    temperature_c: int | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    pstate: str | None = None
    clock_sm_mhz: int | None = None

    @property
    def memory_pct(self) -> float | None:
        """Used memory as a percentage of total, or None when unknown."""
        if self.memory_total_mib and self.memory_used_mib is not None:
            return 100.0 * self.memory_used_mib / self.memory_total_mib
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with the derived ``memory_pct``)."""
        out = asdict(self)
        pct = self.memory_pct
        out["memory_pct"] = None if pct is None else round(pct, 1)
        return out


@dataclass(frozen=True)
class GpuProcess:
    """A process holding GPU memory."""

    pid: int
    name: str
    used_memory_mib: int | None = None
    gpu_uuid: str | None = None
    gpu_index: int | None = None
    type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class GpuFacts:
    """Everything gathered about a host's NVIDIA GPUs.

    Attributes:
        gpus: the GPUs visible to the driver (empty when none or nvidia-smi failed).
        processes: processes using them (compute apps merged with the XML's list).
        smi_found: whether ``nvidia-smi`` exists on the host.
        exit_code: exit code of the GPU query (0 when it answered).
        error: nvidia-smi's own message when it did not answer (never secret).
        source: which output the GPU list came from: ``query-gpu`` or ``xml``.

    """

    gpus: tuple[GpuInfo, ...] = ()
    processes: tuple[GpuProcess, ...] = ()
    smi_found: bool = True
    exit_code: int = 0
    error: str = ""
    source: str = "query-gpu"
    driver_version: str | None = None
    cuda_version: str | None = None

    @property
    def answered(self) -> bool:
        """True when the driver answered and at least one GPU is visible."""
        return bool(self.gpus)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "gpus": [g.to_dict() for g in self.gpus],
            "processes": [p.to_dict() for p in self.processes],
            "smi_found": self.smi_found,
            "exit_code": self.exit_code,
            "error": self.error,
            "source": self.source,
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
        }


def gpu_commands(smi: str = SMI) -> dict[str, str]:
    """Return the batched commands whose outputs `parse_gpu_facts` reads.

    Args:
        smi: the nvidia-smi program (a path when it is not on the host's PATH).

    Returns:
        fact name -> shell command, for ``HostConnection.run_batch``.

    """
    q = shlex.quote(smi)
    return {
        "query_gpu": CMD_QUERY_GPU.replace(SMI, q, 1),
        "query_apps": CMD_QUERY_APPS.replace(SMI, q, 1),
        "xml": CMD_XML.replace(SMI, q, 1),
    }


def _norm_header(cell: str) -> str:
    name = re.sub(r"\s*\[[^\]]*\]\s*$", "", cell.strip()).strip()
    return _HEADER_ALIASES.get(name, name)


def _split(line: str) -> list[str]:
    return [c.strip() for c in line.split(",")]


def _is_na(value: str | None) -> bool:
    return value is None or value.strip().lower() in _NOT_AVAILABLE


def _num(value: str | None) -> float | None:
    if _is_na(value):
        return None
    assert value is not None  # noqa: S101 - narrowed by _is_na
    m = _UNIT_RE.match(value)
    if not m:
        raise GpuParseError(f"nvidia-smi value {value!r} is not a number")
    return float(m.group(1))


def _int(value: str | None) -> int | None:
    n = _num(value)
    return None if n is None else round(n)


def _str(value: str | None) -> str | None:
    return None if _is_na(value) else (value or "").strip()


def _rows(text: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """CSV rows as dicts; a header line (anywhere) switches the column mapping."""
    known = set(fields)
    columns: list[str] = list(fields)
    rows: list[dict[str, str]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.strip().lower().startswith("no running"):
            continue
        cells = _split(raw)
        names = [_norm_header(c) for c in cells]
        if any(n in known for n in names) and not any(_UNIT_RE.match(c) for c in cells[:1]):
            columns = names
            continue
        if len(cells) != len(columns):
            raise GpuParseError(
                f"nvidia-smi line has {len(cells)} fields, expected {len(columns)}: {raw.strip()!r}"
            )
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


def parse_query_gpu(text: str) -> list[GpuInfo]:
    """Parse ``nvidia-smi --query-gpu=<QUERY_GPU_FIELDS> --format=csv[,noheader][,nounits]``.

    Accepts output with or without the header line and with or without units (`` MiB``,
    `` %``, `` W``, `` MHz``); a header maps columns by name (``clocks.current.sm [MHz]`` is
    ``clocks.sm``), otherwise columns are in `QUERY_GPU_FIELDS` order. ``[N/A]`` becomes None.

    Raises:
        GpuParseError: a line has the wrong number of fields or a non-numeric value.

    """
    gpus: list[GpuInfo] = []
    for row in _rows(text, QUERY_GPU_FIELDS):
        index = _int(row.get("index"))
        gpus.append(
            GpuInfo(
                index=index if index is not None else len(gpus),
                uuid=row.get("uuid", ""),
                name=row.get("name", ""),
                driver_version=_str(row.get("driver_version")),
                memory_total_mib=_int(row.get("memory.total")),
                memory_used_mib=_int(row.get("memory.used")),
                memory_free_mib=_int(row.get("memory.free")),
                utilization_gpu_pct=_int(row.get("utilization.gpu")),
                utilization_memory_pct=_int(row.get("utilization.memory")),
                temperature_c=_int(row.get("temperature.gpu")),
                power_draw_w=_num(row.get("power.draw")),
                power_limit_w=_num(row.get("power.limit")),
                pstate=_str(row.get("pstate")),
                clock_sm_mhz=_int(row.get("clocks.sm")),
            )
        )
    return gpus


def parse_compute_apps(text: str) -> list[GpuProcess]:
    """Parse ``nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory``.

    Accepts CSV with or without header and units; an empty output (or "No running processes
    found") is an empty list.

    Raises:
        GpuParseError: a line has the wrong number of fields or a non-numeric value.

    """
    procs = []
    for row in _rows(text, QUERY_APPS_FIELDS):
        pid = _int(row.get("pid"))
        if pid is None:
            continue
        procs.append(
            GpuProcess(
                pid=pid,
                name=row.get("process_name", ""),
                used_memory_mib=_int(row.get("used_memory")),
                gpu_uuid=_str(row.get("gpu_uuid")),
            )
        )
    return procs


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return None if found is None or found.text is None else found.text.strip()


def parse_smi_xml(text: str) -> tuple[list[GpuInfo], list[GpuProcess]]:
    """Parse ``nvidia-smi -q -x``: the GPUs and every process listed under ``<processes>``.

    Raises:
        GpuParseError: the text is not nvidia-smi's XML report.

    """
    try:
        # nvidia-smi's own local output, never network input; the DTD line is ignored.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise GpuParseError(f"nvidia-smi -q -x output is not XML: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise GpuParseError(f"nvidia-smi -q -x output has root <{root.tag}>, not <nvidia_smi_log>")
    driver = _text(root, "driver_version")
    gpus: list[GpuInfo] = []
    procs: list[GpuProcess] = []
    for i, gpu in enumerate(root.findall("gpu")):
        index = _int(_text(gpu, "minor_number"))
        uuid = _text(gpu, "uuid") or ""
        info = GpuInfo(
            index=i if index is None else index,
            uuid=uuid,
            name=_text(gpu, "product_name") or "",
            driver_version=driver,
            memory_total_mib=_int(_text(gpu, "fb_memory_usage/total")),
            memory_used_mib=_int(_text(gpu, "fb_memory_usage/used")),
            memory_free_mib=_int(_text(gpu, "fb_memory_usage/free")),
            utilization_gpu_pct=_int(_text(gpu, "utilization/gpu_util")),
            utilization_memory_pct=_int(_text(gpu, "utilization/memory_util")),
            temperature_c=_int(_text(gpu, "temperature/gpu_temp")),
            power_draw_w=_num(
                _text(gpu, "gpu_power_readings/power_draw")
                or _text(gpu, "gpu_power_readings/average_power_draw")
                or _text(gpu, "gpu_power_readings/instant_power_draw")
            ),
            power_limit_w=_num(_text(gpu, "gpu_power_readings/current_power_limit")),
            pstate=_str(_text(gpu, "performance_state")),
            clock_sm_mhz=_int(_text(gpu, "clocks/sm_clock")),
        )
        gpus.append(info)
        for p in gpu.findall("processes/process_info"):
            pid = _int(_text(p, "pid"))
            if pid is None:
                continue
            procs.append(
                GpuProcess(
                    pid=pid,
                    name=_text(p, "process_name") or "",
                    used_memory_mib=_int(_text(p, "used_memory")),
                    gpu_uuid=uuid or None,
                    gpu_index=info.index,
                    type=_str(_text(p, "type")),
                )
            )
    return gpus, procs


def merge_processes(
    gpus: list[GpuInfo], compute_apps: list[GpuProcess], xml_procs: list[GpuProcess]
) -> list[GpuProcess]:
    """Union of the compute-apps list and the XML's process list, keyed by (GPU UUID, pid).

    Compute apps win for name and memory (full process path); the XML adds graphics
    processes and the process type. Every process learns its GPU index from the UUID.
    """
    by_uuid = {g.uuid: g.index for g in gpus}
    merged: dict[tuple[str | None, int], GpuProcess] = {(p.gpu_uuid, p.pid): p for p in xml_procs}
    for p in compute_apps:
        old = merged.get((p.gpu_uuid, p.pid))
        merged[(p.gpu_uuid, p.pid)] = replace(
            p,
            name=p.name or (old.name if old else ""),
            used_memory_mib=p.used_memory_mib
            if p.used_memory_mib is not None
            else (old.used_memory_mib if old else None),
            type=old.type if old else "C",
        )
    out = [
        replace(p, gpu_index=by_uuid.get(p.gpu_uuid or "", p.gpu_index)) for p in merged.values()
    ]
    return sorted(out, key=lambda p: (-1 if p.gpu_index is None else p.gpu_index, p.pid))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return redact_head(line.strip(), 300)
    return ""


def parse_gpu_facts(
    outputs: Mapping[str, tuple[int, str, str]],
) -> GpuFacts:
    """Combine the outputs of `gpu_commands` into `GpuFacts`.

    The GPU list comes from ``query_gpu``; when that fails (an older driver rejecting a field)
    it comes from the XML. Processes are the union of compute apps and the XML's list.

    Args:
        outputs: fact name -> (exit code, stdout, stderr), for the names of `gpu_commands`.

    Returns:
        The facts; when nvidia-smi is missing or fails, no GPUs and its message in ``error``.

    Raises:
        GpuParseError: nvidia-smi answered 0 with output that cannot be parsed.

    """
    q_code, q_out, q_err = outputs.get("query_gpu", (1, "", ""))
    a_code, a_out, _ = outputs.get("query_apps", (1, "", ""))
    x_code, x_out, _ = outputs.get("xml", (1, "", ""))
    if q_code == _NO_SMI_EXIT or (q_code != 0 and "not found" in q_err.lower()):
        return GpuFacts(smi_found=False, exit_code=q_code, error=_first_line(q_err) or "not found")
    xml_gpus: list[GpuInfo] = []
    xml_procs: list[GpuProcess] = []
    cuda = None
    if x_code == 0 and x_out.strip():
        xml_gpus, xml_procs = parse_smi_xml(x_out)
        cuda_m = re.search(r"<cuda_version>([^<]+)</cuda_version>", x_out)
        cuda = cuda_m.group(1).strip() if cuda_m else None
    if q_code == 0:
        gpus, source = parse_query_gpu(q_out), "query-gpu"
    elif xml_gpus:
        gpus, source = xml_gpus, "xml"
    else:
        return GpuFacts(
            exit_code=q_code,
            error=_first_line(q_out) or _first_line(q_err) or f"nvidia-smi exited {q_code}",
        )
    apps = parse_compute_apps(a_out) if a_code == 0 else []
    procs = merge_processes(gpus, apps, xml_procs)
    drivers = {g.driver_version for g in gpus if g.driver_version}
    return GpuFacts(
        gpus=tuple(gpus),
        processes=tuple(procs),
        exit_code=0,
        error="" if gpus else _first_line(q_out) or "nvidia-smi lists no GPU",
        source=source,
        driver_version=sorted(drivers)[0] if drivers else None,
        cuda_version=cuda,
    )


def gather_gpu(conn: HostConnection, *, smi: str = SMI, timeout: float = 60) -> GpuFacts:
    """Run the `gpu_commands` on the host in one round trip and parse them.

    Args:
        conn: the host's connection.
        smi: the nvidia-smi program.
        timeout: seconds for the whole batch.

    Raises:
        TransportError: the batch could not run.
        GpuParseError: nvidia-smi answered with output that cannot be parsed.

    """
    results = conn.run_batch(gpu_commands(smi), timeout=timeout)
    return parse_gpu_facts({k: (r.exit_code, r.stdout, r.stderr) for k, r in results.items()})
