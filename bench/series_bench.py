"""One partition's power signals with and without the daily series kept between nights, back
to back in one process, so that a shared machine's load falls on both alike.

    python bench/series_bench.py --work /work/bench-nc/city/work [--parts 2] [--rounds 2]

On a warehouse night_bench.py left behind: the kept series brought up to date for its
as_of once (``partitions.keep_series``, timed: nothing new to add there), then for each of the
first ``--parts`` partitions, ``--rounds`` times in turn, the daily series summed from every
stored part's meter-days (``scale.series_cache`` off) and read from the kept series, then the
partition's whole signals both ways. The series are checked equal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from screening.pipeline import partitions
from screening.settings import Settings, load_settings
from screening.signals import power
from screening.signals.cache import KeptSeries
from screening.store.warehouse import Warehouse


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def summed(work: Path, as_of: dt.date, cfg: Settings, b: partitions.Bounds) -> pl.DataFrame:
    """The partition's daily series as a night without the cache sums it."""
    days = partitions.meter_days(work, b)
    assert days is not None, "a warehouse without meter-days files"
    return power.daily_from_days(days, as_of, cfg.power).collect()


def kept(work: Path, as_of: dt.date, kept: KeptSeries, b: partitions.Bounds) -> pl.DataFrame:
    """The same read from the kept series."""
    series = pl.scan_parquet(kept.files_for(b)).filter(partitions._in("power_readings", b))
    return power.daily_from_series(series, as_of, load_settings().power).collect()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work: Path = args.work
    on = load_settings()
    off = on.replace(scale={"series_cache": False})
    with Warehouse(work, read_only=True) as wh:
        as_of = dt.date.fromisoformat(wh.meta()["sites_as_of"])
    bounds = partitions.ranges(work, "power_readings", on.scale)
    t_keep, kept_series = timed(partial(partitions.keep_series, work, as_of, on, bounds))
    assert kept_series is not None
    print(f"{len(bounds)} partitions, as of {as_of}; {kept_series.describe()} in {t_keep:.2f} s")
    key = ["account_id", "day"]
    for b in bounds[: args.parts]:
        for r in range(args.rounds):
            t_sum, a = timed(partial(summed, work, as_of, on, b))
            t_kept, k = timed(partial(kept, work, as_of, kept_series, b))
            same = a.sort(key).equals(k.sort(key))
            t_off, _ = timed(partial(partitions.meter_part, work, as_of, off, b))
            t_on, _ = timed(partial(partitions.meter_part, work, as_of, on, b, kept_series))
            print(
                f"{b[0] if b else 'all'}.. round {r + 1}: {a.height} meter-days; "
                f"summed {t_sum:.2f} s, kept {t_kept:.2f} s (same: {same}); "
                f"signals off {t_off:.2f} s, on {t_on:.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
