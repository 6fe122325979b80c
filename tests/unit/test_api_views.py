"""`HomeHub` views that need no connection: repr, HTML tables, to_dict, the pandas hint."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import LAB_CONFIG

from nornir_homehub.api import ExecResults, ExecRow, HomeHub
from nornir_homehub.report import RunRecorder

NO_PANDAS = importlib.util.find_spec("pandas") is None


def test_inventory_table_without_connecting() -> None:
    hh = HomeHub(LAB_CONFIG)
    inv = hh.filter(role="compute").inventory()
    assert inv.names == ["compute"] and len(inv) == 1
    assert repr(inv).splitlines() == [
        "NAME     ROLE     ADDRESS      GROUPS",
        "compute  compute  192.0.2.132  compute",
    ]
    assert "<td>192.0.2.132</td>" in inv._repr_html_()
    assert inv.to_dict()["filter"] == ["role=compute"]
    assert "role=compute" in repr(hh.filter(role="compute"))


def test_exec_results_views_escape_output() -> None:
    report = RunRecorder("exec").finish()
    res = ExecResults(
        "echo <b>",
        (
            ExecRow("a", True, 0, "<b>\n", "", None),
            ExecRow("b", False, None, "", "", "TransportError: b: SSH connection failed"),
        ),
        report,
    )
    assert not res.ok and res["a"].stdout == "<b>\n"
    assert "=== b (FAILED)\nTransportError: b: SSH connection failed" in repr(res)
    html = res._repr_html_()
    assert "<table" in html and "&lt;b&gt;" in html and "<b>\n" not in html
    assert res.to_dict()["hosts"][1]["exit_code"] is None
    with pytest.raises(KeyError):
        res["c"]


@pytest.mark.skipif(not NO_PANDAS, reason="pandas is installed")
def test_to_dataframe_names_the_extra_without_pandas() -> None:
    with pytest.raises(ImportError, match=r"nornir_homehub\[pandas\]"):
        HomeHub(LAB_CONFIG).inventory().to_dataframe()
