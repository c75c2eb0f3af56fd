"""Outcomes sent back by inspection teams: their annex 2 sheet with the outcome columns filled.

Every row is checked before anything is written: a known site id, a conclusion of 确认 or
排除, a readable date, amounts that are non-negative numbers, 是/否 where the form asks, and
a lifecycle that allows the steps (a site already closed cannot be confirmed again). Good
rows become lifecycle steps in the ledger (assigned → inspected → confirmed or cleared →
measures taken) carrying the figures annex 3 adds up; bad rows are reported with their row
number and reason, and the good rows around them still land.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from screening.ingest import parse
from screening.ledger.ledger import Ledger
from screening.scoring.rules import CATEGORY_ZH
from screening.settings import Settings, settings_of

YES, NO = ("是", "yes", "y", "true", "1", "√"), ("否", "no", "n", "false", "0", "")
ZH_CATEGORY = {v: k for k, v in CATEGORY_ZH.items()}
COLUMNS = {  # sheet heading -> field
    "线索编号": "site_id",
    "核查日期": "inspected_on",
    "检查组": "group",
    "出动人数": "staff",
    "核查结论（确认/排除）": "finding",
    "类别": "category_zh",
    "责令停产整顿（是/否）": "suspend",
    "拆除非法生产装置（是/否）": "dismantle",
    "没收违法所得（万元）": "confiscated_wan",
    "经济处罚（万元）": "fine_wan",
    "移送司法机关（是/否）": "judicial",
    "核查情况说明": "note",
    "具体非法违法行为": "behaviour",
    "涉及化工（危险化学品）品种、数量": "chemicals",
    "采取的措施": "measures_text",
    "主要负责人（实际控制人）": "legal_rep",
}


@dataclass
class ImportReport:
    applied: pl.DataFrame  # site_id, finding, steps
    rejected: pl.DataFrame  # row, site_id, reason


def read_sheet(path: Path) -> pl.DataFrame:
    """The returned sheet's rows (row = the Excel row number people see), all as text."""
    raw = pl.read_excel(path, has_header=False, infer_schema_length=0, engine="calamine")
    header_at = next(i for i, row in enumerate(raw.iter_rows()) if "线索编号" in row)
    header = [str(v) if v is not None else f"_{j}" for j, v in enumerate(raw.row(header_at))]
    body = raw.slice(header_at + 1)
    body.columns = header
    keep = [c for c in header if c in COLUMNS]
    return (
        body.with_row_index("row", offset=header_at + 2)
        .select(pl.col("row").cast(pl.Int64), *[pl.col(c).alias(COLUMNS[c]) for c in keep])
        .filter(pl.col("site_id").is_not_null())
    )


def _flag(col: str) -> pl.Expr:
    v = parse.clean_text(pl.col(col)).fill_null("").str.to_lowercase()
    return (
        pl.when(v.is_in(list(YES)))
        .then(pl.lit("是"))
        .when(v.is_in(list(NO)))
        .then(pl.lit("否"))
        .otherwise(None)
    )


def validate(
    rows: pl.DataFrame, status: pl.DataFrame, years: parse.Years
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(good rows with parsed fields, rejected rows with reasons). Rows whose conclusion is
    blank are not yet inspected and are skipped silently (that is the form's normal state)."""
    for c in COLUMNS.values():
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    f = (
        rows.filter(parse.clean_text(pl.col("finding")).is_not_null())
        .join(status.select("site_id", "status"), on="site_id", how="left")
        .with_columns(
            parse.to_date(pl.col("inspected_on"), pl.String(), years).alias("_date"),
            parse.to_float(pl.col("staff"), pl.String()).alias("_staff"),
            parse.to_float(pl.col("confiscated_wan"), pl.String()).alias("_conf"),
            parse.to_float(pl.col("fine_wan"), pl.String()).alias("_fine"),
            *[_flag(c).alias(f"_{c}") for c in ("suspend", "dismantle", "judicial")],
            parse.clean_text(pl.col("finding")).alias("_finding"),
        )
    )
    present = lambda c: parse.clean_text(pl.col(c)).is_not_null()  # noqa: E731
    can_inspect = pl.col("status").is_in(["lead", "assigned"])
    checks = [
        (pl.col("status").is_null(), pl.format("unknown site id {}", pl.col("site_id"))),
        (
            ~pl.col("_finding").is_in(["确认", "排除"]),
            pl.format("conclusion must be 确认 or 排除, got '{}'", pl.col("finding")),
        ),
        (
            pl.col("_date").is_null(),
            pl.format("inspection date '{}' is not a date", pl.col("inspected_on")),
        ),
        (
            present("staff") & (pl.col("_staff").is_null() | (pl.col("_staff") < 0)),
            pl.format("staff count '{}' is not a number", pl.col("staff")),
        ),
        (
            present("confiscated_wan") & (pl.col("_conf").is_null() | (pl.col("_conf") < 0)),
            pl.format("malformed amount '{}' (没收违法所得, 万元)", pl.col("confiscated_wan")),
        ),
        (
            present("fine_wan") & (pl.col("_fine").is_null() | (pl.col("_fine") < 0)),
            pl.format("malformed amount '{}' (经济处罚, 万元)", pl.col("fine_wan")),
        ),
        *[
            (
                present(c) & pl.col(f"_{c}").is_null(),
                pl.format("{} must be 是 or 否, got '{}'", pl.lit(c), pl.col(c)),
            )
            for c in ("suspend", "dismantle", "judicial")
        ],
        (
            pl.col("status").is_not_null() & ~can_inspect,
            pl.format("impossible transition: site is already {}", pl.col("status")),
        ),
    ]
    reason = pl.coalesce([pl.when(cond).then(msg) for cond, msg in checks])
    f = f.with_columns(reason.alias("reason"))
    rejected = f.filter(pl.col("reason").is_not_null()).select("row", "site_id", "reason")
    good = f.filter(pl.col("reason").is_null()).with_columns(
        pl.col("category_zh").replace_strict(ZH_CATEGORY, default=None).alias("category")
    )
    return good, rejected


def apply(ledger: Ledger, good: pl.DataFrame, actor: str) -> pl.DataFrame:
    """Lifecycle steps for validated rows (human-entered rows: a handful, one step each)."""
    applied = []
    for r in good.iter_rows(named=True):
        at = dt.datetime.combine(r["_date"], dt.time(12, 0))
        who = r.get("group") or actor
        steps: list[tuple[str, dict[str, Any]]] = []
        if r["status"] == "lead":
            steps.append(("assigned", {}))
        steps.append(
            (
                "inspected",
                {"group": r.get("group"), "staff": r["_staff"], "inspected_on": r["_date"]},
            )
        )
        confirmed = r["_finding"] == "确认"
        steps.append(
            (
                "confirmed" if confirmed else "cleared",
                {
                    "category": r.get("category"),
                    "behaviour": r.get("behaviour"),
                    "chemicals": r.get("chemicals"),
                    "legal_rep": r.get("legal_rep"),
                },
            )
        )
        measures = {
            "suspend": r["_suspend"],
            "dismantle": r["_dismantle"],
            "confiscated_wan": r["_conf"],
            "fine_wan": r["_fine"],
            "judicial": r["_judicial"],
            "measures_text": r.get("measures_text"),
        }
        if confirmed and any(v not in (None, "否", 0.0) for v in measures.values()):
            steps.append(("measures_taken", measures))
        for status, fields in steps:
            ledger.transition(
                r["site_id"],
                status,
                who,
                note=r.get("note") or "",
                at=at,
                fields={k: v for k, v in fields.items() if v is not None},
            )
        applied.append(
            {
                "row": r["row"],
                "site_id": r["site_id"],
                "finding": r["_finding"],
                "steps": " → ".join(s for s, _ in steps),
            }
        )
    return pl.DataFrame(
        applied,
        schema={"row": pl.Int64, "site_id": pl.String, "finding": pl.String, "steps": pl.String},
    )


def import_sheet(
    ledger_path: Path, sheet: Path, actor: str, settings: Settings | Path | None = None
) -> ImportReport:
    """A team's returned sheet into the ledger; dates outside ``ingest.min_year`` …
    ``max_year`` are refused as typos, as in every source."""
    cfg = settings_of(settings).ingest
    with Ledger(ledger_path) as lg:
        good, rejected = validate(read_sheet(sheet), lg.status(), (cfg.min_year, cfg.max_year))
        applied = apply(lg, good, actor)
    return ImportReport(applied, rejected)
