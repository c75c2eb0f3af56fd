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

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import shapely

from screening import parse, uscc
from screening.coords import to_wgs84
from screening.headers import map_headers
from screening.manifest import Manifest
from screening.readers import RawTable, ReadError
from screening.schema import (
    CARGO_CLASSES,
    FUEL_CARGO,
    IDLE_KINDS,
    PERMIT_KINDS,
    PHASES,
    REGISTRATION_STATUSES,
    SOURCES,
    TARIFFS,
    Column,
    Source,
)

PROBLEM_SCHEMA = {
    "source": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "field": pl.String,
    "severity": pl.String,  # rejected | warning
    "reason": pl.String,
    "value": pl.String,
    "record": pl.String,  # the row as read, JSON, so that it can be repaired and re-sent
}

# Sources whose records are referenced by id in leads: a missing id is made from the file
# and row (stable across runs of the same file) instead of losing the record.
FILLABLE_IDS = {
    "permits": "permit_id",
    "idle_properties": "property_id",
    "sanctioned_sites": "case_id",
    "tips": "tip_id",
}
# Sources whose records mean nothing without a place.
NEEDS_PLACE = ("idle_properties", "sanctioned_sites", "tips")

CATEGORIES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("registrations", "status"): REGISTRATION_STATUSES,
    ("permits", "kind"): PERMIT_KINDS,
    ("power_accounts", "tariff"): TARIFFS,
    ("power_accounts", "phase"): PHASES,
    ("idle_properties", "kind"): IDLE_KINDS,
}


class IngestError(Exception):
    """The bundle as a whole cannot be used (a required source missing or unreadable)."""


@dataclass
class Staged:
    """One source, staged: its canonical rows, its problems and what happened, in numbers."""

    source: str
    frame: pl.DataFrame
    problems: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


class Check(NamedTuple):
    """A row check: ``when`` is cheap and evaluated on every row; ``problem`` builds the
    report (a struct, or null) and is evaluated only on rows some check flagged, which keeps
    millions of clean readings from paying for string formatting."""

    when: pl.Expr
    problem: pl.Expr


def _problem(
    when: pl.Expr,
    field_name: str | pl.Expr,
    severity: str,
    reason: pl.Expr | str,
    value: pl.Expr | None = None,
    also: pl.Expr | None = None,
) -> Check:
    fld = pl.lit(field_name) if isinstance(field_name, str) else field_name
    rsn = pl.lit(reason) if isinstance(reason, str) else reason
    val = value.cast(pl.String) if value is not None else pl.lit(None, dtype=pl.String)
    precise = when if also is None else when & also
    return Check(
        when.fill_null(False),
        pl.when(precise).then(
            pl.struct(field=fld, severity=pl.lit(severity), reason=rsn, value=val)
        ),
    )


def _quote(e: pl.Expr) -> pl.Expr:
    return pl.lit("'") + e.cast(pl.String).str.slice(0, 60) + pl.lit("'")


# ---------------------------------------------------------------- per-file: headers, layout


def _canonical(
    table: RawTable, source: Source, renames: dict[str, str] | None, notes: list[str]
) -> pl.DataFrame:
    headers = [c for c in table.frame.columns if c not in ("_row", "_file")]
    hm = map_headers(headers, source, renames)
    if hm.unknown:
        notes.append(f"{table.file}: columns not in the contract, ignored: {', '.join(hm.unknown)}")
    if hm.repeated:
        notes.append(f"{table.file}: repeated columns, first one used: {', '.join(hm.repeated)}")
    df = table.frame.select("_file", "_row", *[pl.col(o).alias(c) for o, c in hm.mapping.items()])
    return df


def _readings_layout(
    df: pl.DataFrame, table: RawTable, timezone: str, date_order: str = "auto"
) -> pl.DataFrame:
    """Long, wide-hourly or wide-96 readings into the long layout, one reading per row.

    The wide layouts carry no timestamp column: ts is the date plus the column's offset, and
    the column name stays in _part so that a bad cell is reported as, say, row 12 field h13.
    """
    cols = set(df.columns)
    hours = sorted(c for c in cols if c.startswith("h") and c[1:].isdigit())
    points = sorted(c for c in cols if c.startswith("p") and c[1:].isdigit())
    if {"account_id", "ts", "kwh"} <= cols:
        return df.with_columns(
            pl.lit("").alias("_part"),
            pl.lit(None, dtype=pl.Int32).alias("interval_min"),
            pl.col("ts").alias("_raw_ts"),
        )
    if "account_id" in cols and "date" in cols and (hours or points):
        step, value_cols = (60, hours) if len(hours) >= len(points) else (15, points)
        long = df.unpivot(
            index=["_file", "_row", "account_id", "date"],
            on=value_cols,
            variable_name="_part",
            value_name="kwh",
        )
        offset = pl.col("_part").str.slice(1).cast(pl.Int32)
        minutes = offset * 60 if step == 60 else (offset - 1) * 15
        day = parse.to_date(pl.col("date"), long.schema["date"], date_order).cast(pl.Datetime("us"))
        return long.with_columns(
            (day + pl.duration(minutes=minutes)).alias("ts"),
            pl.col("date").cast(pl.String).alias("_raw_ts"),
            pl.lit(step, dtype=pl.Int32).alias("interval_min"),
        ).drop("date")
    raise ReadError(
        "readings need columns account_id, ts, kwh (long) or account_id, date and h00..h23 "
        f"or p01..p96 (wide); found {', '.join(sorted(cols - {'_file', '_row'}))}"
    )


# ---------------------------------------------------------------- per-file: parse and check


def date_order_notes(df: pl.DataFrame, source: Source, file: str, date_order: str) -> list[str]:
    """One line per date column whose year-last dates (1/2/2018) the file's own values cannot
    settle as day/month or month/day: those values are quarantined, not guessed, and the line
    says how to decide (parse.year_last_order)."""
    if date_order != "auto":
        return []
    notes = []
    # "date": the day of a wide reading row
    dated = [c.name for c in source.columns if c.kind in ("date", "datetime")] + ["date"]
    for col in dated:
        if df.schema.get(col) != pl.String:
            continue
        order, example = parse.year_last_order(df[col])
        if order in ("ambiguous", "mixed") and example is not None:
            what = (
                "no value shows a day above 12"
                if order == "ambiguous"
                else "values prove both day/month and month/day"
            )
            notes.append(
                f"{file}: {col} is written with the year last and {what} (e.g. "
                f"'{example}'): such dates are quarantined, not guessed; set date_order = "
                '"dmy" or "mdy" in manifest.toml'
            )
    return notes


def _parser(
    source: Source, col: Column, dtype: pl.DataType, timezone: str, date_order: str = "auto"
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
        return parse.to_date(e, dtype, date_order)
    if col.kind == "datetime":
        return parse.to_datetime(e, dtype, timezone, date_order)
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


def _coordinate_checks(source: Source, cfg: dict[str, Any]) -> tuple[list[Check], list[pl.Expr]]:
    """Range checks on lon/lat (in the bundle's CRS, whose offsets are far below the box's
    margins). Swapped pairs are recognised and swapped back, with a warning."""
    required = source.column("lon").required
    lo_x, hi_x = cfg["china_lon"]
    lo_y, hi_y = cfg["china_lat"]
    lon, lat = pl.col("lon"), pl.col("lat")
    inside = lon.is_between(lo_x, hi_x) & lat.is_between(lo_y, hi_y)
    swapped = ~inside & lat.is_between(lo_x, hi_x) & lon.is_between(lo_y, hi_y)
    one_missing = lon.is_null() ^ lat.is_null()
    outside = lon.is_not_null() & lat.is_not_null() & ~inside & ~swapped
    pair = pl.format("({}, {})", pl.col("_raw_lon"), pl.col("_raw_lat"))
    sev = "rejected" if required else "warning"
    tail = "" if required else "; position dropped, placed by address"
    checks = [
        _problem(swapped, "lon", "warning", "lon and lat swapped; read the other way round", pair),
        _problem(outside, "lon", sev, "coordinates outside China" + tail, pair),
        _problem(
            one_missing & ~pl.lit(required),
            "lon",
            "warning",
            "only one of lon/lat given; position dropped",
            pair,
        ),
    ]
    keep = ~(outside | one_missing)
    fixes = [
        pl.when(swapped).then(lat).when(keep).then(lon).otherwise(None).alias("lon"),
        pl.when(swapped).then(lon).when(keep).then(lat).otherwise(None).alias("lat"),
    ]
    return checks, fixes


def _stage_table(
    df: pl.DataFrame,
    source: Source,
    manifest: Manifest,
    cfg: dict[str, Any],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse and check one file's rows: (kept rows, problems)."""
    for col in source.columns:
        if col.name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(col.name))
    if "_part" not in df.columns:
        df = df.with_columns(pl.lit("").alias("_part"))
    raw_cols = [c.name for c in source.columns]
    df = df.with_columns(
        [pl.col(c).alias(f"_raw_{c}") for c in raw_cols if f"_raw_{c}" not in df.columns]
    )
    df = df.with_columns(
        [
            _by_distinct(df, c.name, _parser(source, c, df.schema[c.name], manifest.timezone))
            if c.kind in ("code", "str") and source.bulk
            else _parser(
                source, c, df.schema[c.name], manifest.timezone, manifest.date_order
            ).alias(c.name)
            for c in source.columns
        ]
    )

    checks: list[Check] = []
    for c in source.columns:
        raw, val = pl.col(f"_raw_{c.name}"), pl.col(c.name)
        raw_present = parse.clean_text(raw).is_not_null()
        what = (
            "unknown value" if (source.name, c.name) in CATEGORIES else f"cannot read as {c.kind}"
        )
        if c.required:
            reason = (
                pl.when(raw_present)
                .then(pl.lit(f"{what}: ") + _quote(raw))
                .otherwise(pl.lit(f"required {c.name} is missing"))
            )
            checks.append(_problem(val.is_null(), c.name, "rejected", reason, raw))
        else:
            checks.append(
                _problem(
                    val.is_null() & raw.is_not_null(),
                    c.name,
                    "warning",
                    pl.lit(f"{what}: ") + _quote(raw) + pl.lit("; ignored"),
                    raw,
                    also=raw_present,
                )
            )
    if "uscc" in source.names:
        checks.append(
            _problem(
                uscc.problem_expr("uscc").is_not_null(),
                "uscc",
                "warning",
                pl.lit("credit code: ") + uscc.problem_expr("uscc"),
                pl.col("uscc"),
            )
        )
    fixes: list[pl.Expr] = []
    if "lon" in source.names:
        coord_checks, fixes = _coordinate_checks(source, cfg)
        checks += coord_checks
    if source.name in NEEDS_PLACE:
        unplaced = pl.col("address").is_null() & pl.col("lon").is_null()
        if "geometry" in source.names:
            unplaced = unplaced & pl.col("geometry").is_null()
        checks.append(
            _problem(
                unplaced, "address", "rejected", "no address and no coordinates: cannot be placed"
            )
        )
    if source.name == "power_readings":
        kwh = pl.col("kwh")
        checks.append(
            _problem(
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
            _problem(
                bad_speed,
                "speed_kmh",
                "warning",
                pl.lit("implausible speed ") + speed.cast(pl.String) + pl.lit(" km/h; ignored"),
                speed,
            )
        )
        fixes.append(pl.when(bad_speed).then(None).otherwise(speed).alias("speed_kmh"))

    df = df.with_columns(pl.any_horizontal([c.when for c in checks]).alias("_flagged"))
    record = pl.struct([pl.col(f"_raw_{c}").cast(pl.String).alias(c) for c in raw_cols])
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


def _rows_to_problems(
    df: pl.DataFrame,
    source: str,
    field_expr: pl.Expr,
    reason: pl.Expr,
    value: pl.Expr,
    severity: str = "rejected",
) -> pl.DataFrame:
    cols = [c for c in df.columns if not c.startswith("_")]
    return df.select(
        pl.lit(source).alias("source"),
        pl.col("_file").alias("file"),
        pl.col("_row").alias("row"),
        field_expr.alias("field"),
        pl.lit(severity).alias("severity"),
        reason.alias("reason"),
        value.cast(pl.String).alias("value"),
        pl.struct([pl.col(c).cast(pl.String) for c in cols]).struct.json_encode().alias("record"),
    )


def _key_conflicts(
    df: pl.DataFrame,
    source: Source,
    key: list[str],
    keep_first: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows sharing a key after exact duplicates collapsed: content differs. Registers keep
    the first row and quarantine the rest; readings quarantine all (which value is right is
    unknowable, and a wrong one would be a false jump)."""
    first = (
        df.group_by(key, maintain_order=True)
        .agg(
            pl.col("_file").first().alias("_first_file"),
            pl.col("_row").first().alias("_first_row"),
            pl.len().alias("_n"),
        )
        .filter(pl.col("_n") > 1)
    )
    if first.height == 0:
        return df, empty_problems()
    marked = df.with_row_index("_i").join(first, on=key, how="left", nulls_equal=False)
    is_first = (pl.col("_file") == pl.col("_first_file")) & (pl.col("_row") == pl.col("_first_row"))
    clash = pl.col("_n").is_not_null() & (~is_first if keep_first else pl.lit(True))
    bad = marked.filter(clash)
    key_text = pl.concat_str(
        [
            pl.col(k).dt.to_string("%Y-%m-%d %H:%M:%S")
            if df.schema[k] == pl.Datetime("us")
            else pl.col(k).cast(pl.String)
            for k in key
        ],
        separator=" ",
    )
    if keep_first:
        reason = pl.format(
            "duplicate {} {} with different content; first at {} row {} kept",
            pl.lit("/".join(key)),
            key_text,
            pl.col("_first_file"),
            pl.col("_first_row"),
        )
    else:
        reason = pl.format("{} readings for {} disagree; all excluded", pl.col("_n"), key_text)
    field_expr = pl.col("_part").replace("", key[-1]) if "_part" in df.columns else pl.lit(key[-1])
    problems = _rows_to_problems(bad, source.name, field_expr, reason, key_text)
    kept = marked.filter(~clash).drop("_i", "_first_file", "_first_row", "_n")
    return kept, problems


SERIES_KEYS = {"power_readings": ("account_id", "ts"), "vehicle_tracks": ("plate", "ts")}


def _collapse_series(
    frame: pl.DataFrame,
    source: Source,
) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """Exact duplicates, clashing rows and (for readings) each meter's interval, from one sort.

    Sorting 10^7-10^8 rows by a string key is the expensive step, so it is done once, on the
    integer code of the meter or plate: duplicates are then equal neighbours, clashes are
    neighbours with the same key and other values (few: handled by _key_conflicts on just
    those rows), and an interval is the smallest step between a meter's neighbours. The
    result stays sorted by meter (or plate) and time for the Parquet it is written to.
    """
    key = list(SERIES_KEYS[source.name])
    values = [c for c in source.names if c not in key]
    f = frame.with_columns(pl.col(key[0]).cast(pl.Categorical).to_physical().alias("_k"))
    # a file already in meter (plate) and time order with no key twice, the usual export,
    # is in the order the sort would give: checking costs a tenth of sorting
    k, t = pl.col("_k"), pl.col(key[1])
    ordered = (k > k.shift(1)) | ((k == k.shift(1)) & (t > t.shift(1)))
    if (
        f.height
        and not f.select(
            ordered.slice(1).all() & t.is_not_null().all() & k.is_not_null().all()
        ).item()
    ):
        f = f.sort("_k", *key[1:], *values, "_file", "_row", "_part", nulls_last=True)

    def same_as(shift: int, cols: list[str]) -> pl.Expr:
        return pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(shift)) for c in cols)

    keys = ["_k", *key[1:]]
    before = f.height
    f = f.filter(~(same_as(1, keys) & same_as(1, values)))
    collapsed = before - f.height
    if source.name == "power_readings":
        f = _intervals_sorted(f)
    f = f.with_row_index("_ix")
    clash = same_as(1, keys) | same_as(-1, keys)
    rows = f.filter(clash)
    if rows.height == 0:
        return f.drop("_k", "_ix"), collapsed, empty_problems()
    kept, problems = _key_conflicts(rows, source, key, keep_first=source.name != "power_readings")
    dropped = rows.filter(~pl.col("_ix").is_in(kept["_ix"].implode()))["_ix"]
    return (
        f.filter(~pl.col("_ix").is_in(dropped.implode())).drop("_k", "_ix"),
        collapsed,
        problems,
    )


def _intervals_sorted(f: pl.DataFrame) -> pl.DataFrame:
    """Long readings: each meter's interval is the smallest positive step between its
    timestamps (gaps only make steps longer); a lone reading at midnight is a daily one.
    Wide layouts already know theirs. ``f`` is sorted by meter code and time."""
    step = pl.when((pl.col("_k") == pl.col("_k").shift(1)) & (pl.col("ts").diff() > pl.duration()))
    per_meter = (
        f.filter(pl.col("interval_min").is_null())
        .with_columns(step.then(pl.col("ts").diff().dt.total_minutes()).alias("_d"))
        .group_by("_k")
        .agg(
            pl.col("_d").min().alias("_step"),
            (pl.col("ts").dt.time() == pl.time(0)).all().alias("_midnight"),
        )
        .select(
            "_k",
            pl.coalesce(pl.col("_step"), pl.when(pl.col("_midnight")).then(1440).otherwise(60))
            .clip(1, 1440)
            .cast(pl.Int32)
            .alias("_step"),
        )
    )
    return (
        f.join(per_meter, on="_k", how="left", maintain_order="left")
        .with_columns(pl.coalesce("interval_min", "_step").alias("interval_min"))
        .drop("_step")
    )


def _convert_crs(df: pl.DataFrame, crs: str) -> pl.DataFrame:
    if crs == "wgs84" or "lon" not in df.columns or df.height == 0:
        return df
    lon, lat = to_wgs84(
        df["lon"].to_numpy(allow_copy=True).astype(float),
        df["lat"].to_numpy(allow_copy=True).astype(float),
        crs,
    )
    return df.with_columns(pl.Series("lon", lon), pl.Series("lat", lat)).with_columns(
        pl.col("lon").fill_nan(None), pl.col("lat").fill_nan(None)
    )


def _geometries(df: pl.DataFrame, crs: str, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """WKT polygons of premises: parsed, converted to WGS-84, and used to place premises that
    have no point (their centroid). An unreadable polygon is a warning; the point remains."""
    if "geometry" not in df.columns or df["geometry"].null_count() == df.height:
        return df, empty_problems()
    wkt = df["geometry"].to_numpy()
    geoms = shapely.from_wkt(wkt, on_invalid="ignore")
    bad = pl.Series(df["geometry"].is_not_null().to_numpy() & shapely.is_missing(geoms))
    if crs != "wgs84":

        def _fn(xy: np.ndarray) -> np.ndarray:
            x, y = to_wgs84(xy[:, 0], xy[:, 1], crs)
            return np.column_stack([x, y])

        geoms = shapely.transform(geoms, _fn)
    geoms = shapely.make_valid(geoms)
    centroid = shapely.centroid(geoms)
    out = df.with_columns(
        pl.Series(
            "geometry", shapely.to_wkt(geoms, rounding_precision=7).tolist(), dtype=pl.String
        ),
        pl.coalesce(pl.col("lon"), pl.Series(shapely.get_x(centroid)).fill_nan(None)).alias("lon"),
        pl.coalesce(pl.col("lat"), pl.Series(shapely.get_y(centroid)).fill_nan(None)).alias("lat"),
    )
    problems = _rows_to_problems(
        df.filter(bad),
        source,
        pl.lit("geometry"),
        pl.lit("not a readable WKT polygon; ignored"),
        pl.col("geometry"),
        severity="warning",
    )
    return out, problems


def stage_source(
    name: str,
    tables: list[RawTable],
    manifest: Manifest,
    cfg: dict[str, Any],
) -> Staged:
    """All files of one source into its canonical table."""
    source = SOURCES[name]
    started = time.perf_counter()
    notes: list[str] = []
    renames = manifest.columns.get(name)
    kept_parts: list[pl.DataFrame] = []
    problem_parts: list[pl.DataFrame] = [empty_problems()]
    rows_read = 0
    for table in tables:
        try:
            df = _canonical(table, source, renames, notes)
            notes += date_order_notes(df, source, table.file, manifest.date_order)
            if name == "power_readings":
                df = _readings_layout(df, table, manifest.timezone, manifest.date_order)
        except ReadError as exc:
            problem_parts.append(file_problem(name, table.file, str(exc)))
            continue
        rows_read += df.height
        kept, problems = _stage_table(df, source, manifest, cfg)
        kept_parts.append(kept)
        problem_parts.append(problems)

    columns = source.names + (["interval_min"] if name == "power_readings" else [])
    if kept_parts:
        frame = pl.concat(
            [k.select("_file", "_row", "_part", *columns) for k in kept_parts],
            how="vertical_relaxed",
        )
    else:
        frame = pl.DataFrame(
            schema={
                "_file": pl.String,
                "_row": pl.Int64,
                "_part": pl.String,
                **{c: pl.String for c in columns},
            }
        )
    if source.bulk:
        frame, collapsed, clashes = _collapse_series(frame, source)
        problem_parts.append(clashes)
    else:
        before = frame.height
        frame = frame.unique(subset=columns, keep="first", maintain_order=True)
        collapsed = before - frame.height

    if name in FILLABLE_IDS:
        id_col = FILLABLE_IDS[name]
        missing = frame.filter(pl.col(id_col).is_null())
        if missing.height:
            problem_parts.append(
                _rows_to_problems(
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
                _rows_to_problems(
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
        frame, clashes = _key_conflicts(frame, source, list(source.key), keep_first=True)
        problem_parts.append(clashes)

    frame = _convert_crs(frame, manifest.crs)
    if name == "idle_properties":
        frame, geo_problems = _geometries(frame, manifest.crs, name)
        problem_parts.append(geo_problems)
    if name == "vehicles":
        frame = frame.with_columns(
            parse.to_cargo_class(pl.col("cargo"), CARGO_CLASSES).alias("cargo_class"),
            # a bare "3" on a tanker's register is read as fuel: it is what most class-3
            # tankers carry, and the campaign asks about fuel
            (
                pl.col("cargo").fill_null("").str.to_lowercase().str.contains("|".join(FUEL_CARGO))
                | (parse.clean_text(pl.col("cargo")) == "3")
            ).alias("is_fuel"),
        )

    problems = pl.concat(problem_parts, how="vertical_relaxed")
    frame = finish(frame, source)
    rejected = problems.filter(pl.col("severity") == "rejected")
    seconds = time.perf_counter() - started
    stats = {
        "source": name,
        "files": len(tables),
        "rows_read": rows_read,
        "rows_kept": frame.height,
        "quarantined": rejected.filter(pl.col("row").is_not_null())
        .select("file", "row", "field")
        .unique()
        .height
        if name == "power_readings"
        else rejected.select("file", "row").unique().height,
        "duplicates_collapsed": collapsed,
        "warnings": problems.filter(pl.col("severity") == "warning").height,
        "seconds": round(seconds, 3),
        "rows_per_s": int(rows_read / seconds) if seconds > 0 else 0,
        "files_reused": 0,
    }
    return Staged(name, frame, problems, stats, notes)


def finish(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Canonical column order; registers keep where each row came from, bulk data does not
    (provenance of a reading is its account and time)."""
    extra = {"power_readings": ["interval_min"], "vehicles": ["cargo_class", "is_fuel"]}.get(
        source.name, []
    )
    if source.bulk:  # already sorted by meter/plate and time (_collapse_series)
        return frame.select(*source.names, *extra)
    return frame.select(
        *source.names,
        *extra,
        pl.col("_file").alias("source_file"),
        pl.col("_row").alias("source_row"),
    )


def file_problem(source: str, file: str, reason: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": [source],
            "file": [file],
            "row": [None],
            "field": [None],
            "severity": ["rejected"],
            "reason": [f"whole file not read: {reason}"],
            "value": [None],
            "record": [None],
        },
        schema=PROBLEM_SCHEMA,
    )
