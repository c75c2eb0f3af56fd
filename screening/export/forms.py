"""The campaign's own forms, filled from the ledger: annex 2 清单台账 (one per oversight unit,
with the lead's rank, score, reasons and evidence and blank outcome columns for the team to
fill and send back), annex 3 排查整治情况汇总表 (cumulative to a month end, from recorded
outcomes) and annex 4 自备加油站、撬装加油站统计表 (fuel-storage leads and findings).

Titles, header lines, column headings and footers are the notice's own words (seeds/000,
附件2-4). People's names and phone numbers are written only into the file of the team whose
area they are in; the county-level annex 3 carries counts only.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

ANNEX2_TITLE = "非法违法“小化工”清单台账"
ANNEX2_COLUMNS = [
    "序号",
    "非法违法企业（单位或个人）名称",
    "所在乡镇",
    "地址",
    "主要负责人（实际控制人）",
    "非法违法环节（生产、储存、使用）",
    "具体非法违法行为",
    "涉及化工（危险化学品）品种、数量",
    "采取的措施",
]
# beyond the notice: what the screening knows, and what the team fills in and sends back
ANNEX2_EXTRA = ["线索编号", "排名", "评分", "类别", "线索理由", "证据", "台账状态"]
OUTCOME_COLUMNS = [
    "核查日期",
    "检查组",
    "出动人数",
    "核查结论（确认/排除）",
    "责令停产整顿（是/否）",
    "拆除非法生产装置（是/否）",
    "没收违法所得（万元）",
    "经济处罚（万元）",
    "移送司法机关（是/否）",
    "核查情况说明",
]
FOOTER = "填报人（签名）：                  村书记（签名）：                  联系电话："
REMINDER = "特别提醒：全面覆盖、细致精准，谁填报谁负责，谁主管谁负责。"

ANNEX3_TITLE = "非法违法“小化工”排查整治情况汇总表"
ANNEX3_COLUMNS = [
    "检查组个数",
    "出动执法人员人次",
    "排查企业（单位或个人）数",
    "发现非法违法企业（单位或个人）数",
    "责令停产整顿企业数",
    "拆除非法生产装置企业数",
    "没收违法所得企业数",
    "没收违法所得金额（万元）",
    "实施经济处罚企业数",
    "实施经济处罚金额（万元）",
    "移送司法机关处理数",
]
ANNEX3_FOUND = [
    "合计",
    "现有化工企业超许可范围生产储存危险化学品企业数",
    "非化工企业未经许可生产化工产品（危险化学品）企业数",
    "无证无照或证照不全生产化工产品（危险化学品）的小企业、小作坊、黑窝点数",
    "以挂靠、租赁或“厂中厂”等方式非法违法生产化工产品（危险化学品）的单位或个人数",
]
# the campaign categories annex 3 counts separately; the rest count in the total only
ANNEX3_CATEGORY_COLUMNS = ["over_permit", "unlicensed_production", "no_licence", "affiliated"]

ANNEX4_TITLE = "自备加油站、撬装加油站统计表"
ANNEX4_COLUMNS = [
    "序号",
    "自备加油站、撬装加油站企业（单位）名称",
    "所在乡镇",
    "具体地址",
    "主要负责人（实际控制人）",
    "存在方式",
    "",
    "油品种类",
    "",
    "储存能力(吨)",
    "",
    "联系电话",
]
ANNEX4_SUB = ["", "", "", "", "", "自备加油站", "撬装加油站", "柴油", "汽油", "柴油", "汽油", ""]

STAGE_BY_CATEGORY = {"fuel_storage": "储存", "recurrence": "生产", "over_permit": "生产、储存"}


def _date_zh(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class _Book:
    """A workbook with the notice's layout helpers."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.wb = xlsxwriter.Workbook(str(path))
        self.wb.set_properties({"created": dt.datetime(2021, 1, 1)})  # reproducible files
        self.title = self.wb.add_format({"bold": True, "font_size": 16, "align": "center"})
        self.head = self.wb.add_format(
            {"bold": True, "border": 1, "text_wrap": True, "align": "center", "valign": "vcenter"}
        )
        self.cell = self.wb.add_format({"border": 1, "text_wrap": True, "valign": "top"})
        self.plain = self.wb.add_format({})

    def sheet(self, name: str, title: str, unit: str, filled: dt.date, width: int) -> Any:
        ws = self.wb.add_worksheet(name)
        ws.merge_range(0, 0, 0, width - 1, title, self.title)
        ws.write(1, 0, f"填报单位（盖章）：{unit}", self.plain)
        ws.write(1, max(width - 3, 1), f"填报日期：{_date_zh(filled)}", self.plain)
        return ws

    def close(self) -> None:
        self.wb.close()


def annex2(path: Path, leads: pl.DataFrame, unit: str, filled: dt.date) -> Path:
    """Annex 2 for one team: its leads, in rank order, with blank outcome columns."""
    book = _Book(path)
    columns = ANNEX2_COLUMNS + ANNEX2_EXTRA + OUTCOME_COLUMNS
    ws = book.sheet("清单台账", ANNEX2_TITLE, unit, filled, len(columns))
    ws.write_row(2, 0, columns, book.head)
    ws.set_row(2, 48)
    for i, r in enumerate(leads.sort("rank").iter_rows(named=True)):
        row = [
            i + 1,
            r.get("names") or r.get("meter_names") or "（未登记）",
            r.get("township") or "",
            r.get("address") or "",
            r.get("legal_reps") or "",
            STAGE_BY_CATEGORY.get(r.get("category") or "", "生产"),
            r.get("category_zh") or "",
            r.get("chemistry_terms") or "",
            "",
            r["site_id"],
            r["rank"],
            r["score"],
            r.get("category_zh") or "",
            r.get("reasons") or "",
            r.get("evidence") or "",
            r.get("ledger_status_zh") or "线索",
        ] + [""] * len(OUTCOME_COLUMNS)
        ws.write_row(3 + i, 0, row, book.cell)
    end = 3 + leads.height
    ws.write(end + 1, 0, FOOTER, book.plain)
    ws.write(end + 2, 0, REMINDER, book.plain)
    for col, width in enumerate([6, 28, 10, 30, 14, 12, 18, 22, 18, 14, 6, 8, 14, 30, 60, 10]):
        ws.set_column(col, col, width)
    ws.freeze_panes(3, 2)
    book.close()
    return path


def _outcomes(history: pl.DataFrame, month_end: dt.date) -> pl.DataFrame:
    """One row per site with the outcome fields recorded up to the month end (the latest
    value of each field wins)."""
    upto = history.filter(pl.col("changed_at").dt.date() <= month_end)
    rows = []
    for r in upto.filter(pl.col("fields").is_not_null()).iter_rows(named=True):
        fields = json.loads(r["fields"] or "{}")
        if fields:
            rows.append({"site_id": r["site_id"], "seq": r["seq"], **fields})
    if not rows:
        return pl.DataFrame(schema={"site_id": pl.String})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return (
        frame.sort("site_id", "seq")
        .group_by("site_id", maintain_order=True)
        .agg(pl.all().exclude("seq").drop_nulls().last())
    )


def annex3_totals(
    history: pl.DataFrame,
    status: pl.DataFrame,
    month_end: dt.date,
) -> dict[str, float]:
    """The summary figures cumulative to ``month_end``, from what teams recorded."""
    out = _outcomes(history, month_end)
    inspected = history.filter(
        (pl.col("to_status") == "inspected") & (pl.col("changed_at").dt.date() <= month_end)
    )
    confirmed = history.filter(
        (pl.col("to_status") == "confirmed") & (pl.col("changed_at").dt.date() <= month_end)
    )["site_id"].unique()
    f = out.filter(pl.col("site_id").is_in(confirmed.implode())) if out.height else out

    def col(name: str) -> pl.Series:
        return f[name] if name in f.columns else pl.Series(name, [], dtype=pl.String)

    def yes(name: str) -> int:
        return int(col(name).cast(pl.String).is_in(["是", "true", "True", "1"]).sum())

    def amount(name: str) -> tuple[int, float]:
        v = col(name).cast(pl.Float64, strict=False).fill_null(0.0)
        return int((v > 0).sum()), float(v.sum())

    groups = out["group"].drop_nulls().n_unique() if "group" in out.columns else 0
    staff = (
        float(out["staff"].cast(pl.Float64, strict=False).fill_null(0).sum())
        if "staff" in out.columns
        else 0.0
    )
    cats = col("category").cast(pl.String)
    confiscated = amount("confiscated_wan")
    fines = amount("fine_wan")
    totals = {
        "检查组个数": groups,
        "出动执法人员人次": staff,
        "排查企业（单位或个人）数": inspected["site_id"].n_unique(),
        "合计": len(confirmed),
        **{
            ANNEX3_FOUND[i + 1]: int((cats == c).sum())
            for i, c in enumerate(ANNEX3_CATEGORY_COLUMNS)
        },
        "责令停产整顿企业数": yes("suspend"),
        "拆除非法生产装置企业数": yes("dismantle"),
        "没收违法所得企业数": confiscated[0],
        "没收违法所得金额（万元）": round(confiscated[1], 4),
        "实施经济处罚企业数": fines[0],
        "实施经济处罚金额（万元）": round(fines[1], 4),
        "移送司法机关处理数": yes("judicial"),
    }
    return totals


def annex3(path: Path, totals: dict[str, float], unit: str, filled: dt.date) -> Path:
    """Annex 3 with its two header rows: the "found" column splits into the total and the
    four kinds the notice counts."""
    book = _Book(path)
    width = len(ANNEX3_COLUMNS) + len(ANNEX3_FOUND) - 1
    ws = book.sheet("汇总表", ANNEX3_TITLE, unit, filled, width)
    col = 0
    for name in ANNEX3_COLUMNS:
        if name == "发现非法违法企业（单位或个人）数":
            ws.merge_range(2, col, 2, col + len(ANNEX3_FOUND) - 1, name, book.head)
            ws.write_row(3, col, ANNEX3_FOUND, book.head)
            ws.write_row(4, col, [totals[k] for k in ANNEX3_FOUND], book.cell)
            col += len(ANNEX3_FOUND)
        else:
            ws.merge_range(2, col, 3, col, name, book.head)
            ws.write(4, col, totals[name], book.cell)
            col += 1
    ws.set_row(3, 90)
    ws.set_column(0, width - 1, 12)
    ws.write(6, 0, FOOTER, book.plain)
    book.close()
    return path


def annex4(path: Path, fuel: pl.DataFrame, unit: str, filled: dt.date) -> Path:
    """Annex 4: fuel-storage leads and findings (self-owned or skid-mounted stations)."""
    book = _Book(path)
    ws = book.sheet("统计表", ANNEX4_TITLE, unit, filled, len(ANNEX4_COLUMNS))
    ws.write_row(2, 0, ANNEX4_COLUMNS, book.head)
    ws.write_row(3, 0, ANNEX4_SUB, book.head)
    for i, r in enumerate(fuel.sort("rank").iter_rows(named=True)):
        ws.write_row(
            4 + i,
            0,
            [
                i + 1,
                r.get("names") or "（未登记）",
                r.get("township") or "",
                r.get("address") or "",
                r.get("legal_reps") or "",
                "",
                "√",
                "√",
                "",
                "",
                "",
                "",
            ],
            book.cell,
        )
    ws.write(5 + fuel.height, 0, FOOTER, book.plain)
    ws.write(6 + fuel.height, 0, REMINDER, book.plain)
    book.close()
    return path


def export_all(
    leads: pl.DataFrame,
    history: pl.DataFrame,
    status: pl.DataFrame,
    out_dir: Path,
    month_end: dt.date,
    filled: dt.date,
    townships: pl.DataFrame | None = None,
) -> list[Path]:
    """Per oversight unit: annex 2 and annex 4 of its own leads, and its map; for the
    county: annex 3 (counts only, no names)."""
    from screening.export.mapping import write_maps

    written: list[Path] = []
    by_unit = leads.with_columns(pl.col("oversight_unit").fill_null("未划分包保单位"))
    for (unit,), part in by_unit.group_by("oversight_unit", maintain_order=True):
        safe = str(unit).replace("/", "_")
        written.append(annex2(out_dir / f"附件2_清单台账_{safe}.xlsx", part, str(unit), filled))
        fuel = part.filter(pl.col("category") == "fuel_storage")
        written.append(
            annex4(out_dir / f"附件4_自备撬装加油站_{safe}.xlsx", fuel, str(unit), filled)
        )
        if townships is not None:
            mine = townships.filter(pl.col("oversight_unit").fill_null("未划分包保单位") == unit)
            written += write_maps(
                part,
                mine if mine.height else townships,
                out_dir,
                f"地图_{safe}",
                f"{unit} 非法违法“小化工”线索",
            )
    totals = annex3_totals(history, status, month_end)
    written.append(
        annex3(
            out_dir / f"附件3_排查整治情况汇总表_{month_end:%Y%m}.xlsx",
            totals,
            "全县（区）",
            filled,
        )
    )
    return written
