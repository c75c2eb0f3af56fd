"""Nothing hostile gets through (issue 16, items 1 and 5): a name that is a formula stays
text in every workbook and is neutralised in leads.csv, numbers stay numbers, and a name
carrying HTML is shown on the map, never run — checked in the file bytes and, where
Debian's chromium is installed, in a headless browser."""

from __future__ import annotations

import datetime as dt
import json
import zipfile

import openpyxl
import polars as pl
import pytest

from screening.export.exporter import LedgerView, export_all
from screening.export.mapping import html_map
from screening.ledger.ledger import Ledger
from screening.pipeline.run import write_leads

from .conftest import CHROMIUM, dump_dom

FORMULA = '=HYPERLINK("http://evil.example/?q=1","点此查看")'
DDE = "-2+3+cmd|' /C calc'!A0"
XSS = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
SCRIPT = "</script><script>document.body.setAttribute('data-pwned','2')</script>"
BOX = "POLYGON((117.0 33.6,117.1 33.6,117.1 33.7,117.0 33.7,117.0 33.6))"


def _leads() -> pl.DataFrame:
    base = {
        "score": 5.0,
        "category": "no_licence",
        "reasons": "NIGHT_LOAD;NO_REGISTRATION",
        "evidence": "夜间用电占比63%；此处用电但无任何市场主体登记",
        "oversight_unit": "区应急管理局",
        "legal_reps": None,
        "usccs": None,
        "account_ids": "3400001",
        "property_ids": None,
        "plates": None,
        "case_ids": None,
        "tip_ids": None,
        "permit_ids": None,
        "rule_score": -0.5,
    }
    rows = [
        {**base, "rank": 1, "site_id": "S1", "lon": 117.05, "lat": 33.65, "names": FORMULA,
         "township": "桃园镇", "address": DDE},
        {**base, "rank": 2, "site_id": "S2", "lon": 117.06, "lat": 33.66, "names": XSS,
         "township": "@SUM(1+1)", "address": SCRIPT},
        {**base, "rank": 3, "site_id": "S3", "lon": None, "lat": None, "names": "无坐标厂",
         "township": "桃园镇", "address": "桃园镇某村3组"},
    ]  # fmt: skip
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Null).cast(pl.String))


def _townships() -> pl.DataFrame:
    return pl.DataFrame({"township": [XSS], "oversight_unit": [SCRIPT], "geometry": [BOX]})


def _formulas(path) -> list[str]:
    """Every formula element in a workbook's sheets (there must be none)."""
    with zipfile.ZipFile(path) as z:
        return [
            n
            for n in z.namelist()
            if n.startswith("xl/worksheets/") and (b"<f>" in z.read(n) or b"<f " in z.read(n))
        ]


def test_formula_like_names_are_text_in_every_workbook(tmp_path):
    ledger = tmp_path / "l.duckdb"
    leads = _leads()
    with Ledger(ledger) as lg:
        lg.merge_run(
            "R1", leads, {"as_of": dt.date(2021, 8, 31)}, {"match_m": 50.0, "escalate_factor": 1.5}
        )
        at = dt.datetime(2021, 9, 3, 12)
        for status in ("assigned", "inspected"):
            lg.transition("S1", status, "一组", at=at)
        facts = {"behaviour": "@SUM(A1)", "name": FORMULA, "station": "撬装加油站"}
        lg.transition("S1", "confirmed", "一组", at=at, fields=facts)
        view = LedgerView(lg.history(), lg.sites(), lg.latest_leads())
    files = export_all(leads, view, tmp_path / "out", dt.date(2021, 9, 30), dt.date(2021, 10, 1))
    books = [f for f in files if f.suffix == ".xlsx"]
    assert len(books) == 4
    for path in books:
        assert _formulas(path) == [], path.name
    ws = openpyxl.load_workbook(tmp_path / "out" / "线索核查表_区应急管理局.xlsx").active
    cells = {c.value: c.data_type for row in ws.iter_rows() for c in row if c.value}
    assert cells[DDE] == "s" and cells["@SUM(1+1)"] == "s"
    assert any(v == FORMULA for v in cells)
    annex2 = openpyxl.load_workbook(tmp_path / "out" / "附件2_清单台账_区应急管理局.xlsx").active
    row = [c.value for c in annex2[4]]
    assert row[1] == FORMULA and row[6] == "@SUM(A1)"


def test_leads_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    write_leads(_leads(), tmp_path)
    text = (tmp_path / "leads.csv").read_text(encoding="utf-8-sig")
    back = pl.read_csv(tmp_path / "leads.csv", infer_schema_length=0)
    names = dict(back.select("site_id", "names").iter_rows())
    assert names["S1"] == "'" + FORMULA
    assert dict(back.select("site_id", "address").iter_rows())["S1"] == "'" + DDE
    assert dict(back.select("site_id", "township").iter_rows())["S2"] == "'@SUM(1+1)"
    assert set(back["rule_score"]) == {"-0.5"}  # a negative number stays a number
    assert "\n=" not in text and ",=" not in text and ",@" not in text
    # the Parquet file keeps the data as it is
    assert pl.read_parquet(tmp_path / "leads.parquet")["names"][0] == FORMULA


def test_map_page_carries_names_as_data_not_markup():
    page = html_map(_leads(), _townships(), "区应急管理局 <b>线索</b>")
    body = page.split("<script>", 2)[2]  # after Leaflet: the page's own data and code
    assert "<img" not in body and "</script><script>" not in body.split("</script>", 1)[0]
    assert "\\u003cimg src=x onerror" in body
    assert "<title>区应急管理局 &lt;b&gt;线索&lt;/b&gt;</title>" in page
    data = json.loads(body.split("const DATA = ", 1)[1].split("\n", 1)[0].rstrip(";"))
    assert data["townships"]["features"][0]["properties"]["township"] == XSS
    assert [p["rank"] for p in data["leads"]] == [1, 2, 3]
    assert data["leads"][2]["lon"] is None and data["leads"][2]["amap"] is None
    assert data["leads"][0]["amap"].startswith("amapuri://route/plan/?dlat=")
    assert "coord_type=bd09ll" in data["leads"][0]["baidu"]


def _render(page_text: str, tmp_path) -> str:
    page = tmp_path / "map.html"
    page.write_text(page_text, encoding="utf-8")
    return dump_dom(page, tmp_path / "profile")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_hostile_names_are_shown_not_run_in_chromium(tmp_path):
    dom = _render(html_map(_leads(), _townships(), "测试"), tmp_path)
    assert 'data-leads="2"' in dom and 'data-listed="3"' in dom
    assert 'data-pwned="' not in dom  # no attribute set: the scripts never ran
    assert '<img src="x"' not in dom and "<img src=x" not in dom
    assert "&lt;img src=x onerror=" in dom  # the township's name, shown as text
    assert "=HYPERLINK(" in dom
