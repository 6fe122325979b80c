"""``notebooks/ops.ipynb`` runs headless (nbclient, kernel python3) against the lab."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from conftest import ROOT, run_cli
from nbclient import NotebookClient

NOTEBOOK = ROOT / "notebooks" / "ops.ipynb"


def text_of(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts.append(data.get("text/plain", ""))
        parts.append(data.get("text/html", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(lab: Any) -> Any:
    """The notebook executed on a deployed lab (deployed here first)."""
    res = run_cli("deploy", "--no-verify")
    assert res.returncode == 0, res.stdout + res.stderr
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return nb


def cell(nb: Any, needle: str) -> Any:
    return next(c for c in nb.cells if c.cell_type == "code" and needle in c.source)


def test_notebook_runs_without_errors(executed: Any) -> None:
    for c in executed.cells:
        if c.cell_type == "code":
            assert all(o.output_type != "error" for o in c.outputs), c.source


def test_inventory_cell_lists_the_lab_hosts(executed: Any) -> None:
    out = text_of(cell(executed, "hh.inventory()"))
    for host in ("trusted", "compute", "dns"):
        assert host in out
    assert "192.0.2.132" in out and "<table" in out


def test_exec_cell_shows_compute_containers(executed: Any) -> None:
    out = text_of(cell(executed, "containers on compute"))
    assert "'ollama'" in out and "'qdrant'" in out


def test_dry_run_cell_reports_no_change(executed: Any) -> None:
    assert "<table" in text_of(cell(executed, "hh.deploy(dry_run=True)"))
    out = text_of(cell(executed, "s = plan.summary"))
    assert "dry run: hosts 3, changed 0, failed 0" in out
    assert "'dns', 'compute stacks', 'trusted stacks'" in out


def test_verify_gpu_and_report_cells(executed: Any) -> None:
    assert "verify ok: True" in text_of(cell(executed, "verify ok:"))
    gpu = text_of(cell(executed, "hh.check_gpu()"))
    assert gpu.count("SKIP") == 3 and "no GPU in the inventory" in gpu
    report = text_of(cell(executed, "validate_report(doc)"))
    assert "schema 1 run" in report and "'hosts_changed': 0" in report
