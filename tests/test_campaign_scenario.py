"""Issue 5's scripted scenario, through the command line only, on the sample county:
run → assign → import a team's returned sheet (a confirmation with measures, a clearance) →
close → run the next night → export. No duplicate leads, the cleared site silent (or back
only with new reasons), the closed site back as a recurrence, annex 3 totals equal to the
imported outcomes, and files that open."""

from __future__ import annotations

import shutil

import openpyxl
import polars as pl
from typer.testing import CliRunner

from screening.cli import app

from .conftest import SAMPLE, annex3_values


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _bundle(tmp, as_of: str):
    bundle = tmp / f"bundle-{as_of}"
    shutil.copytree(SAMPLE, bundle)
    manifest = bundle / "manifest.toml"
    lines = [
        ln for ln in manifest.read_text(encoding="utf-8").splitlines() if not ln.startswith("as_of")
    ]
    manifest.write_text("\n".join([f'as_of = "{as_of}"', *lines]) + "\n", encoding="utf-8")
    return bundle


def test_the_campaign_month(tmp_path):
    ledger = str(tmp_path / "ledger.duckdb")
    night1, night2 = tmp_path / "night1", tmp_path / "night2"
    _cli(
        "run",
        "--input",
        str(_bundle(tmp_path, "2021-08-30")),
        "--out",
        str(night1),
        "--ledger",
        ledger,
    )
    first = pl.read_parquet(night1 / "leads.parquet")
    _cli(
        "export",
        "--run",
        str(night1),
        "--ledger",
        ledger,
        "--out",
        str(tmp_path / "forms1"),
        "--month-end",
        "2021-08-31",
    )

    # the unit of the top lead assigns it, its team works through its sheet
    top = first.row(0, named=True)
    _cli(
        "ledger",
        "set",
        top["site_id"],
        "assigned",
        "--actor",
        str(top["oversight_unit"]),
        "--note",
        "交排查组",
        "--at",
        "2021-08-30 09:00",
        "--ledger",
        ledger,
    )
    sheet = next(
        p
        for p in (tmp_path / "forms1").glob("线索核查表_*.xlsx")
        if str(top["oversight_unit"]) in p.name
    )
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
    for site, values in (
        (
            confirmed,
            {
                "核查日期": "2021-08-30",
                "检查组": "一组",
                "出动人数": "5",
                "核查结论（确认/排除）": "确认",
                "责令停产整顿（是/否）": "是",
                "拆除非法生产装置（是/否）": "是",
                "经济处罚（万元）": "8",
                "移送司法机关（是/否）": "否",
            },
        ),
        (
            cleared,
            {
                "核查日期": "2021-08-30",
                "检查组": "二组",
                "出动人数": "2",
                "核查结论（确认/排除）": "排除",
                "核查情况说明": "正常生产",
            },
        ),
    ):
        for k, v in values.items():
            ws.cell(row=rows[site], column=col[k], value=v)
    wb.save(tmp_path / "returned.xlsx")
    assert "2 rows applied, 0 rejected" in _cli(
        "ledger", "import", str(tmp_path / "returned.xlsx"), "--actor", "排查组", "--ledger", ledger
    )
    _cli(
        "ledger",
        "set",
        confirmed,
        "closed",
        "--actor",
        "区应急管理局",
        "--note",
        "已取缔",
        "--at",
        "2021-08-30 18:00",
        "--ledger",
        ledger,
    )

    # the next night
    _cli(
        "run",
        "--input",
        str(_bundle(tmp_path, "2021-08-31")),
        "--out",
        str(night2),
        "--ledger",
        ledger,
    )
    second = pl.read_parquet(night2 / "leads.parquet")
    assert second["site_id"].is_unique().all()
    back = second.filter(pl.col("site_id") == cleared)
    assert back.height == 0 or (
        back["merge"].item() == "escalated" and "新理由" in back["ledger_note"].item()
    )
    revived = second.filter(pl.col("site_id") == confirmed).row(0, named=True)
    assert revived["merge"] == "recurrence" and revived["category"] == "recurrence"

    forms = tmp_path / "forms2"
    _cli(
        "export",
        "--run",
        str(night2),
        "--ledger",
        ledger,
        "--out",
        str(forms),
        "--month-end",
        "2021-08-31",
    )
    value = annex3_values(next(forms.glob("附件3_*.xlsx")))
    assert value["检查组个数"] == 2 and value["出动执法人员人次"] == 7
    assert value["排查企业（单位或个人）数"] == 2 and value["合计"] == 1
    assert value["责令停产整顿企业数"] == 1 and value["拆除非法生产装置企业数"] == 1
    assert value["实施经济处罚企业数"] == 1 and value["实施经济处罚金额（万元）"] == 8
    assert value["移送司法机关处理数"] == 0
    for path in forms.glob("*.xlsx"):
        openpyxl.load_workbook(path)  # every form opens
    assert list(forms.glob("地图_*.html")) and list(forms.glob("地图_*.geojson"))
