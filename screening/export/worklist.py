"""The team's work list (线索核查表): the leads of one oversight unit in rank order, what the
screening knows about each, and shaded outcome columns for the team to fill and send back
(`screening ledger import`).

What the screening knows is written as such — rank, score, category of the lead, linked
records, the reasons by their Chinese names, the evidence, the action the notice prescribes,
the site's status and the outcome already recorded — and nothing in the outcome columns is
pre-filled. Each outcome column checks what is typed (Excel data validation): a date, a
whole number of staff, 确认/排除, the kinds and fuels of the form's lists, 是/否, non-negative
amounts. Printed on A4 landscape with the heading rows on every page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from screening.export.book import Book
from screening.ledger.outcomes import (
    FIELD_BY_KEY,
    FINDING_HEADING,
    NOTE_HEADING,
    STAGES,
)
from screening.scoring.rules import CATEGORY_ZH

TITLE = "非法违法“小化工”线索核查表"
# what the screening knows: heading, lead-list column (or a computed one), width
LEAD_COLUMNS: list[tuple[str, str, int]] = [
    ("序号", "_n", 5),
    ("排名", "rank", 5),
    ("线索编号", "site_id", 14),
    ("评分", "score", 6),
    ("线索类别", "category_zh", 12),
    ("所在乡镇", "township", 9),
    ("地址", "address", 26),
    ("登记名称（户名）", "_name", 22),
    ("登记负责人", "legal_reps", 10),
    ("关联记录", "_linked", 26),
    ("线索理由", "_reasons", 22),
    ("证据", "evidence", 60),
    ("建议核查措施", "_action", 30),
    ("台账状态", "ledger_status_zh", 8),
    ("已记录结果", "ledger_outcome", 22),
]
# what the team fills in, in the order they fill it
OUTCOME_KEYS = [
    "inspected_on",
    "group",
    "staff",
    "_finding",
    "category",
    "name",
    "legal_rep",
    "stage",
    "behaviour",
    "chemicals",
    "suspend",
    "dismantle",
    "confiscated_wan",
    "fine_wan",
    "judicial",
    "measures_text",
    "station",
    "fuel",
    "diesel_t",
    "petrol_t",
    "phone",
    "_note",
]
LINKED = {  # lead-list column -> label in 关联记录
    "usccs": "统一社会信用代码",
    "account_ids": "电力户号",
    "plates": "车牌",
    "permit_ids": "许可证号",
    "case_ids": "案件编号",
    "tip_ids": "举报编号",
    "property_ids": "闲置场所编号",
}
STAGE_CHOICES = [
    "生产",
    "储存",
    "使用",
    "生产、储存",
    "生产、使用",
    "储存、使用",
    "生产、储存、使用",
]
assert all(set(c.split("、")) <= set(STAGES) for c in STAGE_CHOICES)


def outcome_headings() -> list[str]:
    return [
        FINDING_HEADING
        if k == "_finding"
        else NOTE_HEADING
        if k == "_note"
        else FIELD_BY_KEY[k].heading
        for k in OUTCOME_KEYS
    ]


def linked_records() -> pl.Expr:
    """The records behind a lead, one kind a line (电力户号：…)."""
    return pl.concat_str(
        [
            pl.when(pl.col(c).is_not_null() & (pl.col(c) != "")).then(
                pl.format("{}：{}", pl.lit(label), pl.col(c).str.replace_all(";", "、"))
            )
            for c, label in LINKED.items()
        ],
        separator="\n",
        ignore_nulls=True,
    )


def reason_names(names_zh: Mapping[str, str]) -> pl.Expr:
    """The reasons by their Chinese names, in the lead's order."""
    return (
        pl.col("reasons")
        .fill_null("")
        .str.split(";")
        .list.eval(pl.element().filter(pl.element() != "").replace(dict(names_zh)))
        .list.join("；")
    )


def _validation(key: str) -> dict[str, Any]:
    """The Excel data validation of one outcome column."""
    lists = {
        "_finding": ["确认", "排除"],
        "stage": STAGE_CHOICES,
    }
    if key in lists:
        return {"validate": "list", "source": lists[key]}
    f = FIELD_BY_KEY.get(key)
    if f is None or f.kind == "text":
        return {}
    if f.kind == "choice":
        return {"validate": "list", "source": list(f.choices)}
    if f.kind == "flag":
        return {"validate": "list", "source": ["是", "否"]}
    if f.kind == "date":
        return {
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(2000, 1, 1),
            "maximum": dt.date(2100, 12, 31),
            "input_title": "核查日期",
            "input_message": "例如 2021-09-03",
        }
    if f.kind == "count":
        return {"validate": "integer", "criteria": ">=", "value": 0}
    return {"validate": "decimal", "criteria": ">=", "value": 0}


def work_list(
    path: Path,
    leads: pl.DataFrame,
    unit: str,
    filled: dt.date,
    names_zh: Mapping[str, str],
    actions: Mapping[str, str],
) -> Path:
    """One unit's work list (see module doc)."""
    book = Book(path)
    heads = [h for h, _, _ in LEAD_COLUMNS]
    fill = outcome_headings()
    width = len(heads) + len(fill)
    ws = book.sheet("线索核查表", TITLE, unit, filled, width)
    ws.write_string(1, len(heads), "黄色列由检查组核查后填写，交回后导入台账", book.plain)
    header_row = 2
    book.row(ws, header_row, heads, book.head)
    book.row(ws, header_row, fill, book.fill_head, start=len(heads))
    ws.set_row(header_row, 48)
    text = ["ledger_status_zh", "ledger_outcome", "legal_reps", "names", "meter_names", *LINKED]
    leads = leads.with_columns(
        pl.col(c).cast(pl.String) if c in leads.columns else pl.lit(None, dtype=pl.String).alias(c)
        for c in text
    )
    rows = (
        leads.sort("rank")
        .with_columns(
            pl.int_range(1, pl.len() + 1).alias("_n"),
            pl.coalesce(
                pl.coalesce("names", "meter_names").str.replace_all(";", "、"), pl.lit("（未登记）")
            ).alias("_name"),
            pl.col("legal_reps").str.replace_all(";", "、"),
            linked_records().alias("_linked"),
            reason_names(names_zh).alias("_reasons"),
            pl.col("evidence").str.replace_all("；", "；\n"),
            pl.col("category").replace_strict(dict(actions), default=None).alias("_action"),
            pl.col("ledger_status_zh").fill_null("线索"),
            pl.col("category").replace_strict(CATEGORY_ZH, default=None).alias("category_zh"),
            pl.col("score").round(1),
        )
        .select([c for _, c, _ in LEAD_COLUMNS])
    )
    first = header_row + 1
    for i, values in enumerate(rows.iter_rows()):
        book.row(ws, first + i, values, book.cell)
        book.row(ws, first + i, [None] * len(fill), book.fill_cell, start=len(heads))
    last = first + max(rows.height, 1) - 1
    for j, key in enumerate(OUTCOME_KEYS):
        rule = _validation(key)
        if rule:
            col = len(heads) + j
            ws.data_validation(first, col, last, col, {**rule, "error_type": "stop"})
    for j, (_, _, w) in enumerate(LEAD_COLUMNS):
        ws.set_column(j, j, w)
    ws.set_column(len(heads), width - 1, 12)
    ws.freeze_panes(first, 3)
    ws.repeat_rows(0, header_row)
    ws.autofilter(header_row, 0, last, width - 1)
    book.footer(ws, last + 2)
    book.close()
    return path
