"""Staging: every source of a bundle into one typed canonical table, and every row that
cannot go there into the problems table with file, row, field and reason.

The policy, applied the same way to every source:
- a required field missing or unreadable rejects the row (quarantine); the rest go on;
- an optional field that cannot be read is dropped from that row with a warning, so one typo
  does not cost a registration that can still be placed by its address;
- exact duplicate rows collapse (counted, not reported one by one); a second row for the same
  key with other content is quarantined, naming the row it clashes with;
- coordinates are range-checked in the bundle's CRS and converted to WGS-84.

All checks are polars expressions evaluated over whole frames; reading files is in
readers.py and storing in warehouse.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from screening.ingest import parse, uscc
from screening.ingest.columns import (
    DUP,
    by_file,
    canonical,
    date_order_notes,
    file_counts,
    less,
    missing_column,
)
from screening.ingest.geo import convert_crs, coordinate_checks, geometries
from screening.ingest.headers import positions
from screening.ingest.manifest import Manifest
from screening.ingest.problems import (
    Check,
    empty_problems,
    file_problem,
    key_conflicts,
    problem,
    quote,
    rows_to_problems,
)
from screening.ingest.readers import RawTable, ReadError
from screening.ingest.series import collapse_series, readings_layout
from screening.schema import (
    CARGO_CLASSES,
    FUEL_CARGO,
    IDLE_KINDS,
    PERMIT_KINDS,
    PHASES,
    POLARS_TYPES,
    REGISTRATION_STATUSES,
    SOURCES,
    TARIFFS,
    Column,
    Source,
)

# Sources whose records are referenced by id in leads: a missing id is made from the file
# and row (stable across runs of the same file) instead of losing the record.
FILLABLE_IDS = {
    "permits": "permit_id",
    "idle_properties": "property_id",
    "sanctioned_sites": "case_id",
    "tips": "tip_id",
}
# Dates that may lie ahead of today: a permit's end of validity.
FUTURE_OK = {("permits", "valid_to")}
# how the problem of any other date after today begins (memo.py looks for it: only such a
# date makes a staged register depend on which day it was staged)
FUTURE_REASON = "dated after today"
# Sources whose records mean nothing without a place.
NEEDS_PLACE = ("idle_properties", "sanctioned_sites", "tips")

CATEGORIES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("registrations", "status"): REGISTRATION_STATUSES,
    ("permits", "kind"): PERMIT_KINDS,
    ("power_accounts", "tariff"): TARIFFS,
    ("power_accounts", "phase"): PHASES,
    ("idle_properties", "kind"): IDLE_KINDS,
}


@dataclass
class Staged:
    """One source, staged: its canonical rows, its problems and what happened, in numbers."""

    source: str
    frame: pl.DataFrame
    problems: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # per file: rows_read, rows_kept, quarantined, duplicates_collapsed
    files: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- per-file: headers, layout


# ---------------------------------------------------------------- per-file: parse and check


def _parser(
    source: Source,
    col: Column,
    dtype: pl.DataType,
    timezone: str,
    years: parse.Years,
    date_order: str = "auto",
) -> pl.Expr:
    e = pl.col(col.name)
    key = (source.name, col.name)
    if key in CATEGORIES:
        out = parse.to_category(e, CATEGORIES[key])
        return out.cast(pl.Int8) if col.name == "phase" else out
    if col.name == "industry_code":
        return parse.to_industry_code(e)
    if col.name == "plate":
        return parse.to_plate(e)
    if col.kind == "float":
        return parse.to_float(e, dtype)
    if col.kind == "int":
        return parse.to_float(e, dtype).round(0).cast(pl.Int64)
    if col.kind == "date":
        return parse.to_date(e, dtype, years, date_order)
    if col.kind == "datetime":
        return parse.to_datetime(e, dtype, timezone, years, date_order)
    if col.kind == "code":
        return parse.clean_code(e)
    return parse.clean_text(e)


def _by_distinct(df: pl.DataFrame, col: str, parser: pl.Expr) -> pl.Expr:
    """Apply a text parser to a column's distinct values and map them back: a meter id
    repeats in every one of its readings, and normalising 40,000 ids instead of 30 million
    cells is 13x faster."""
    distinct = df.select(pl.col(col).unique().drop_nulls())
    mapped = distinct.with_columns(parser.alias("_clean"))
    return (
        pl.col(col)
        .replace_strict(mapped[col], mapped["_clean"], default=None, return_dtype=pl.String)
        .alias(col)
    )


def _stage_table(
    df: pl.DataFrame,
    source: Source,
    manifest: Manifest,
    cfg: Mapping[str, Any],
    today: dt.date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse and check one file's rows: (kept rows, problems). ``today`` (in the bundle's
    timezone) bounds the dates of events: a reading or fix dated after it is rejected, an
    optional date after it (a registration "established" in 2099) dropped with a warning."""
    for col in source.columns:
        if col.name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(col.name))
    if "_part" not in df.columns:
        df = df.with_columns(pl.lit("").alias("_part"))
    raw_cols = [c.name for c in source.columns]
    years = (cfg["min_year"], cfg["max_year"])
    for field_name in raw_cols:  # a second column for one field fills the first's gaps;
        # where both hold a value and they differ, _dup_ keeps the second for the check below
        dup = f"{DUP}{field_name}"
        if dup in df.columns:
            a, b = parse.clean_text(pl.col(field_name)), parse.clean_text(pl.col(dup))
            df = df.with_columns(
                pl.coalesce(pl.col(field_name).cast(pl.String), pl.col(dup).cast(pl.String)).alias(
                    field_name
                ),
                pl.when(a.is_not_null() & b.is_not_null() & (a != b)).then(b).alias(dup),
            )
    df = df.with_columns(
        [pl.col(c).alias(f"_raw_{c}") for c in raw_cols if f"_raw_{c}" not in df.columns]
    )
    df = df.with_columns(
        [
            _by_distinct(
                df, c.name, _parser(source, c, df.schema[c.name], manifest.timezone, years)
            )
            if c.kind in ("code", "str") and source.bulk
            else _parser(
                source, c, df.schema[c.name], manifest.timezone, years, manifest.date_order
            ).alias(c.name)
            for c in source.columns
        ]
    )

    checks: list[Check] = []
    fixes: list[pl.Expr] = []
    for c in source.columns:
        raw, val = pl.col(f"_raw_{c.name}"), pl.col(c.name)
        raw_present = parse.clean_text(raw).is_not_null()
        what = (
            "unknown value" if (source.name, c.name) in CATEGORIES else f"cannot read as {c.kind}"
        )
        if c.required:
            reason = (
                pl.when(raw_present)
                .then(pl.lit(f"{what}: ") + quote(raw))
                .otherwise(pl.lit(f"required {c.name} is missing"))
            )
            checks.append(problem(val.is_null(), c.name, "rejected", reason, raw))
        else:
            checks.append(
                problem(
                    val.is_null() & raw.is_not_null(),
                    c.name,
                    "warning",
                    pl.lit(f"{what}: ") + quote(raw) + pl.lit("; ignored"),
                    raw,
                    also=raw_present,
                )
            )
    for c in source.columns:  # a field given by two columns that disagree
        if f"{DUP}{c.name}" in df.columns:
            checks.append(
                problem(
                    pl.col(f"{DUP}{c.name}").is_not_null(),
                    c.name,
                    "rejected",
                    pl.lit(f"the header's two {c.name} columns disagree: ")
                    + quote(pl.col(f"_raw_{c.name}"))
                    + pl.lit(" / ")
                    + quote(pl.col(f"{DUP}{c.name}")),
                    pl.col(f"{DUP}{c.name}"),
                )
            )
    if not source.bulk:  # ids and names: a NUL or other control character is dropped
        for c in source.columns:
            if c.kind in ("str", "code"):
                raw = pl.col(f"_raw_{c.name}").cast(pl.String)
                checks.append(
                    problem(
                        raw.str.contains(parse.CONTROL),
                        c.name,
                        "warning",
                        "control characters (NUL, …) in the value; removed",
                        raw.str.replace_all(parse.CONTROL, "?"),
                    )
                )
    if today is not None:
        for c in source.columns:
            if c.kind not in ("date", "datetime") or (source.name, c.name) in FUTURE_OK:
                continue
            val = pl.col(c.name)
            late = (
                val > today
                if c.kind == "date"
                else val >= dt.datetime.combine(today + dt.timedelta(days=1), dt.time())
            )
            what = f"{FUTURE_REASON} ({today}): a typo or a clock that is wrong"
            checks.append(
                problem(
                    late,
                    c.name,
                    "rejected" if c.required else "warning",
                    what if c.required else what + "; ignored",
                    val,
                )
            )
            if not c.required:
                fixes.append(pl.when(late.fill_null(False)).then(None).otherwise(val).alias(c.name))
    if "uscc" in source.names:
        checks.append(
            problem(
                uscc.problem_expr("uscc").is_not_null(),
                "uscc",
                "warning",
                pl.lit("credit code: ") + uscc.problem_expr("uscc"),
                pl.col("uscc"),
            )
        )
    if "lon" in source.names:
        coord_checks, coord_fixes = coordinate_checks(source, cfg)
        checks += coord_checks
        fixes += coord_fixes
    if source.name in NEEDS_PLACE:
        unplaced = pl.col("address").is_null() & pl.col("lon").is_null()
        if "geometry" in source.names:
            unplaced = unplaced & pl.col("geometry").is_null()
        checks.append(
            problem(
                unplaced, "address", "rejected", "no address and no coordinates: cannot be placed"
            )
        )
    if source.name == "power_readings":
        kwh = pl.col("kwh")
        checks.append(
            problem(
                kwh < 0,
                pl.col("_part").replace("", "kwh"),
                "rejected",
                pl.lit("negative kWh: ") + kwh.cast(pl.String),
                kwh,
            )
        )
    if source.name == "vehicle_tracks":
        speed = pl.col("speed_kmh")
        bad_speed = (speed < 0) | (speed > cfg["max_speed_kmh"])
        checks.append(
            problem(
                bad_speed,
                "speed_kmh",
                "warning",
                pl.lit("implausible speed ") + speed.cast(pl.String) + pl.lit(" km/h; ignored"),
                speed,
            )
        )
        fixes.append(pl.when(bad_speed).then(None).otherwise(speed).alias("speed_kmh"))

    df = df.with_columns(pl.any_horizontal([c.when for c in checks]).alias("_flagged"))
    # wide readings keep the text of a value (a date) only where it is not a plain number
    # (could not be read; series.py): elsewhere the value as read stands for it
    record = pl.struct(
        [
            pl.coalesce(pl.col(f"_raw_{c}").cast(pl.String), pl.col(c).cast(pl.String)).alias(c)
            if source.name == "power_readings" and c in ("kwh", "ts")
            else pl.col(f"_raw_{c}").cast(pl.String).alias(c)
            for c in raw_cols
        ]
    )
    problems = (
        df.filter(pl.col("_flagged"))
        .rechunk()  # polars 2.1 panics (binview "i < self.len()") on the unrechunked filter
        .with_columns(
            pl.concat_list([c.problem for c in checks]).list.drop_nulls().alias("_problems")
        )
        .select("_file", "_row", "_part", "_problems", record.struct.json_encode().alias("record"))
        .explode("_problems")
        .unnest("_problems")
        .with_columns(
            # wide readings: a reading's field is the hour column it came from, and its
            # timestamp is the row's date
            pl.when(pl.col("_part") == "")
            .then(pl.col("field"))
            .when(pl.col("field") == "kwh")
            .then(pl.col("_part"))
            .when(pl.col("field") == "ts")
            .then(pl.lit("date"))
            .otherwise(pl.col("field"))
            .alias("field")
        )
    )
    rejected = (
        problems.filter(pl.col("severity") == "rejected").select("_file", "_row", "_part").unique()
    )
    if rejected.height:  # the anti-join costs a second per 5 M rows even with nothing to drop
        df = df.join(rejected, on=["_file", "_row", "_part"], how="anti")
    kept = df.with_columns(fixes).drop(
        [c for c in df.columns if c.startswith("_raw_")] + ["_flagged"]
    )
    problems = problems.select(
        pl.lit(source.name).alias("source"),
        pl.col("_file").alias("file"),
        pl.col("_row").alias("row"),
        "field",
        "severity",
        "reason",
        "value",
        "record",
    ).unique(subset=["file", "row", "field", "reason"], keep="first", maintain_order=True)
    return kept, problems


# ---------------------------------------------------------------- per-source, after concat


def _value_columns(table: RawTable, source: Source, renames: dict[str, str] | None) -> int:
    """Readings one row of this table holds (24 or 96 in the wide layouts, else 1)."""
    names = [c for c in positions(table.headers, source, renames) if c]
    wide = sum(1 for c in names if c[0] in "hp" and c[1:].isdigit())
    return wide or 1


def stage_source(
    name: str,
    tables: list[RawTable],
    manifest: Manifest,
    cfg: Mapping[str, Any],
    today: dt.date | None = None,
) -> Staged:
    """All files of one source into its canonical table, with every row accounted for per
    file: kept, quarantined (by the reader, a check, a clash or a fault) or collapsed into
    an identical row. For readings a row is one reading: a wide row holds 24 or 96."""
    source = SOURCES[name]
    started = time.perf_counter()
    notes: list[str] = []
    renames = manifest.columns.get(name)
    kept_parts: list[pl.DataFrame] = []
    problem_parts: list[pl.DataFrame] = [empty_problems()]
    read: dict[str, int] = {}
    quarantined: list[dict[str, int]] = []
    collapsed_by: list[dict[str, int]] = []
    files = list(dict.fromkeys(t.file for t in tables))
    for table in tables:
        notes += table.notes
        problem_parts.append(table.problems)
        refused = table.refused * (_value_columns(table, source, renames) if source.bulk else 1)
        read[table.file] = read.get(table.file, 0) + refused
        quarantined.append({table.file: refused})
        try:
            df, header_problems = canonical(table, source, renames, notes)
            problem_parts.append(header_problems)
            if name != "power_readings":
                for col in source.columns:
                    if col.required and col.name not in df.columns:
                        problem_parts.append(missing_column(name, table.file, col, df.height))
            notes += date_order_notes(df, source, table.file, manifest.date_order)
            if name == "power_readings":
                years = (cfg["min_year"], cfg["max_year"])
                df = readings_layout(df, table, manifest.timezone, years, manifest.date_order)
        except ReadError as exc:
            problem_parts.append(file_problem(name, table.file, str(exc)))
            read[table.file] -= refused  # a file not read at all has no rows read
            quarantined[-1] = {}
            continue
        read[table.file] += df.height
        kept, problems = _stage_table(df, source, manifest, cfg, today)
        quarantined.append({table.file: df.height - kept.height})
        kept_parts.append(kept)
        problem_parts.append(problems)

    columns = source.names + (["interval_min"] if name == "power_readings" else [])
    if kept_parts:
        frame = pl.concat(
            [k.select("_file", "_row", "_part", *columns) for k in kept_parts],
            how="vertical_relaxed",
        )
    else:
        frame = pl.DataFrame(  # nothing read: an empty table of the contract's types
            schema={
                "_file": pl.String,
                "_row": pl.Int64,
                "_part": pl.String,
                **{c.name: POLARS_TYPES[c.kind] for c in source.columns},
                **({"interval_min": pl.Int32} if name == "power_readings" else {}),
            }
        )
    at = by_file(frame)
    if source.bulk:  # exact duplicates collapse, clashing readings are all excluded
        frame, collapsed, clashes = collapse_series(frame, source)
        problem_parts.append(clashes)
        collapsed_by.append(collapsed)
        lost = less(at, by_file(frame))
        quarantined.append({f: n - collapsed.get(f, 0) for f, n in lost.items()})
    else:
        frame = frame.unique(subset=columns, keep="first", maintain_order=True)
        collapsed_by.append(less(at, by_file(frame)))
    at = by_file(frame)

    if name in FILLABLE_IDS:
        id_col = FILLABLE_IDS[name]
        missing = frame.filter(pl.col(id_col).is_null())
        if missing.height:
            problem_parts.append(
                rows_to_problems(
                    missing,
                    name,
                    pl.lit(id_col),
                    pl.lit("no id; made one from file and row"),
                    pl.format("{}#{}", pl.col("_file"), pl.col("_row")),
                    severity="warning",
                )
            )
            frame = frame.with_columns(
                pl.coalesce(
                    pl.col(id_col), pl.format("{}#{}", pl.col("_file"), pl.col("_row"))
                ).alias(id_col)
            )
    if name == "power_readings":
        limit = pl.col("interval_min") / 60 * cfg["max_kwh_per_hour"]
        absurd = frame.filter(pl.col("kwh") > limit)
        if absurd.height:
            problem_parts.append(
                rows_to_problems(
                    absurd,
                    name,
                    pl.col("_part").replace("", "kwh"),
                    pl.format(
                        "implausible {} kWh in {} minutes (meter fault?)",
                        pl.col("kwh"),
                        pl.col("interval_min"),
                    ),
                    pl.col("kwh"),
                )
            )
            frame = frame.filter(pl.col("kwh") <= limit)
    elif source.key and not source.bulk:
        frame, clashes = key_conflicts(frame, source, list(source.key), keep_first=True)
        problem_parts.append(clashes)
    quarantined.append(less(at, by_file(frame)))

    frame = convert_crs(frame, manifest.crs)
    if name == "idle_properties":
        frame, geo_problems = geometries(frame, manifest.crs, name, cfg)
        problem_parts.append(geo_problems)
    if name == "vehicles":
        frame = cargo_columns(frame)

    problems = pl.concat(problem_parts, how="vertical_relaxed")
    per_file = file_counts(files, read, quarantined, collapsed_by, by_file(frame))
    frame = finish(frame, source)
    seconds = time.perf_counter() - started
    rows_read = sum(read.values())
    stats = {
        "source": name,
        "files": len(files),
        "rows_read": rows_read,
        "rows_kept": frame.height,
        "quarantined": sum(r["quarantined"] for r in per_file),
        "duplicates_collapsed": sum(r["duplicates_collapsed"] for r in per_file),
        "warnings": problems.filter(pl.col("severity") == "warning").height,
        "seconds": round(seconds, 3),
        "rows_per_s": int(rows_read / seconds) if seconds > 0 else 0,
        "files_reused": 0,
    }
    return Staged(name, frame, problems, stats, notes, per_file)


def cargo_columns(vehicles: pl.DataFrame) -> pl.DataFrame:
    """The vehicle register's cargo read as a UN hazard class and as fuel or not."""
    return vehicles.with_columns(
        parse.to_cargo_class(pl.col("cargo"), CARGO_CLASSES).alias("cargo_class"),
        # a bare "3" on a tanker's register is read as fuel: it is what most class-3
        # tankers carry, and the campaign asks about fuel
        (
            pl.col("cargo").fill_null("").str.to_lowercase().str.contains("|".join(FUEL_CARGO))
            | (parse.clean_text(pl.col("cargo")) == "3")
        ).alias("is_fuel"),
    )


def finish(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Canonical column order; registers keep where each row came from, bulk data does not
    (provenance of a reading is its account and time)."""
    extra = {"power_readings": ["interval_min"], "vehicles": ["cargo_class", "is_fuel"]}.get(
        source.name, []
    )
    if source.bulk:  # already sorted by meter/plate and time (collapse_series)
        return frame.select(*source.names, *extra)
    # in file and row order, however the checks' joins returned them: later stages take the
    # first of equals, and the same inputs must give the same list
    return frame.sort("_file", "_row").select(
        *source.names,
        *extra,
        pl.col("_file").alias("source_file"),
        pl.col("_row").alias("source_row"),
    )
