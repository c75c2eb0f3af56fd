"""Issue 15's scenario as a user, through the command line only, on the sample county with a
fresh ledger: run → export the work list → a team fills it (确认 with its facts for one site,
排除 for another) → import → export → the forms state exactly what was recorded and nothing
else, and the next run shows both outcomes."""

from __future__ import annotations

import datetime as dt
import re

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.export.forms import ANNEX2_COLUMNS, ANNEX3_FOUND
from screening.scoring.rules import CATEGORY_ZH

from .conftest import SAMPLE, annex3_values

CONFIRMED_FACTS = {
    "核查日期": dt.datetime(2021, 9, 3),  # a date cell, as the validated column takes it
    "检查组": "第一组",
    "出动人数": 4,
    "核查结论（确认/排除）": "确认",
    "认定类别": "无证无照",
    "核实名称（单位或个人）": "无名稀释剂作坊",
    "主要负责人（实际控制人）": "王某（租户）",
    "非法违法环节（生产、储存、使用）": "生产、储存",
    "具体非法违法行为": "租用民房无证生产稀释剂",
    "涉及化工（危险化学品）品种、数量": "甲苯约2吨、稀释剂成品30桶",
    "责令停产整顿（是/否）": "是",
    "拆除非法生产装置（是/否）": "是",
    "没收违法所得（万元）": 1.5,
    "经济处罚（万元）": 5,
    "移送司法机关（是/否）": "否",
    "加油站存在方式（自备/撬装）": "撬装加油站",
    "油品种类（柴油/汽油）": "柴油",
    "柴油储存能力（吨）": 12,
    "联系电话": "0557-0000000",
}
CLEARED_FACTS = {
    "核查日期": "2021年9月4日",  # typed as text, as people do
    "检查组": "第二组",
    "出动人数": "3",
    "核查结论（确认/排除）": "排除",
    # written on a cleared row by mistake: a cleared site is no finding, so none of it may
    # appear on any form
    "具体非法违法行为": "不应出现的行为描述",
    "核查情况说明": "食品加工厂，凌晨生产属正常",
}
MEASURES = "责令停产整顿；拆除非法生产装置；没收违法所得1.5万元；罚款5万元"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _texts(path, skip_rows: int) -> list[str]:
    """Every text cell of a form below its heading rows, footer lines left out."""
    ws = openpyxl.load_workbook(path).active
    out = []
    for row in ws.iter_rows(min_row=skip_rows + 1):
        for c in row:
            if isinstance(c.value, str) and not c.value.startswith(("填报人", "特别提醒")):
                out.append(c.value)
    return out


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inspector")
    ledger, run = str(tmp / "ledger.duckdb"), tmp / "run"
    _cli("run", "--input", str(SAMPLE), "--out", str(run), "--ledger", ledger)
    _cli("export", "--run", str(run), "--ledger", ledger, "--out", str(tmp / "out1"),
         "--month-end", "2021-09-30")  # fmt: skip
    leads = pl.read_parquet(run / "leads.parquet")
    top = leads.row(0, named=True)
    unit = top["oversight_unit"]
    sheet = tmp / "out1" / f"线索核查表_{unit}.xlsx"
    wb = openpyxl.load_workbook(sheet)
    ws = wb.active
    header = [c.value for c in ws[3]]
    col = {h: header.index(h) + 1 for h in header if h}
    rows = {
        ws.cell(row=r, column=col["线索编号"]).value: r
        for r in range(4, ws.max_row + 1)
        if ws.cell(row=r, column=col["线索编号"]).value
    }
    confirmed = top["site_id"]
    cleared = next(s for s in rows if s != confirmed)
    for site, facts in ((confirmed, CONFIRMED_FACTS), (cleared, CLEARED_FACTS)):
        for k, v in facts.items():
            ws.cell(row=rows[site], column=col[k], value=v)
    wb.save(tmp / "returned.xlsx")
    imported = _cli("ledger", "import", str(tmp / "returned.xlsx"), "--actor", unit,
                    "--ledger", ledger)  # fmt: skip
    _cli("export", "--run", str(run), "--ledger", ledger, "--out", str(tmp / "out2"),
         "--month-end", "2021-09-30")  # fmt: skip
    rerun = tmp / "run2"
    again = _cli("run", "--input", str(SAMPLE), "--out", str(rerun), "--ledger", ledger)
    return {
        "tmp": tmp,
        "ledger": ledger,
        "unit": unit,
        "top": top,
        "leads": leads,
        "confirmed": confirmed,
        "cleared": cleared,
        "imported": imported,
        "again": again,
        "next": pl.read_parquet(rerun / "leads.parquet"),
        "out": tmp / "out2",
    }


def test_the_work_list_goes_out_with_validated_blank_outcome_columns(story):
    ws = openpyxl.load_workbook(story["tmp"] / "out1" / f"线索核查表_{story['unit']}.xlsx").active
    header = [c.value for c in ws[3]]
    assert header[:4] == ["序号", "排名", "线索编号", "评分"]
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.print_title_rows == "$1:$3"
    kinds = {dv.type for dv in ws.data_validations.dataValidation}
    assert {"list", "date", "whole", "decimal"} <= kinds
    lists = " ".join(str(dv.formula1) for dv in ws.data_validations.dataValidation)
    assert "确认,排除" in lists and "是,否" in lists
    first = {h: ws.cell(row=4, column=j + 1).value for j, h in enumerate(header)}
    # reasons in Chinese, no rule code; the outcome columns blank
    assert first["线索理由"] and not re.search(r"[A-Z]{3,}_[A-Z]", first["线索理由"])
    assert all(first[h] is None for h in CONFIRMED_FACTS)


def test_import_applies_both_rows(story):
    assert "2 rows applied, 0 rejected" in story["imported"]


def test_annex2_lists_exactly_the_confirmed_site_with_its_recorded_facts(story):
    out = story["out"]
    for path in out.glob("附件2_清单台账_*.xlsx"):
        ws = openpyxl.load_workbook(path).active
        assert [c.value for c in ws[3]][: len(ANNEX2_COLUMNS)] == ANNEX2_COLUMNS
        body = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
        listed = [r for r in body if isinstance(r[0], int)]
        if path.name == f"附件2_清单台账_{story['unit']}.xlsx":
            assert len(listed) == 1
            row = dict(zip([c.value for c in ws[3]], listed[0], strict=False))
            assert row["非法违法企业（单位或个人）名称"] == "无名稀释剂作坊"
            assert row["主要负责人（实际控制人）"] == "王某（租户）"
            assert row["非法违法环节（生产、储存、使用）"] == "生产、储存"
            assert row["具体非法违法行为"] == "租用民房无证生产稀释剂"
            assert row["涉及化工（危险化学品）品种、数量"] == "甲苯约2吨、稀释剂成品30桶"
            assert row["采取的措施"] == MEASURES
            assert row["线索编号"] == story["confirmed"]
            assert row["所在乡镇"] == story["top"]["township"]
        else:
            assert listed == []


def test_annex4_only_the_recorded_station(story):
    ticks = 0
    for path in story["out"].glob("附件4_*.xlsx"):
        ws = openpyxl.load_workbook(path).active
        rows = [[c.value for c in row] for row in ws.iter_rows(min_row=5)]
        listed = [r for r in rows if isinstance(r[0], int)]
        ticks += sum(v == "√" for r in listed for v in r)
        if path.name == f"附件4_自备撬装加油站_{story['unit']}.xlsx":
            assert len(listed) == 1
            r = listed[0]
            assert r[1] == "无名稀释剂作坊"
            assert r[5:9] == [None, "√", "√", None]  # 撬装, 柴油 — as recorded
            assert r[9] == 12 and r[10] is None and r[11] == "0557-0000000"
        else:
            assert listed == []
    assert ticks == 2


def test_annex3_totals_equal_the_imported_figures(story):
    value = annex3_values(next(story["out"].glob("附件3_*.xlsx")))
    assert value["检查组个数"] == 2 and value["出动执法人员人次"] == 7
    assert value["排查企业（单位或个人）数"] == 2
    assert value["合计"] == 1
    assert value[ANNEX3_FOUND[3]] == 1  # recorded as 无证无照
    assert sum(value[c] for c in ANNEX3_FOUND[1:]) == value["合计"]
    assert value["责令停产整顿企业数"] == 1 and value["拆除非法生产装置企业数"] == 1
    assert value["没收违法所得企业数"] == 1 and value["没收违法所得金额（万元）"] == 1.5
    assert value["实施经济处罚企业数"] == 1 and value["实施经济处罚金额（万元）"] == 5
    assert value["移送司法机关处理数"] == 0


def test_no_cell_of_any_form_states_what_nobody_recorded(story):
    """Annex 2 and 4 hold the recorded facts, the site's place and registered name, the
    composed measures and their own fixed words — no lead category, no evidence, nothing
    from the cleared row."""
    recorded = {str(v) for v in CONFIRMED_FACTS.values()} | {MEASURES, "√"}
    place = {story["top"]["township"], story["top"]["address"], story["confirmed"]}
    fixed = {
        "（截至填报日期无经核查确认的非法违法“小化工”）",
        "（截至填报日期无经核查确认的自备、撬装加油站）",
    }
    for path in [*story["out"].glob("附件2_*.xlsx"), *story["out"].glob("附件4_*.xlsx")]:
        skip = 4 if path.name.startswith("附件4") else 3
        for text in _texts(path, skip):
            assert text in recorded | place | fixed, (path.name, text)
    for path in story["out"].glob("*.xlsx"):
        if not path.name.startswith("线索核查表"):
            assert "不应出现的行为描述" not in " ".join(_texts(path, 0))


def test_the_next_export_and_run_show_both_outcomes(story):
    ws = openpyxl.load_workbook(story["out"] / f"线索核查表_{story['unit']}.xlsx").active
    header = [c.value for c in ws[3]]
    rows = {
        ws.cell(row=r, column=header.index("线索编号") + 1).value: {
            h: ws.cell(row=r, column=j + 1).value for j, h in enumerate(header)
        }
        for r in range(4, ws.max_row + 1)
    }
    assert rows[story["confirmed"]]["台账状态"] == "已处置"
    assert rows[story["confirmed"]]["已记录结果"].startswith("9月3日确认（第一组）：责令停产整顿")
    assert rows[story["cleared"]]["台账状态"] == "已排除"
    assert rows[story["cleared"]]["已记录结果"] == "9月4日排除（第二组）"
    nxt = story["next"]
    status = dict(nxt.select("site_id", "ledger_status").iter_rows())
    assert status[story["confirmed"]] == "measures_taken"
    assert status[story["cleared"]] == "cleared"
    outcome = dict(nxt.select("site_id", "ledger_outcome").iter_rows())
    assert outcome[story["cleared"]] == "9月4日排除（第二组）"
    assert "this run was merged before" in story["again"]


def test_reports_count_outcomes_by_their_recorded_date(story):
    out = _cli("ledger", "report", "--ledger", story["ledger"])
    assert out.startswith("2 labelled sites")
    history = _cli("ledger", "history", story["confirmed"], "--ledger", story["ledger"])
    days = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", history)
    assert days == sorted(days) and "null" not in history
    status = _cli("ledger", "status", "--ledger", story["ledger"])
    assert "null" not in status
    lines = [ln for ln in status.splitlines() if story["confirmed"] in ln or story["cleared"] in ln]
    assert len(lines) == 2


def test_categories_and_labels_in_chinese_everywhere_an_inspector_reads(story):
    assert set(story["leads"]["category_zh"].unique()) <= set(CATEGORY_ZH.values())
    for english in ("abandoned_farm", "closed_plant", "quarry", "storage许可", "高于100%"):
        assert not story["leads"]["evidence"].str.contains(english).any()
    page = (story["out"] / f"地图_{story['unit']}.html").read_text(encoding="utf-8")
    data = page.split("const DATA = ", 1)[1].split("\n", 1)[0]
    assert "电力户号：" in data and "线索理由" in page
    for label in ("account_ids", "case_ids", "usccs", "NIGHT_LOAD", "CASE_REVIVED"):
        assert label not in data
