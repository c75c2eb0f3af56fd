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
import hashlib
import json
import os
import shutil
import tempfile
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
from screening.store.warehouse import scan_bulk, stored_days, write_parquet

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
    """Power signals (before peer percentiles) of the meters in ``bounds``: from the
    partition's daily series kept since last night (``scale.series_cache``), else from
    every stored part's meter-days summed again."""
    readings = scan_bulk(work_dir, "power_readings").filter(_in("power_readings", bounds))
    if cfg["scale"]["series_cache"]:
        series = kept_series(work_dir, as_of, cfg, bounds)
        if series is not None:
            return power_mod.meter_signals(readings, as_of, cfg["power"], series=series)
    days = meter_days(work_dir, bounds)
    return power_mod.meter_signals(readings, as_of, cfg["power"], days)


# ------------------------------------------------ the daily series kept between nights

MANIFEST = "manifest.json"
DIGESTS = "digests.json"  # the meter-days files' digests, shared by the partitions


def _read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or unreadable (a cache is then rebuilt)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, value: Any) -> None:
    """Written beside under a name no other writer uses (partitions may run at once) and
    renamed into place: a reader finds the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def file_digests(files: list[Path], memo: Path) -> dict[str, str]:
    """Each meter-days file's digest of its bytes, by name: what a kept series was summed
    from, so that a part stored again with the same rows (a full re-ingest, a night taken
    back) keeps the cache and one with other rows does not. A file is read again only when
    its size, modification time or inode differ from the ``memo``'s (a store is a rename, so
    a re-written file always has a new inode): a night hashes its new files, not all."""
    known = _read_json(memo) or {}
    digests: dict[str, str] = {}
    entries: dict[str, list[Any]] = {}
    for path in files:
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = known.get(path.name)
        if hit is not None and hit[:3] == stamp:
            digest = hit[3]
        else:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(
                    fh, lambda: hashlib.blake2b(digest_size=16)
                ).hexdigest()
        digests[path.name] = digest
        entries[path.name] = [*stamp, digest]
    if entries != known:
        _write_json(memo, entries)
    return digests


def _write_days(folder: Path, series: pl.DataFrame) -> dict[str, str]:
    """One Parquet file per day of ``series`` under a new name (day: file name): a night
    re-writes only the days it touches, and the old files stay valid until the manifest
    naming the new ones is in place."""
    token = uuid.uuid4().hex[:8]
    written: dict[str, str] = {}
    for (day,), frame in series.partition_by("day", as_dict=True).items():
        name = f"day-{day.isoformat()}-{token}.parquet"
        write_parquet(frame, folder / name)
        written[day.isoformat()] = name
    return written


def _sweep(folder: Path, keep: Iterable[str]) -> None:
    """The day files no manifest names any more (days that left the window or were
    re-summed, and those of a run killed before its manifest)."""
    wanted = set(keep)
    for path in folder.glob("day-*.parquet"):
        if path.name not in wanted:
            path.unlink(missing_ok=True)


def kept_series(
    work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any], bounds: Bounds
) -> pl.LazyFrame | None:
    """The re-summed meter-days of the meters in ``bounds`` from ``power.series_start`` on,
    from the partition's series kept last night and the files stored since (signals/cache.py),
    the cache then brought up to date for tomorrow. None where a part has no meter-days file
    (an older warehouse: summed from the readings, as without the cache) or the partition
    has no day in the window."""
    have, lack = stored_days(work_dir, "power_readings")
    if not have or lack:
        return None
    root = catalog.series_cache_dir(work_dir)
    folder = root / cache_mod.partition_key(bounds, cfg["power"])
    first = power_mod.series_start(as_of, cfg["power"])
    files = file_digests(have, root / DIGESTS)
    old = _read_json(folder / MANIFEST)
    todo = cache_mod.plan(old, files, first, bounds)
    days: dict[str, str] = {}
    if todo.how == "extend":
        days = cache_mod.kept_days(old, first)
        if not all((folder / name).exists() for name in days.values()):
            todo = cache_mod.Plan("full", reason="a kept day file is missing")
    keep = _in("power_readings", bounds)
    if todo.how == "extend" and todo.added:
        by_name = {path.name: path for path in have}
        added = (
            pl.scan_parquet([by_name[n] for n in todo.added])
            .filter(keep & (pl.col("day") >= first))
            .collect()
        )
        touched = [d.isoformat() for d in cache_mod.touched_days(added)]
        kept = [folder / days[d] for d in touched if d in days]
        days.update(
            _write_days(folder, cache_mod.extend(pl.scan_parquet(kept) if kept else None, added))
        )
    elif todo.how == "full":
        series = cache_mod.full_series(pl.scan_parquet(have).filter(keep), first).collect()
        days = _write_days(folder, series)
    _write_json(folder / MANIFEST, cache_mod.manifest(bounds, first, files, days, todo))
    _sweep(folder, days.values())
    if not days:
        return None
    return pl.scan_parquet([folder / name for name in days.values()])


def prune_series(work_dir: Path, keys: Iterable[str]) -> list[str]:
    """Remove the kept series of partitions the current partitioning no longer makes (and a
    half-written digest memo): they would never be read again. Returns the removed keys."""
    root = catalog.series_cache_dir(work_dir)
    if not root.exists():
        return []
    for tmp in root.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    existing = [p.name for p in root.iterdir() if p.is_dir()]
    gone = cache_mod.stale(existing, list(keys))
    for name in gone:
        shutil.rmtree(root / name, ignore_errors=True)
    return gone


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


def meter_ranges(work_dir: Path, cfg: Mapping[str, Any], wanted: int | None = None) -> list[Bounds]:
    """The meters' key ranges (``ranges``), and, with ``scale.series_cache``, the kept
    series of any other partitioning removed: planned once, before the partitions run."""
    bounds = ranges(work_dir, "power_readings", cfg["scale"], wanted)
    if cfg["scale"]["series_cache"]:
        prune_series(work_dir, [cache_mod.partition_key(b, cfg["power"]) for b in bounds])
    return bounds


def meter_signals(work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """All meters, one partition after another."""
    bounds = meter_ranges(work_dir, cfg)
    return concat([meter_part(work_dir, as_of, cfg, b) for b in bounds])


def stay_points(work_dir: Path, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """All trucks' stays, one partition after another."""
    bounds = ranges(work_dir, "vehicle_tracks", cfg["scale"])
    return concat([stay_part(work_dir, as_of, cfg, b) for b in bounds])


def concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The partitions' results as one frame. Each part is sorted by its key and the ranges
    come in key order, so the union is in the order one whole-series run gives."""
    return pl.concat(parts, how="vertical_relaxed")
