"""A plain generated bundle with its bulk series cut the way an agency might cut them, so
that benchmarks and tests can show the product's cost and results do not depend on it
(issue 17: a city sent in account batches took three times as long as one sent by day).

- ``day``: one file per day, rows in meter (plate) and time order;
- ``batch``: account batches: ``files`` files, each a random set of meters (plates) over the
  whole window, the meters in random order inside the file, each meter's rows together and
  in time order (a grid export by lists of accounts);
- ``one``: the generator's single file, as it is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import shutil
from pathlib import Path
from typing import IO

import polars as pl

from screening.schema import SERIES_KEYS

LAYOUTS = ("day", "batch", "one")
BULK = ("power_readings", "vehicle_tracks")


def write_layout(plain: Path, bundle: Path, layout: str, files: int = 47, seed: int = 0) -> Path:
    """``plain`` (a ``screening sample --plain`` bundle) copied to ``bundle`` with its
    readings and tracks cut as ``layout``, into ``bundle/<series>/<series>-<n>.parquet``.

    The series is split by a streaming sink and each file then ordered in memory, so that a
    city's 3x10^8 readings are never held at once (one file's are)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
    plain, bundle = Path(plain), Path(bundle)
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(plain, bundle, ignore=shutil.ignore_patterns(*(f"{n}.*" for n in BULK)))
    for name in BULK:
        key, src = SERIES_KEYS[name][0], plain / f"{name}.parquet"
        (bundle / name).mkdir()
        if layout == "one":
            shutil.copy(src, bundle / name / f"{name}-0.parquet")
            continue
        series = pl.scan_parquet(src)
        if layout == "day":  # in meter and time order inside each day
            cut = series.with_columns(pl.col("ts").dt.date().alias("_f"), pl.col(key).alias("_o"))
        else:  # meters dealt at random into ``files`` batches, in random order inside each
            order = (
                series.select(pl.col(key).unique().sort())
                .collect()
                .sample(fraction=1.0, shuffle=True, seed=seed)
                .with_row_index("_o")
            )
            order = order.with_columns((pl.col("_o") * files // max(order.height, 1)).alias("_f"))
            cut = series.join(order.lazy(), on=key)
        tmp = bundle / f".{name}-cut"
        cut.sink_parquet(pl.PartitionBy(tmp, key="_f", include_key=True), mkdir=True)
        # one folder per file to be (the sink may split a big one into several pieces)
        for n, folder in enumerate(sorted({p.parent for p in tmp.rglob("*.parquet")})):
            part = pl.read_parquet(folder / "*.parquet").sort("_o", "ts").drop("_f", "_o")
            part.write_parquet(bundle / name / f"{name}-{n}.parquet")
        shutil.rmtree(tmp)
    return bundle


# the headers a GB18030 export from the grid company carries
CSV_HEADER = {"account_id": "户号", "date": "日期", "ts": "时间", "kwh": "电量"}


def _write_text_gz(frame: pl.DataFrame, handles: list[tuple[IO[bytes], str]], header: bool) -> None:
    """CSV text, written in slices of 500,000 rows to each (gzip handle, encoding)."""
    for i in range(0, frame.height, 500_000):
        text = frame.slice(i, 500_000).write_csv(include_header=header and i == 0)
        for fh, encoding in handles:
            fh.write(text.encode(encoding))


def _wide(part: pl.LazyFrame) -> pl.DataFrame:
    """Hourly readings as one row a meter-day, h00..h23 (every file the same columns)."""
    hour = pl.col("ts").dt.hour().cast(pl.String).str.zfill(2)
    frame = (
        part.with_columns(pl.col("ts").dt.date().alias("date"), pl.format("h{}", hour).alias("h"))
        .group_by("account_id", "date", "h")
        .agg(pl.col("kwh").sum())
        .collect()
        .pivot(on="h", index=["account_id", "date"], values="kwh", sort_columns=True)
        .sort("account_id", "date")
    )
    hours = [f"h{h:02d}" for h in range(24)]
    return frame.select(
        "account_id",
        "date",
        *(pl.col(h) if h in frame.columns else pl.lit(None).alias(h) for h in hours),
    )


def _long(part: pl.LazyFrame) -> pl.DataFrame:
    frame = part.sort("account_id", "ts").collect()
    return frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S"))


def write_readings_csv(
    readings: Path,
    folder: Path,
    stem: str = "",
    wide_files: int = 2,
    encoding: str = "gb18030",
    twin: Path | None = None,
    meters_per_step: int = 5_000,
) -> list[Path]:
    """The readings of ``readings`` (long Parquet: account_id, ts, kwh; one file or a glob of
    them) as an agency's grid company exports them: its hourly meters wide-hourly (one row a
    meter-day, h00..h23, Chinese headers), split over ``wide_files`` files by meter, its daily
    meters long, into ``folder/<stem>wide_hourly_<n>.csv.gz`` and ``folder/<stem>daily.csv.gz``,
    in ``encoding``. ``twin``: a folder that gets the same files in UTF-8 (DuckDB reads only
    UTF-8; the text differs only in the header).

    Hourly meters (any reading off midnight) are pivoted ``meters_per_step`` meters at a
    time, in meter order, and the daily ones 20 times as many: a city's 3x10^8 readings are
    never held at once."""
    folder.mkdir(parents=True, exist_ok=True)
    scan = pl.scan_parquet(readings)
    meters = scan.select(pl.col("account_id").unique().sort()).collect()["account_id"]
    hourly_ids = (
        scan.filter(pl.col("ts").dt.time() != pl.time(0))
        .select(pl.col("account_id").unique().sort())
        .collect()["account_id"]
    )
    daily_ids = meters.filter(~meters.is_in(hourly_ids.implode()))
    names = [f"{stem}wide_hourly_{k + 1}.csv.gz" for k in range(wide_files)] + [
        f"{stem}daily.csv.gz"
    ]
    if twin is not None:
        twin.mkdir(parents=True, exist_ok=True)
    out = []
    for k, name in enumerate(names):
        ids = hourly_ids if k < wide_files else daily_ids
        if k < wide_files:  # this file's share of the hourly meters, in meter order
            share = -(-ids.len() // wide_files)
            ids = ids.slice(k * share, share)
        if ids.len() == 0:  # no such meters: no file (an empty one would be a file problem)
            continue
        step = meters_per_step if k < wide_files else meters_per_step * 20
        with contextlib.ExitStack() as stack:
            handles = [(stack.enter_context(gzip.open(folder / name, "wb", 3)), encoding)]
            if twin is not None:
                handles.append((stack.enter_context(gzip.open(twin / name, "wb", 3)), "utf-8"))
            for i in range(0, ids.len(), step):
                chunk = ids.slice(i, step)
                part = scan.filter(
                    pl.col("account_id").is_between(pl.lit(chunk[0]), pl.lit(chunk[-1]))
                    & pl.col("account_id").is_in(chunk.implode())
                )
                frame = _wide(part) if k < wide_files else _long(part)
                renamed = frame.rename({c: CSV_HEADER[c] for c in frame.columns if c in CSV_HEADER})
                _write_text_gz(renamed, handles, header=i == 0)
                del frame, renamed
        out.append(folder / name)
    return out


def _link(src: str, dst: str) -> None:
    """A hard link where the file system allows one (a city's registers are 0.2 GB), else a
    copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_csv_bundle(
    parquet_bundle: Path,
    out: Path,
    twin: Path | None = None,
    wide_files: int = 2,
    by_file: bool = False,
) -> Path:
    """``parquet_bundle`` (plain readings: account_id, ts, kwh) with its readings as the grid
    company's GB18030 export (``write_readings_csv``) in ``out/power_readings``; every other
    source, the GPS tracks included, stays as it is (hard-linked). ``twin``: a folder for the
    readings' UTF-8 copies (for DuckDB).

    The readings may be one file (``power_readings.parquet``) or a folder of them. Without
    ``by_file`` they are exported whole, hourly meters over ``wide_files`` files. With it,
    each file of the folder is exported on its own under its stem
    (``history_wide_hourly_1.csv.gz``, ...), so that an agency folder's history and the day's
    new file stay apart and a night can add the one: a file of at most a day in one wide
    file, a longer one in ``wide_files``.

    Written beside ``out`` (and ``twin``) and renamed into place, ``twin`` first: a bundle
    found at ``out`` (with its twin) is whole, and is kept as it is."""
    if out.exists() and (twin is None or twin.exists()):
        return out
    tmp = out.with_name(out.name + ".tmp")
    tmp_twin = None if twin is None else twin.with_name(twin.name + ".tmp")
    for d in (out, tmp, twin, tmp_twin):
        if d is not None:
            shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(
        parquet_bundle, tmp, ignore=shutil.ignore_patterns("power_readings*"), copy_function=_link
    )
    one, folder = parquet_bundle / "power_readings.parquet", parquet_bundle / "power_readings"
    if one.exists() or not by_file:
        exports = [(one if one.exists() else folder / "*.parquet", "", wide_files)]
    else:
        exports = [
            (path, f"{path.stem}_", 1 if _span(path) <= dt.timedelta(days=1) else wide_files)
            for path in sorted(folder.glob("*.parquet"))
        ]
    for readings, stem, files in exports:
        write_readings_csv(readings, tmp / "power_readings", stem, files, twin=tmp_twin)
    if twin is not None and tmp_twin is not None:
        tmp_twin.rename(twin)
    tmp.rename(out)
    return out


def _span(readings: Path) -> dt.timedelta:
    """From a file's first reading to its last."""
    ts = pl.col("ts")
    span: dt.timedelta = pl.scan_parquet(readings).select(ts.max() - ts.min()).collect().item()
    return span
