"""The heavy stages over partitions: power signals per range of meters, stay points per range
of plates.

Both stages compute each meter's (each truck's) figures from that meter's (truck's) own
series alone, so a partition is a contiguous range of keys and the union of the partitions
equals the whole. Ranges rather than hashes: every process agrees on them without sharing a
hash seed, and a range filter lets Parquet statistics skip row groups. The nightly flow maps
one Prefect task over each range (on a Dask cluster when one is configured); ``build_sites``
runs them one after another, which also bounds the memory a big city needs.

A partition task reads the bulk Parquet directly, never the DuckDB file, so that many worker
processes can read at once; on a multi-machine cluster the work directory must be on storage
every worker mounts at the same path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from screening.schema import SERIES_KEYS
from screening.signals import power as power_mod
from screening.signals import vehicles as veh_mod
from screening.store.warehouse import scan_bulk, stored_days

# (first key, last key), both included; None: the whole series as one partition
Bounds = tuple[str, str] | None

# the key each bulk series is partitioned on: the first of its contract key
KEYS = {name: key[0] for name, key in SERIES_KEYS.items()}


def key_ranges(work_dir: Path, name: str, parts: int) -> list[Bounds]:
    """``parts`` contiguous ranges of the series' keys holding about as many keys each, in
    key order (fewer when there are fewer keys; one whole partition when parts is 1)."""
    key = KEYS[name]
    if parts <= 1:
        return [None]
    keys = scan_bulk(work_dir, name).select(key).unique().sort(key).collect()
    if keys.height == 0:
        return [None]
    n = max(1, min(parts, keys.height))
    ranges = (
        keys.with_row_index("_i")
        .group_by((pl.col("_i") * n // keys.height).alias("_part"))
        .agg(pl.col(key).min().alias("lo"), pl.col(key).max().alias("hi"))
        .sort("_part")
    )
    return list(zip(ranges["lo"].to_list(), ranges["hi"].to_list(), strict=True))


def _in(name: str, bounds: Bounds) -> pl.Expr:
    if bounds is None:
        return pl.lit(True)
    return pl.col(KEYS[name]).is_between(pl.lit(bounds[0]), pl.lit(bounds[1]), closed="both")


def meter_days(work_dir: Path, bounds: Bounds) -> pl.LazyFrame | None:
    """The meter-days of the readings in ``bounds``, one row per stored part's meter and
    day (power.resum_days adds a day split across parts): from the files ingest keeps beside
    each part, and from the readings for a part without one. None when no part has one (a
    warehouse written before they were kept): the signals then group the readings as
    before, in one pass."""
    have, lack = stored_days(work_dir, "power_readings")
    if not have:
        return None
    keep = _in("power_readings", bounds)
    days = [pl.scan_parquet(have).filter(keep)]
    if lack:
        days.append(power_mod.meter_days(pl.scan_parquet(lack).filter(keep)))
    return pl.concat(days, how="vertical_relaxed")


def meter_part(
    work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any], bounds: Bounds
) -> pl.DataFrame:
    """Power signals (before peer percentiles) of the meters in ``bounds``."""
    readings = scan_bulk(work_dir, "power_readings").filter(_in("power_readings", bounds))
    days = meter_days(work_dir, bounds)
    return power_mod.meter_signals(readings, as_of, cfg["power"], days)


def stay_part(
    work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any], bounds: Bounds
) -> pl.DataFrame:
    """Stay points of the trucks in ``bounds``, up to the end of ``as_of``."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    tracks = scan_bulk(work_dir, "vehicle_tracks").filter(
        _in("vehicle_tracks", bounds) & (pl.col("ts") < end)
    )
    return veh_mod.stay_points(tracks, cfg["vehicles"]).collect()


def ranges(
    work_dir: Path, name: str, scale: Mapping[str, Any], wanted: int | None = None
) -> list[Bounds]:
    """The key ranges of one series: ``wanted`` partitions (default ``scale.partitions``),
    or more on a series too big for that, one per ``scale.rows_per_partition[name]`` rows
    (counted from Parquet metadata)."""
    rows = scan_bulk(work_dir, name).select(pl.len()).collect().item()
    base = scale["partitions"] if wanted is None else wanted
    return key_ranges(work_dir, name, max(base, -(-rows // scale["rows_per_partition"][name])))


def meter_signals(work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """All meters, one partition after another."""
    bounds = ranges(work_dir, "power_readings", cfg["scale"])
    return concat([meter_part(work_dir, as_of, cfg, b) for b in bounds])


def stay_points(work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """All trucks' stays, one partition after another."""
    bounds = ranges(work_dir, "vehicle_tracks", cfg["scale"])
    return concat([stay_part(work_dir, as_of, cfg, b) for b in bounds])


def concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The partitions' results as one frame. Each part is sorted by its key and the ranges
    come in key order, so the union is in the order one whole-series run gives."""
    return pl.concat(parts, how="vertical_relaxed")
