"""The campaign's own forms (seeds/000, 附件2-4), filled only from what teams recorded.

- 附件2 清单台账, per oversight unit: the sites a recorded outcome confirmed (核查结论 确认),
  with 非法违法环节, 具体非法违法行为, 品种数量, 主要负责人 and 采取的措施 as the team wrote
  them — blank where they wrote nothing. A lead is not a finding: an unvisited site is never
  listed, and no cell is derived from the screening's category.
- 附件4 自备加油站、撬装加油站统计表, per unit: confirmed sites for which the team recorded a
  station (自备/撬装), a fuel or a capacity; ticks and tonnages only where recorded.
- 附件3 排查整治情况汇总表, for the county, cumulative to a month end: counts and sums of the
  recorded outcomes. The "found" total splits into the notice's four kinds through a
  documented mapping of the product's categories (ANNEX3_COLUMN_OF, also written into the
  form's second sheet); a kind the team recorded wins over the lead's category, and what
  falls in none of the four (fuel storage) is counted in 合计 and named in a note under it,
  so that 合计 always equals its parts or the form says why.

Titles, header lines, column headings and footers are the notice's own words. People's names
and phone numbers are written only into the file of the unit whose area they are in; annex 3
carries counts only. The team's work list is ``worklist.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from screening.export.book import Book
from screening.ledger.outcomes import measures_text
from screening.scoring.rules import CATEGORY_ZH

UNASSIGNED = "未划分包保单位"
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
# beyond the notice, at the right: where each row comes from
ANNEX2_TRACE = ["线索编号", "核查日期"]

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
# The product's categories onto the notice's four kinds of finding (None: none of the four).
# Idle premises, remote places and revived cases are workshops without the licences their
# production needs — the notice's 小作坊、黑窝点 — unless the team records another kind.
# Fuel storage is not chemical production: annex 4 lists it, annex 3 counts it in 合计 only.
ANNEX3_COLUMN_OF: dict[str, str | None] = {
    "over_permit": ANNEX3_FOUND[1],
    "unlicensed_production": ANNEX3_FOUND[2],
    "no_licence": ANNEX3_FOUND[3],
    "idle_premises": ANNEX3_FOUND[3],
    "remote": ANNEX3_FOUND[3],
    "recurrence": ANNEX3_FOUND[3],
    "affiliated": ANNEX3_FOUND[4],
    "fuel_storage": None,
}
assert set(ANNEX3_COLUMN_OF) == set(CATEGORY_ZH)

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


def found(facts: pl.DataFrame, sites: pl.DataFrame) -> pl.DataFrame:
    """The confirmed sites with what the team recorded and where they are (the ledger's
    site: township, address, oversight unit, registered names)."""
    return (
        facts.filter(pl.col("confirmed_on").is_not_null())
        .join(
            sites.select("site_id", "township", "address", "oversight_unit", "names"),
            on="site_id",
            how="left",
        )
        .with_columns(pl.col("oversight_unit").fill_null(UNASSIGNED))
        .sort("confirmed_on", "site_id")
    )


def _name() -> pl.Expr:
    """The name the team recorded, else the names registered at the site (who is there is a
    record, not a finding); 未登记 where there are none."""
    return pl.coalesce(
        pl.col("name"), pl.col("names").str.replace_all(";", "、"), pl.lit("（未登记）")
    )


def annex2(path: Path, confirmed: pl.DataFrame, unit: str, filled: dt.date) -> Path:
    """Annex 2 for one unit: only its sites confirmed by a recorded outcome."""
    book = Book(path)
    columns = ANNEX2_COLUMNS + ANNEX2_TRACE
    ws = book.sheet("清单台账", ANNEX2_TITLE, unit, filled, len(columns))
    book.row(ws, 2, columns, book.head)
    ws.set_row(2, 48)
    rows = confirmed.with_columns(
        pl.int_range(1, pl.len() + 1).alias("_n"),
        _name().alias("_name"),
        measures_text().alias("_measures"),
    ).select(
        "_n",
        "_name",
        "township",
        "address",
        "legal_rep",
        "stage",
        "behaviour",
        "chemicals",
        "_measures",
        "site_id",
        "confirmed_on",
    )
    end = book.body(ws, 3, rows, "（截至填报日期无经核查确认的非法违法“小化工”）")
    book.footer(ws, end + 1)
    for col, width in enumerate([6, 28, 10, 30, 14, 14, 22, 22, 26, 14, 11]):
        ws.set_column(col, col, width)
    ws.repeat_rows(0, 2)
    book.close()
    return path


def annex3_totals(
    facts: pl.DataFrame, lead_categories: pl.DataFrame
) -> tuple[dict[str, float], list[str]]:
    """The summary figures from what teams recorded (``facts`` already cut at the month
    end) and the notes the form carries under them: how 合计 splits, and how many sites
    were put in a kind by their lead's category because the team recorded none."""
    inspected = facts.filter(pl.col("inspected"))
    conf = facts.filter(pl.col("confirmed_on").is_not_null()).join(
        lead_categories.select("site_id", pl.col("category").alias("_lead")),
        on="site_id",
        how="left",
    )
    kind = pl.coalesce("category", "_lead")
    conf = conf.with_columns(
        kind.alias("_kind"),
        kind.replace_strict(ANNEX3_COLUMN_OF, default=None, return_dtype=pl.String).alias("_col"),
    )

    def n(mask: pl.Expr) -> int:
        return int(conf.select(mask.sum()).item() or 0)

    def total(name: str) -> float:
        return round(float(conf[name].fill_null(0).sum()), 4)

    totals: dict[str, float] = {
        "检查组个数": inspected["group"].drop_nulls().n_unique(),
        "出动执法人员人次": round(float(inspected["staff"].fill_null(0).sum()), 4),
        "排查企业（单位或个人）数": inspected.height,
        "合计": conf.height,
        **{c: n(pl.col("_col") == c) for c in ANNEX3_FOUND[1:]},
        "责令停产整顿企业数": n(pl.col("suspend") == "是"),
        "拆除非法生产装置企业数": n(pl.col("dismantle") == "是"),
        "没收违法所得企业数": n(pl.col("confiscated_wan") > 0),
        "没收违法所得金额（万元）": total("confiscated_wan"),
        "实施经济处罚企业数": n(pl.col("fine_wan") > 0),
        "实施经济处罚金额（万元）": total("fine_wan"),
        "移送司法机关处理数": n(pl.col("judicial") == "是"),
    }
    notes = []
    outside = conf.filter(pl.col("_col").is_null())
    if outside.height:
        kinds = (
            outside.group_by("_kind")
            .len()
            .sort("_kind")
            .select(
                pl.format(
                    "{}{}个", pl.col("_kind").replace_strict(CATEGORY_ZH, default="类别未知"), "len"
                )
            )
            .to_series()
            .to_list()
        )
        notes.append(
            f"注：合计{conf.height}个，其中{outside.height}个不属上列四类（"
            + "、".join(kinds)
            + "，加油站见附件4），故四类之和为"
            + f"{conf.height - outside.height}个。"
        )
    by_lead = conf.filter(pl.col("category").is_null() & pl.col("_lead").is_not_null()).height
    if by_lead:
        notes.append(
            f"注：{by_lead}个确认场所检查组未填认定类别，按线索类别归入上列各类（对照见“类别对照”表）。"
        )
    return totals, notes


def annex3(
    path: Path, totals: dict[str, float], notes: list[str], unit: str, filled: dt.date
) -> Path:
    """Annex 3 with its two header rows (the "found" column splits into the total and the
    notice's four kinds), the notes on how the total splits, and the mapping used."""
    book = Book(path)
    width = len(ANNEX3_COLUMNS) + len(ANNEX3_FOUND) - 1
    ws = book.sheet("汇总表", ANNEX3_TITLE, unit, filled, width)
    col = 0
    for name in ANNEX3_COLUMNS:
        if name == "发现非法违法企业（单位或个人）数":
            ws.merge_range(2, col, 2, col + len(ANNEX3_FOUND) - 1, "", book.head)
            ws.write_string(2, col, name, book.head)
            book.row(ws, 3, ANNEX3_FOUND, book.head, start=col)
            book.row(ws, 4, [totals[k] for k in ANNEX3_FOUND], start=col)
            col += len(ANNEX3_FOUND)
        else:
            ws.merge_range(2, col, 3, col, "", book.head)
            ws.write_string(2, col, name, book.head)
            book.put(ws, 4, col, totals[name])
            col += 1
    ws.set_row(3, 90)
    ws.set_column(0, width - 1, 12)
    for i, text in enumerate(notes):
        ws.write_string(5 + i, 0, text, book.plain)
    book.footer(ws, 6 + len(notes), reminder=False)
    ws.repeat_rows(0, 3)
    mapping = book.wb.add_worksheet("类别对照")
    book.row(mapping, 0, ["线索类别 / 认定类别", "计入附件3的列"], book.head)
    for i, (code, column) in enumerate(ANNEX3_COLUMN_OF.items(), start=1):
        book.row(mapping, i, [CATEGORY_ZH[code], column or "只计入合计（不属四类；加油站填附件4）"])
    mapping.write_string(
        len(ANNEX3_COLUMN_OF) + 2,
        0,
        "检查组在核查表“认定类别”中填写的类别优先；未填写的，按线索类别归类。",
        book.plain,
    )
    mapping.set_column(0, 0, 26)
    mapping.set_column(1, 1, 70)
    book.close()
    return path


def annex4(path: Path, confirmed: pl.DataFrame, unit: str, filled: dt.date) -> Path:
    """Annex 4 for one unit: confirmed sites with a recorded station, fuel or capacity."""
    book = Book(path)
    ws = book.sheet("统计表", ANNEX4_TITLE, unit, filled, len(ANNEX4_COLUMNS))
    book.row(ws, 2, ANNEX4_COLUMNS, book.head)
    book.row(ws, 3, ANNEX4_SUB, book.head)
    tick = lambda cond: pl.when(cond).then(pl.lit("√"))  # noqa: E731
    stations = confirmed.filter(
        pl.any_horizontal(pl.col("station", "fuel", "diesel_t", "petrol_t").is_not_null())
    )
    rows = stations.with_columns(
        pl.int_range(1, pl.len() + 1).alias("_n"),
        _name().alias("_name"),
        tick(pl.col("station") == "自备加油站").alias("_own"),
        tick(pl.col("station") == "撬装加油站").alias("_skid"),
        tick(pl.col("fuel").str.contains("柴油")).alias("_diesel"),
        tick(pl.col("fuel").str.contains("汽油")).alias("_petrol"),
    ).select(
        "_n",
        "_name",
        "township",
        "address",
        "legal_rep",
        "_own",
        "_skid",
        "_diesel",
        "_petrol",
        "diesel_t",
        "petrol_t",
        "phone",
    )
    end = book.body(ws, 4, rows, "（截至填报日期无经核查确认的自备、撬装加油站）")
    book.footer(ws, end + 1)
    ws.repeat_rows(0, 3)
    book.close()
    return path


def safe_name(unit: str) -> str:
    """A unit's name as part of a file name."""
    return "".join("_" if ch in '/\\:*?"<>|\0' else ch for ch in unit)[:80] or "_"
