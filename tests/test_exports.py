"""The campaign's forms: the team's work list exported from a run, filled by a team, imported
back, and the annex 3 totals match what the team recorded. Files are read back with
openpyxl."""

from __future__ import annotations

import datetime as dt

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.export.forms import (
    ANNEX2_COLUMNS,
    ANNEX2_TITLE,
    ANNEX3_TITLE,
    ANNEX4_TITLE,
)
from screening.export.worklist import TITLE as WORK_LIST_TITLE
from screening.export.worklist import outcome_headings
from screening.ledger.ledger import Ledger

from .conftest import SAMPLE, annex3_values

OUTCOME_COLUMNS = outcome_headings()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forms")
    ledger, run, forms = tmp / "ledger.duckdb", tmp / "run", tmp / "forms"
    _cli("run", "--input", str(SAMPLE), "--out", str(run), "--ledger", str(ledger))
    _cli(
        "export",
        "--run",
        str(run),
        "--ledger",
        str(ledger),
        "--out",
        str(forms),
        "--month-end",
        "2021-09-30",
    )
    return tmp, ledger, run, forms


def _work_lists(forms):
    """The teams' work lists (线索核查表): the sheets that go out and come back. Before
    issue 15 this was annex 2, which listed every lead as if it were a finding."""
    return sorted(forms.glob("线索核查表_*.xlsx"))


_annex2_files = _work_lists


def test_annex2_has_the_notice_layout_per_unit(scenario):
    _, _, run, forms = scenario
    leads = pl.read_parquet(run / "leads.parquet")
    units = leads["oversight_unit"].fill_null("未划分包保单位").unique()
    annex2 = sorted(forms.glob("附件2_清单台账_*.xlsx"))
    assert len(annex2) == units.len()
    ws2 = openpyxl.load_workbook(annex2[0]).active
    assert ws2["A1"].value == ANNEX2_TITLE
    assert ws2["A2"].value.startswith("填报单位（盖章）：")
    assert [c.value for c in ws2[3]][: len(ANNEX2_COLUMNS)] == ANNEX2_COLUMNS
    # nobody has visited anything yet: annex 2 lists no site
    assert ws2["A4"].value.startswith("（截至填报日期无")
    files = _work_lists(forms)
    assert len(files) == units.len()
    ws = openpyxl.load_workbook(files[0]).active
    assert ws["A1"].value == WORK_LIST_TITLE
    assert ws["A2"].value.startswith("填报单位（盖章）：")
    header = [c.value for c in ws[3]]
    assert set(OUTCOME_COLUMNS) <= set(header)
    unit = ws["A2"].value.split("：", 1)[1]
    mine = leads.filter(pl.col("oversight_unit").fill_null("未划分包保单位") == unit)
    ids = [
        ws.cell(row=r, column=header.index("线索编号") + 1).value for r in range(4, 4 + mine.height)
    ]
    assert ids == mine.sort("rank")["site_id"].to_list()
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("填报人（签名）") for t in texts)


def test_names_appear_only_in_their_own_teams_file(scenario):
    _, _, run, forms = scenario
    leads = pl.read_parquet(run / "leads.parquet").with_columns(
        pl.col("oversight_unit").fill_null("未划分包保单位")
    )
    for path in _annex2_files(forms):
        ws = openpyxl.load_workbook(path).active
        unit = ws["A2"].value.split("：", 1)[1]
        header = [c.value for c in ws[3]]
        col = header.index("登记负责人") + 1
        written = {
            n
            for r in range(4, ws.max_row + 1)
            for n in str(ws.cell(row=r, column=col).value or "").replace("、", ";").split(";")
            if n
        }
        own = set(
            leads.filter(pl.col("oversight_unit") == unit)["legal_reps"]
            .drop_nulls()
            .str.split(";")
            .explode()
        )
        assert written <= own


def test_team_sheet_round_trip_and_annex3_totals(scenario):
    tmp, ledger, run, forms = scenario
    path = _annex2_files(forms)[0]
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[3]]
    col = {h: header.index(h) + 1 for h in header if h}
    site_rows = [
        r for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=col["线索编号"]).value
    ]
    assert len(site_rows) >= 3
    fills = [  # confirmed with measures, cleared, and two bad rows
        {
            "核查日期": "2021/9/3",
            "检查组": "第一组",
            "出动人数": "4",
            "核查结论（确认/排除）": "确认",
            "责令停产整顿（是/否）": "是",
            "没收违法所得（万元）": "2.5",
            "经济处罚（万元）": "10",
            "移送司法机关（是/否）": "是",
            "具体非法违法行为": "无证生产",
        },
        {
            "核查日期": "2021年9月4日",
            "检查组": "第二组",
            "出动人数": "3",
            "核查结论（确认/排除）": "排除",
            "核查情况说明": "食品加工厂，夜间生产属正常",
        },
        {
            "核查日期": "2021-09-05",
            "检查组": "第一组",
            "核查结论（确认/排除）": "确认",
            "经济处罚（万元）": "五万",
        },
    ]
    for r, values in zip(site_rows, fills, strict=False):
        for k, v in values.items():
            ws.cell(row=r, column=col[k], value=v)
    bad_row = ws.max_row + 1
    ws.cell(row=bad_row, column=col["线索编号"], value="SNOSUCHSITE")
    ws.cell(row=bad_row, column=col["核查结论（确认/排除）"], value="确认")
    ws.cell(row=bad_row, column=col["核查日期"], value="2021-09-06")
    wb.save(tmp / "returned.xlsx")

    out = _cli(
        "ledger", "import", str(tmp / "returned.xlsx"), "--actor", "桃园镇", "--ledger", str(ledger)
    )
    assert "2 rows applied, 2 rejected" in out
    assert "malformed amount '五万'" in out and "unknown site id SNOSUCHSITE" in out
    confirmed = ws.cell(row=site_rows[0], column=col["线索编号"]).value
    cleared = ws.cell(row=site_rows[1], column=col["线索编号"]).value
    with Ledger(ledger) as lg:
        status = dict(lg.status().select("site_id", "status").iter_rows())
    assert status[confirmed] == "measures_taken" and status[cleared] == "cleared"

    # importing the same sheet again: the applied rows are now impossible transitions
    again = _cli(
        "ledger", "import", str(tmp / "returned.xlsx"), "--actor", "桃园镇", "--ledger", str(ledger)
    )
    assert "0 rows applied" in again and "impossible transition" in again

    forms2 = tmp / "forms2"
    _cli(
        "export",
        "--run",
        str(run),
        "--ledger",
        str(ledger),
        "--out",
        str(forms2),
        "--month-end",
        "2021-09-30",
    )
    assert (
        openpyxl.load_workbook(next(forms2.glob("附件3_*.xlsx"))).active["A1"].value == ANNEX3_TITLE
    )
    value = annex3_values(next(forms2.glob("附件3_*.xlsx")))
    assert value["检查组个数"] == 2 and value["出动执法人员人次"] == 7
    assert value["排查企业（单位或个人）数"] == 2 and value["合计"] == 1
    assert value["责令停产整顿企业数"] == 1 and value["移送司法机关处理数"] == 1
    assert value["没收违法所得金额（万元）"] == 2.5 and value["实施经济处罚金额（万元）"] == 10
    # cumulative to a month end: nothing was recorded by the end of August
    forms3 = tmp / "forms3"
    _cli(
        "export",
        "--run",
        str(run),
        "--ledger",
        str(ledger),
        "--out",
        str(forms3),
        "--month-end",
        "2021-08-31",
    )
    ws_aug = openpyxl.load_workbook(next(forms3.glob("附件3_*.xlsx"))).active
    assert ws_aug.cell(row=5, column=1).value == 0


def test_annex4_layout(scenario):
    _, _, _, forms = scenario
    ws = openpyxl.load_workbook(sorted(forms.glob("附件4_*.xlsx"))[0]).active
    assert ws["A1"].value == ANNEX4_TITLE
    assert [c.value for c in ws[4]][5:9] == ["自备加油站", "撬装加油站", "柴油", "汽油"]


def test_month_end_default_is_last_month(scenario, monkeypatch):
    today = dt.date.today()
    assert (today.replace(day=1) - dt.timedelta(days=1)).day >= 28
