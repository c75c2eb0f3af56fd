"""What only bulk series need: the three reading layouts made long, and one row per meter
(or plate) and time, with conflicting readings excluded rather than averaged."""

from __future__ import annotations

import polars as pl

from screening.ingest import parse
from screening.ingest.problems import empty_problems, key_conflicts
from screening.ingest.readers import RawTable, ReadError
from screening.schema import SERIES_KEYS, Source


def readings_layout(
    df: pl.DataFrame,
    table: RawTable,
    timezone: str,
    years: parse.Years,
    date_order: str = "auto",
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
        return _wide_to_long(df, value_cols, step, years, date_order)
    raise ReadError(
        "readings need columns account_id, ts, kwh (long) or account_id, date and h00..h23 "
        f"or p01..p96 (wide); found {', '.join(sorted(cols - {'_file', '_row'}))}"
    )


def _wide_to_long(
    df: pl.DataFrame, value_cols: list[str], step: int, years: parse.Years, date_order: str
) -> pl.DataFrame:
    """A wide frame's cells as long readings, row by row (a row's h00..h23 in order), so that
    a file in meter and date order gives readings in meter and time order and the series
    needs no sort.

    The values are read while still wide: each value column is cast at once where it holds
    plain numbers (parse.to_float), and its text is kept in ``_raw_kwh`` only where it did
    not (null elsewhere), so that 24 text columns are never unpivoted and gathered into 5 M
    rows of text (1.4 s a batch of 5 M readings, most of a wide CSV's staging). The date is
    read once a row, and ``_file`` is the table's one file. ``_raw_ts`` likewise holds the
    date as written only where it could not be read. A rejected reading's record shows
    ``kwh`` and ``ts`` as read where their text was not kept (staging.py)."""
    n, width = df.height, len(value_cols)
    day = parse.to_date(pl.col("date"), df.schema["date"], years, date_order).cast(
        pl.Datetime("us")
    )
    values = []
    raws = []
    for c in value_cols:
        if df.schema[c] == pl.String:
            plain = pl.col(c).str.contains(parse.PLAIN_NUMBER_RE).fill_null(False)
            raws.append(pl.when(~plain).then(pl.col(c)).alias(f"_r{c}"))
        else:
            raws.append(pl.lit(None, dtype=pl.String).alias(f"_r{c}"))
        values.append(parse.to_float(pl.col(c), df.schema[c]).alias(f"_v{c}"))
    wide = df.select("_row", "account_id", "date", day.alias("_day"), *values, *raws)
    j = pl.int_range(n * width, dtype=pl.Int64)
    by_row = (j % width) * n + j // width  # an unpivot's order (column by column) to row by row

    def cells(prefix: str) -> pl.Series:
        return (
            wide.select([f"{prefix}{c}" for c in value_cols])
            .unpivot()
            .select(pl.col("value").gather(by_row))
            .to_series()
        )

    texts = wide.select(pl.any_horizontal(pl.col(f"_r{c}").is_not_null().any() for c in value_cols))
    # the date as written, only where it could not be read (a reading's own check names it)
    unread = wide.select(pl.col("_day").is_null() & pl.col("date").is_not_null()).to_series()
    long = wide.select(
        pl.col("_row", "account_id", "_day").gather(j // width),
        (
            pl.when(pl.lit(unread)).then(pl.col("date").cast(pl.String)).gather(j // width)
            if unread.any()
            else pl.lit(None, dtype=pl.String)
        ).alias("_raw_ts"),
        pl.lit(cells("_v")).alias("kwh"),
        (pl.lit(cells("_r")) if texts.item() else pl.lit(None, dtype=pl.String)).alias("_raw_kwh"),
        pl.lit(pl.Series("_part", value_cols, dtype=pl.String)).gather(j % width).alias("_part"),
    )
    # a column's minutes after midnight from its name: h13 is 13:00, p01 00:00
    after = [int(c[1:]) * 60 if step == 60 else (int(c[1:]) - 1) * 15 for c in value_cols]
    minutes = pl.lit(pl.Series(after, dtype=pl.Int64)).gather(j % width)
    out = long.with_columns(
        (pl.col("_day") + pl.duration(minutes=minutes)).alias("ts"),
        pl.lit(step, dtype=pl.Int32).alias("interval_min"),
    ).drop("_day")
    files = df.get_column("_file").unique()
    if files.len() == 1:
        out = out.with_columns(pl.lit(files[0], dtype=pl.String).alias("_file"))
    else:
        out = out.with_columns(pl.lit(df.get_column("_file")).gather(j // width))
    return out


def collapse_series(
    frame: pl.DataFrame,
    source: Source,
) -> tuple[pl.DataFrame, dict[str, int], pl.DataFrame]:
    """Exact duplicates (counted per file), clashing rows and (for readings) each meter's
    interval, from one sort.

    Sorting 10^7-10^8 rows by a string key is the expensive step, so it is done once, on the
    integer code of the meter or plate: duplicates are then equal neighbours, clashes are
    neighbours with the same key and other values (few: handled by key_conflicts on just
    those rows), and an interval is the smallest step between a meter's neighbours. The
    result is sorted by meter (or plate) and time for the Parquet it is written to.

    The code is the key's rank among the batch's keys in string order (an Enum of its
    sorted distinct keys: thousands, not millions, to sort), not its first-seen order, so
    that whatever order the agency wrote its meters in, each stored row group holds a
    narrow range of keys and a partition's key-range filter skips the rest (issue 17: a
    city sent in account batches, meters in random order, had every row group spanning
    every key, and each of 8 partitions read every reading).
    """
    key = list(SERIES_KEYS[source.name])
    values = [c for c in source.names if c not in key]
    order = pl.Enum(frame.get_column(key[0]).drop_nulls().unique().sort())
    f = frame.with_columns(pl.col(key[0]).cast(order).to_physical().alias("_k"))
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
    dup = same_as(1, keys) & same_as(1, values)
    gone = f.filter(dup).group_by("_file").len()
    collapsed = dict(zip(gone["_file"].to_list(), gone["len"].to_list(), strict=True))
    f = f.filter(~dup)
    if source.name == "power_readings":
        f = intervals_sorted(f)
    f = f.with_row_index("_ix")
    clash = same_as(1, keys) | same_as(-1, keys)
    rows = f.filter(clash)
    if rows.height == 0:
        return f.drop("_k", "_ix"), collapsed, empty_problems()
    kept, problems = key_conflicts(rows, source, key, keep_first=source.name != "power_readings")
    dropped = rows.filter(~pl.col("_ix").is_in(kept["_ix"].implode()))["_ix"]
    return (
        f.filter(~pl.col("_ix").is_in(dropped.implode())).drop("_k", "_ix"),
        collapsed,
        problems,
    )


def intervals_sorted(f: pl.DataFrame) -> pl.DataFrame:
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
