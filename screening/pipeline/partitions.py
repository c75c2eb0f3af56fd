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

The meters' daily series is kept between nights (``keep_series``, signals/cache.py): brought up
to date once, before the partitions, which then read their key range of it instead of summing
every stored part's meter-days again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from screening.schema import SERIES_KEYS
from screening.signals import cache as cache_mod
from screening.signals import power as power_mod
from screening.signals import vehicles as veh_mod
from screening.store import catalog
from screening.store.warehouse import replace_atomically, scan_bulk, stored_days, write_parquet

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
    work_dir: Path,
    as_of: dt.date,
    cfg: Mapping[str, Any],
    bounds: Bounds,
    kept: cache_mod.KeptSeries | None = None,
) -> pl.DataFrame:
    """Power signals (before peer percentiles) of the meters in ``bounds``: from tonight's
    kept daily series (``keep_series``) when given, else from every stored part's
    meter-days summed again."""
    readings = scan_bulk(work_dir, "power_readings").filter(_in("power_readings", bounds))
    files = [] if kept is None else kept.files_for(bounds)
    if files:
        series = pl.scan_parquet(files).filter(_in("power_readings", bounds))
        return power_mod.meter_signals(readings, as_of, cfg["power"], series=series)
    days = meter_days(work_dir, bounds)
    return power_mod.meter_signals(readings, as_of, cfg["power"], days)


# ------------------------------------------------- the daily series kept between nights

MANIFEST = "manifest.json"


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The kept series' manifest, or None when it is missing or unreadable (rebuilt)."""
    try:
        value = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def file_digests(files: list[Path], known: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """Each meter-days file's [size, mtime, inode, digest of its bytes], by name: what a
    kept series was summed from, so that a part stored again with the same rows (a full
    re-ingest, a night taken back) keeps the series and one with other rows does not. A
    file is read only when its size, modification time or inode differ from what is
    ``known`` (a store is a rename, so a re-written file always has a new inode): a night
    hashes its new files, not all of them."""
    out: dict[str, list[Any]] = {}
    for path in files:
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = known.get(path.name)
        if hit is not None and hit[:3] == stamp:
            out[path.name] = hit
            continue
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16))
        out[path.name] = [*stamp, digest.hexdigest()]
    return out


def _write_segments(
    folder: Path, series: pl.DataFrame, lo: str | None, hi: str | None, rows: int
) -> list[cache_mod.Segment]:
    """One Parquet file per day of ``series`` (meters from ``lo`` up to ``hi``), each under
    a new name: the files the manifest names stay as they are until the new manifest is in
    place, so a run killed half-way leaves last night's series whole."""
    token = uuid.uuid4().hex[:12]
    out = []
    for (day,), frame in series.partition_by("day", as_dict=True, maintain_order=True).items():
        name = f"day-{day.isoformat()}-{token}.parquet"
        write_parquet(frame, folder / name, row_group_rows=rows)
        out.append(cache_mod.Segment(day.isoformat(), lo, hi, name))
    return out


def _sweep(folder: Path, keep: Iterable[cache_mod.Segment]) -> None:
    """The segment files no manifest names (days that left the window or were summed
    again, and those of a run killed before its manifest)."""
    wanted = {s.file for s in keep}
    for path in folder.glob("day-*.parquet"):
        if path.name not in wanted:
            path.unlink(missing_ok=True)


def _extended(
    folder: Path,
    segments: list[cache_mod.Segment],
    added: list[Path],
    first: dt.date,
    rows: int,
) -> list[cache_mod.Segment]:
    """The kept segments with the ``added`` files' meter-days summed into the days they
    touch, and without the days before ``first``."""
    if not added:
        return cache_mod.replaced(segments, first, (), ())
    new_days = pl.scan_parquet(added).filter(pl.col("day") >= first).collect()
    touched = cache_mod.touched_days(new_days)
    kept = [folder / s.file for s in segments if s.day in set(touched)]
    redone = cache_mod.extend(pl.scan_parquet(kept) if kept else None, new_days)
    return cache_mod.replaced(
        segments, first, touched, _write_segments(folder, redone, None, None, rows)
    )


def _summed_whole(
    folder: Path, have: list[Path], bounds: list[Bounds], first: dt.date, rows: int
) -> list[cache_mod.Segment]:
    """The series summed from every meter-days file a range of meters at a time, as the
    partitions sum it without the cache (so memory stays theirs)."""
    segments: list[cache_mod.Segment] = []
    for lo, hi in cache_mod.chunks(bounds):
        days = pl.scan_parquet(have).filter(cache_mod.in_chunk(lo, hi))
        series = cache_mod.full_series(days, first).collect()
        segments += _write_segments(folder, series, lo, hi, rows)
    return segments


def _remove_stale(root: Path, key: str) -> None:
    for name in cache_mod.stale([p.name for p in root.glob("*")], key):
        if (root / name).is_dir():
            shutil.rmtree(root / name, ignore_errors=True)
        else:
            (root / name).unlink(missing_ok=True)


def keep_series(
    work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any], bounds: list[Bounds]
) -> cache_mod.KeptSeries | None:
    """The meters' daily series kept since last night brought up to date for tonight
    (signals/cache.py), once, before the partitions (``bounds``) read it; the series of
    another window removed. None with ``scale.series_cache`` off (nothing read or written),
    or where a part has no meter-days file (an older warehouse: the partitions sum its
    readings, as without the cache)."""
    if not cfg["scale"]["series_cache"]:
        return None
    have, lack = stored_days(work_dir, "power_readings")
    if not have or lack:
        return None
    root = catalog.series_cache_dir(work_dir)
    key = cache_mod.shape_key(cfg["power"])
    _remove_stale(root, key)
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    first = power_mod.series_start(as_of, cfg["power"])
    old = _read_manifest(folder)
    files = file_digests(have, {} if old is None else old["files"])
    todo = cache_mod.plan(old, {n: e[-1] for n, e in files.items()}, first)
    kept = [] if old is None else cache_mod.segments_of(old)
    if todo.how == "extend" and not all((folder / s.file).exists() for s in kept):
        todo = cache_mod.Plan("full", reason="a kept segment file is missing")
    rows = cfg["ingest"]["bulk_row_group_rows"]
    if todo.how == "extend":
        by_name = {path.name: path for path in have}
        added = [by_name[name] for name in todo.added]
        segments = _extended(folder, kept, added, first, rows)
    else:
        segments = _summed_whole(folder, have, bounds, first, rows)
    manifest = cache_mod.manifest(first, files, segments, todo)
    replace_atomically(
        folder / MANIFEST, lambda p: p.write_text(json.dumps(manifest), encoding="utf-8")
    )
    _sweep(folder, segments)
    return cache_mod.KeptSeries(folder, first, tuple(segments), todo)


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
    kept = keep_series(work_dir, as_of, cfg, bounds)
    return concat([meter_part(work_dir, as_of, cfg, b, kept) for b in bounds])


def stay_points(work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """All trucks' stays, one partition after another."""
    bounds = ranges(work_dir, "vehicle_tracks", cfg["scale"])
    return concat([stay_part(work_dir, as_of, cfg, b) for b in bounds])


def concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The partitions' results as one frame. Each part is sorted by its key and the ranges
    come in key order, so the union is in the order one whole-series run gives."""
    return pl.concat(parts, how="vertical_relaxed")
