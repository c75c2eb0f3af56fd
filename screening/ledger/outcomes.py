"""Outcomes recorded by inspection teams: what they send back (their 线索核查表 with the
outcome columns filled, or `ledger set … --field KEY=VALUE`), checked, kept as lifecycle
steps, and read back as one row of facts per site for the forms, the lead list and reports.

Every row is checked before anything is written: a known site id, a conclusion of 确认 or
排除, a readable date, counts and amounts that are non-negative numbers, 是/否 where the
form asks, a kind, station type and fuel from the form's lists, and a lifecycle that allows
the steps (a site already closed cannot be confirmed again). Good rows become lifecycle
steps (assigned → inspected → confirmed or cleared → measures taken) carrying the facts the
forms are filled from; bad rows are reported with their row number and reason, and the good
rows around them still land. Nothing a team did not record is ever filled in for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from screening.ingest import parse
from screening.ledger.ledger import Ledger, LedgerError
from screening.scoring.rules import CATEGORY_ZH
from screening.settings import Settings, settings_of

YES, NO = ("是", "yes", "y", "true", "1", "√"), ("否", "no", "n", "false", "0")
# the kinds a team may record a confirmed site as (the product's categories, in Chinese);
# annex 3 maps them onto the notice's columns (screening.export.forms.ANNEX3_COLUMN_OF)
KIND_OF = {v: k for k, v in CATEGORY_ZH.items()}
STATIONS = ("自备加油站", "撬装加油站")
FUELS = ("柴油", "汽油", "柴油、汽油")
STAGES = ("生产", "储存", "使用")


@dataclass(frozen=True)
class Field:
    """One recorded fact: its key (``--field KEY=…``), the work list's heading, its kind
    (text, count, amount, flag, date, choice), the lifecycle step that carries it, and what
    it is for."""

    key: str
    heading: str
    kind: str
    step: str
    help: str
    choices: tuple[str, ...] = ()


FIELDS: tuple[Field, ...] = (
    Field("inspected_on", "核查日期", "date", "inspected", "the day of the visit"),
    Field("group", "检查组", "text", "inspected", "annex 3 检查组个数 (distinct groups)"),
    Field("staff", "出动人数", "count", "inspected", "annex 3 出动执法人员人次 (summed)"),
    Field(
        "category",
        "认定类别",
        "choice",
        "confirmed",
        "annex 3's four kinds (see the mapping); blank: the lead's category",
        tuple(CATEGORY_ZH.values()),
    ),
    Field("name", "核实名称（单位或个人）", "text", "confirmed", "annex 2 名称, 4 名称"),
    Field("legal_rep", "主要负责人（实际控制人）", "text", "confirmed", "annex 2, 4 负责人"),
    Field(
        "stage",
        "非法违法环节（生产、储存、使用）",
        "stages",
        "confirmed",
        "annex 2 环节: 生产, 储存 and/or 使用",
    ),
    Field("behaviour", "具体非法违法行为", "text", "confirmed", "annex 2 具体非法违法行为"),
    Field("chemicals", "涉及化工（危险化学品）品种、数量", "text", "confirmed", "annex 2 品种数量"),
    Field(
        "station",
        "加油站存在方式（自备/撬装）",
        "choice",
        "confirmed",
        "annex 4 存在方式",
        STATIONS,
    ),
    Field("fuel", "油品种类（柴油/汽油）", "choice", "confirmed", "annex 4 油品种类", FUELS),
    Field("diesel_t", "柴油储存能力（吨）", "amount", "confirmed", "annex 4 储存能力 柴油"),
    Field("petrol_t", "汽油储存能力（吨）", "amount", "confirmed", "annex 4 储存能力 汽油"),
    Field("phone", "联系电话", "text", "confirmed", "annex 4 联系电话"),
    Field("suspend", "责令停产整顿（是/否）", "flag", "measures_taken", "annex 3 责令停产整顿"),
    Field("dismantle", "拆除非法生产装置（是/否）", "flag", "measures_taken", "annex 3 拆除装置"),
    Field(
        "confiscated_wan",
        "没收违法所得（万元）",
        "amount",
        "measures_taken",
        "annex 3 没收违法所得",
    ),
    Field("fine_wan", "经济处罚（万元）", "amount", "measures_taken", "annex 3 经济处罚"),
    Field("judicial", "移送司法机关（是/否）", "flag", "measures_taken", "annex 3 移送司法机关"),
    Field("measures_text", "采取的措施", "text", "measures_taken", "annex 2 采取的措施"),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
FINDING_HEADING = "核查结论（确认/排除）"
NOTE_HEADING = "核查情况说明"
# sheet heading -> column; older annex 2 sheets named the name and kind columns otherwise
COLUMNS = {
    "线索编号": "site_id",
    FINDING_HEADING: "finding",
    NOTE_HEADING: "note",
    **{f.heading: f.key for f in FIELDS},
    "油品种类": "fuel",
}


class OutcomeError(LedgerError):
    pass


@dataclass
class ImportReport:
    applied: pl.DataFrame  # row, site_id, finding, steps
    rejected: pl.DataFrame  # row, site_id, reason


def read_sheet(path: Path) -> pl.DataFrame:
    """The returned sheet's rows (row = the Excel row number people see), all as text."""
    try:
        raw = pl.read_excel(path, has_header=False, infer_schema_length=0, engine="calamine")
    except Exception as exc:  # calamine raises its own kinds for a file that is not a workbook
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OutcomeError(f"{path}: not a readable .xlsx work list ({first})") from exc
    header_at = next((i for i, row in enumerate(raw.iter_rows()) if "线索编号" in row), None)
    if header_at is None:
        raise OutcomeError(f"{path}: no column 线索编号 (is this a 线索核查表 sent out?)")
    header = [str(v) if v is not None else f"_{j}" for j, v in enumerate(raw.row(header_at))]
    body = raw.slice(header_at + 1)
    body.columns = header
    keep = list(dict.fromkeys(c for c in header if c in COLUMNS))
    return (
        body.with_row_index("row", offset=header_at + 2)
        .select(pl.col("row").cast(pl.Int64), *[pl.col(c).alias(COLUMNS[c]) for c in keep])
        .filter(parse.clean_text(pl.col("site_id")).is_not_null())
    )


def _words(e: pl.Expr) -> pl.Expr:
    """Free text as the team wrote it: trimmed, empty as nothing."""
    s = e.cast(pl.String).str.strip_chars()
    return pl.when(s.str.len_chars() > 0).then(s)


def _flag(col: str) -> pl.Expr:
    v = parse.clean_text(pl.col(col)).str.to_lowercase()
    return (
        pl.when(v.is_in(list(YES)))
        .then(pl.lit("是"))
        .when(v.is_in(list(NO)))
        .then(pl.lit("否"))
        .otherwise(None)
    )


def _stages(col: str) -> pl.Expr:
    """生产/储存/使用 in any combination (生产、储存), written in the notice's order."""
    v = parse.clean_text(pl.col(col))
    words = v.str.replace_all(r"[、,，;；/\s]+", "、").str.split("、")
    ok = words.list.eval(pl.element().is_in(list(STAGES))).list.all()
    ordered = pl.concat_str(
        [pl.when(words.list.contains(s)).then(pl.lit(s)) for s in STAGES],
        separator="、",
        ignore_nulls=True,
    )
    return pl.when(ok).then(ordered).otherwise(None)


def parse_fields(rows: pl.DataFrame, years: parse.Years) -> pl.DataFrame:
    """Each recorded field parsed into ``_<key>`` (None where blank or malformed) and a
    ``_bad`` reason for the first malformed one."""
    for c in ["finding", "note", *FIELD_BY_KEY]:
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    rows = rows.with_columns(pl.col(["finding", "note", *FIELD_BY_KEY]).cast(pl.String))
    parsed, bad = [], []
    for f in FIELDS:
        raw = pl.col(f.key)
        present = parse.clean_text(raw).is_not_null()
        if f.kind == "date":
            value = parse.to_date(raw, pl.String(), years)
            why = pl.format("{} '{}' is not a date", pl.lit(f.heading), raw)
        elif f.kind in ("count", "amount"):
            value = parse.to_float(raw, pl.String())
            value = pl.when(value >= 0).then(value)
            if f.kind == "count":
                value = pl.when(value == value.round(0)).then(value)
            what, rule = (
                ("count", "a whole number") if f.kind == "count" else ("amount", "a number")
            )
            why = pl.format(
                "malformed {} '{}' ({}: {} ≥ 0)", pl.lit(what), raw, pl.lit(f.heading), pl.lit(rule)
            )
        elif f.kind == "flag":
            value = _flag(f.key)
            why = pl.format("{} must be 是 or 否, got '{}'", pl.lit(f.heading), raw)
        elif f.kind == "choice":
            text = parse.clean_text(raw)
            if f.key == "category":  # a category's code (no_licence) is as good as its name
                text = text.replace(dict(CATEGORY_ZH))
            value = pl.when(text.is_in(list(f.choices))).then(text)
            why = pl.format(
                "{} must be one of {}, got '{}'",
                pl.lit(f.heading),
                pl.lit("、".join(f.choices)),
                raw,
            )
        elif f.kind == "stages":
            value = _stages(f.key)
            why = pl.format("{} must be 生产, 储存 and/or 使用, got '{}'", pl.lit(f.heading), raw)
        else:  # the team's own words, as written (no NFKC: 王某（租户） stays so)
            value = _words(raw)
            why = pl.lit(None, dtype=pl.String)
        parsed.append(value.alias(f"_{f.key}"))
        bad.append(pl.when(present & value.is_null()).then(why))
    finding = parse.clean_text(pl.col("finding"))
    return rows.with_columns(
        *parsed,
        finding.alias("_finding"),
        _words(pl.col("note")).alias("_note"),
        pl.coalesce(bad).alias("_bad"),
    )


def validate(
    rows: pl.DataFrame, status: pl.DataFrame, years: parse.Years
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(good rows with parsed fields, rejected rows with reasons). Rows whose conclusion is
    blank are not yet inspected and are skipped silently (that is the form's normal state)."""
    f = (
        parse_fields(rows, years)
        .filter(pl.col("_finding").is_not_null())
        .join(status.select("site_id", "status"), on="site_id", how="left")
    )
    can_inspect = pl.col("status").is_in(["lead", "assigned"])
    checks = [
        (pl.col("status").is_null(), pl.format("unknown site id {}", pl.col("site_id"))),
        (
            ~pl.col("_finding").is_in(["确认", "排除"]),
            pl.format("conclusion must be 确认 or 排除, got '{}'", pl.col("finding")),
        ),
        (
            pl.col("_inspected_on").is_null(),
            pl.format("inspection date '{}' is not a date", pl.col("inspected_on")),
        ),
        (pl.col("_bad").is_not_null(), pl.col("_bad")),
        (
            pl.col("status").is_not_null() & ~can_inspect,
            pl.format("impossible transition: site is already {}", pl.col("status")),
        ),
    ]
    reason = pl.coalesce([pl.when(cond).then(msg) for cond, msg in checks])
    f = f.with_columns(reason.alias("reason"))
    rejected = f.filter(pl.col("reason").is_not_null()).select("row", "site_id", "reason")
    good = f.filter(pl.col("reason").is_null()).with_columns(
        pl.col("_category").replace_strict(KIND_OF, default=None).alias("_category")
    )
    return good, rejected


def _step_fields(r: dict[str, Any], step: str) -> dict[str, Any]:
    return {
        f.key: r[f"_{f.key}"] for f in FIELDS if f.step == step and r.get(f"_{f.key}") is not None
    }


def apply(ledger: Ledger, good: pl.DataFrame, actor: str) -> pl.DataFrame:
    """Lifecycle steps for validated rows (human-entered rows: a handful, one step each),
    dated at noon of the recorded inspection date."""
    applied = []
    for r in good.iter_rows(named=True):
        at = dt.datetime.combine(r["_inspected_on"], dt.time(12, 0))
        who = r.get("_group") or actor
        confirmed = r["_finding"] == "确认"
        steps: list[tuple[str, dict[str, Any]]] = []
        if r["status"] == "lead":
            steps.append(("assigned", {}))
        steps.append(("inspected", _step_fields(r, "inspected")))
        decision = _step_fields(r, "confirmed") if confirmed else {}
        steps.append(("confirmed" if confirmed else "cleared", decision))
        measures = _step_fields(r, "measures_taken")
        if confirmed and any(v not in ("否", 0.0) for v in measures.values()):
            steps.append(("measures_taken", measures))
        for status, fields in steps:
            ledger.transition(
                r["site_id"], status, who, note=r.get("_note") or "", at=at, fields=fields
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
    """A team's returned work list into the ledger; dates outside ``ingest.min_year`` …
    ``max_year`` are refused as typos, as in every source."""
    cfg = settings_of(settings).ingest
    rows = read_sheet(sheet)
    if not Path(ledger_path).is_file():
        raise OutcomeError(f"no ledger at {ledger_path}: a run with --ledger creates it")
    with Ledger(ledger_path) as lg:
        good, rejected = validate(rows, lg.status(), (cfg.min_year, cfg.max_year))
        applied = apply(lg, good, actor)
    return ImportReport(applied, rejected)


def check_set_fields(raw: dict[str, str], years: parse.Years) -> dict[str, Any]:
    """``ledger set … --field KEY=VALUE`` checked like a sheet's cells: known keys only
    (a typo would silently not count) and values of the key's kind."""
    unknown = sorted(set(raw) - set(FIELD_BY_KEY))
    if unknown:
        keys = ", ".join(FIELD_BY_KEY)
        raise OutcomeError(f"unknown --field {', '.join(unknown)} (known: {keys})")
    if not raw:
        return {}
    row = parse_fields(pl.DataFrame({k: [v] for k, v in raw.items()}), years).row(0, named=True)
    if row["_bad"] is not None:
        raise OutcomeError(row["_bad"])
    out: dict[str, Any] = {}
    for key in raw:
        value = row[f"_{key}"]
        if key == "category" and value is not None:
            value = KIND_OF[value]
        out[key] = value
    return out


# ------------------------------------------------------------------ reading the facts back


def recorded(history: pl.DataFrame, upto: dt.date | None = None) -> pl.DataFrame:
    """One row per site that teams have recorded something about, up to ``upto`` (by the
    recorded date): finding (确认/排除, the latest decision), decided_on, confirmed_on (the
    first confirmation: a site once found stays found), inspected (bool),
    and the latest value of every field in FIELDS (None where nobody recorded it)."""
    h = history if upto is None else history.filter(pl.col("changed_at").dt.date() <= upto)
    h = h.filter(pl.col("actor") != "system").sort("site_id", "changed_at", "seq")
    schema: dict[str, Any] = {
        "site_id": pl.String,
        "finding": pl.String,
        "decided_on": pl.Date,
        "confirmed_on": pl.Date,
        "inspected": pl.Boolean,
        **{f.key: pl.Float64 if f.kind in ("count", "amount") else pl.String for f in FIELDS},
    }
    if h.height == 0:
        return pl.DataFrame(schema=schema)
    values = [pl.col("fields").str.json_path_match(f"$.{f.key}").alias(f.key) for f in FIELDS]
    decided = pl.col("to_status").is_in(["confirmed", "cleared"])
    out = (
        h.with_columns(*values)
        .group_by("site_id", maintain_order=True)
        .agg(
            pl.col("to_status").filter(decided).last().alias("_decision"),
            pl.col("changed_at").filter(decided).last().dt.date().alias("decided_on"),
            pl.col("changed_at")
            .filter(pl.col("to_status") == "confirmed")
            .first()
            .dt.date()
            .alias("confirmed_on"),
            (pl.col("to_status") == "inspected").any().alias("inspected"),
            *[pl.col(f.key).drop_nulls().last() for f in FIELDS],
        )
        .with_columns(
            pl.col("_decision")
            .replace_strict({"confirmed": "确认", "cleared": "排除"}, default=None)
            .alias("finding"),
            *[pl.col(f.key).cast(pl.Float64) for f in FIELDS if f.kind in ("count", "amount")],
        )
    )
    return out.select(list(schema))


def _amount(x: pl.Expr) -> pl.Expr:
    """An amount as written on a form: 2.5, 10 (no 10.0)."""
    return (
        pl.when(x == x.round(0))
        .then(x.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(x.round(4).cast(pl.String))
    )


def measures_text() -> pl.Expr:
    """What was done, from what the team recorded: their own words, else the measures they
    ticked (责令停产整顿；拆除非法生产装置；没收违法所得2.5万元；罚款10万元；移送司法机关)."""
    ticked = pl.concat_str(
        [
            pl.when(pl.col("suspend") == "是").then(pl.lit("责令停产整顿")),
            pl.when(pl.col("dismantle") == "是").then(pl.lit("拆除非法生产装置")),
            pl.when(pl.col("confiscated_wan") > 0).then(
                pl.format("没收违法所得{}万元", _amount(pl.col("confiscated_wan")))
            ),
            pl.when(pl.col("fine_wan") > 0).then(
                pl.format("罚款{}万元", _amount(pl.col("fine_wan")))
            ),
            pl.when(pl.col("judicial") == "是").then(pl.lit("移送司法机关")),
        ],
        separator="；",
        ignore_nulls=True,
    )
    ticked = pl.when(ticked != "").then(ticked)
    return pl.coalesce(pl.col("measures_text"), ticked)


def outcome_summary() -> pl.Expr:
    """One line per site for the lead list and the work list: 9月3日确认（第一组）：责令停产
    整顿；罚款10万元 — or 9月4日排除（第二组）. Null where nothing is recorded."""
    who = pl.when(pl.col("group").is_not_null()).then(pl.format("（{}）", pl.col("group")))
    head = pl.concat_str(
        [pl.col("decided_on").dt.strftime("%-m月%-d日"), pl.col("finding"), who.fill_null("")]
    )
    done = measures_text()
    return (
        pl.when(pl.col("finding").is_null())
        .then(None)
        .when(done.is_not_null())
        .then(pl.concat_str([head, pl.lit("："), done]))
        .otherwise(head)
    )
