"""A partition's daily series kept between nights (issue 17), so that a night re-sums only the
meter-days its new files bring instead of every meter's whole window.

Each night a partition of meters needs its meters' re-summed meter-days (``power.resum_days``:
one row per account and day) from ``power.series_start`` on. They change little from one night
to the next: a day enters, a few leave the window, and a late correction touches an old day.
So the series is kept, one Parquet file per day, with a manifest naming the meter-days files
(by a digest of their bytes) it was summed from. The next night:

- every file of the manifest still there with the same bytes: the kept days are read, the new
  files' rows are added to the days they touch (those days re-summed exactly, from the kept
  rows and the new ones: integer sums) and the days before the window are dropped;
- a file of the manifest gone or changed (a dropped part, a re-stored one): the whole series is
  summed again from every file, as without the cache (correctness first).

The logic here is pure (frames and dicts); pipeline/partitions.py reads and writes the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from screening.signals.power import resum_days

# bumped whenever what a kept series holds changes: older caches are then rebuilt
VERSION = 1
# the settings that decide which days a series needs (power.series_start); a change starts
# a new cache (and the old one is removed as stale)
SHAPING = ("history_days", "recent_days", "baseline_days", "jump_context_days")
COLUMNS = ("account_id", "day", "kwh_micro", "n_intervals", "interval_min")


def partition_key(bounds: tuple[str, str] | None, power_cfg: Mapping[str, Any]) -> str:
    """The folder name of one partition's cache: a digest of its key range and of the
    settings that shape its series, so that another partitioning or window never reads it."""
    shape = [VERSION, None if bounds is None else list(bounds)]
    shape += [power_cfg[k] for k in SHAPING]
    return hashlib.blake2b(json.dumps(shape).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Plan:
    """What a night does with a partition's cache: ``extend`` it with the ``added`` files,
    or sum the series in ``full`` again (``reason`` says why, for the manifest and tests)."""

    how: str  # "extend" or "full"
    added: tuple[str, ...] = ()
    reason: str = ""


def plan(
    manifest: Mapping[str, Any] | None,
    files: Mapping[str, str],
    first: dt.date,
    bounds: tuple[str, str] | None,
) -> Plan:
    """Extend the kept series or sum it again. ``files``: tonight's meter-days files by name,
    each with the digest of its bytes; ``first``: the first day tonight's series needs."""
    if manifest is None:
        return Plan("full", reason="no kept series")
    if manifest.get("version") != VERSION or manifest.get("bounds") != (
        None if bounds is None else list(bounds)
    ):
        return Plan("full", reason="kept by another version or partitioning")
    if dt.date.fromisoformat(manifest["first_day"]) > first:
        # an earlier night screened again: the kept series lacks the days before its own
        return Plan("full", reason="kept from a later window")
    kept: Mapping[str, str] = manifest["files"]
    changed = sorted(n for n, d in kept.items() if files.get(n) != d)
    if changed:
        return Plan("full", reason=f"{len(changed)} file(s) removed or changed: {changed[0]}")
    return Plan("extend", added=tuple(sorted(set(files) - set(kept))))


def full_series(days: pl.LazyFrame, first: dt.date) -> pl.LazyFrame:
    """The series summed from every meter-days file: what a night without a cache sums (its
    upper end is cut at use, power.daily_from_series, so a later as_of finds its days)."""
    return resum_days(days.filter(pl.col("day") >= first)).select(COLUMNS)


def touched_days(added: pl.DataFrame) -> list[dt.date]:
    """The days the new files' rows fall on: the only kept days that change."""
    return sorted(added["day"].unique().to_list())


def extend(kept: pl.LazyFrame | None, added: pl.DataFrame) -> pl.DataFrame:
    """The days the new rows touch, summed again: ``kept``, the kept series' rows of those
    days (one per account and day; None when none of them was kept, a day that enters),
    with ``added``, the new files' meter-days (one per account and day and file). Integer
    sums, so each figure equals the sum over every file."""
    frames = [added.lazy().select(COLUMNS)]
    if kept is not None:
        frames.insert(0, kept.select(COLUMNS))
    return resum_days(pl.concat(frames, how="vertical_relaxed")).select(COLUMNS).collect()


def manifest(
    bounds: tuple[str, str] | None,
    first: dt.date,
    files: Mapping[str, str],
    days: Mapping[str, str],
    done: Plan,
) -> dict[str, Any]:
    """What a kept series records: its partition, first day, the meter-days files (name:
    digest) it was summed from, its day files (day: file name) and how it was made."""
    return {
        "version": VERSION,
        "bounds": None if bounds is None else list(bounds),
        "first_day": first.isoformat(),
        "files": dict(sorted(files.items())),
        "days": dict(sorted(days.items())),
        "how": done.how,
        "added": list(done.added),
        "reason": done.reason,
    }


def kept_days(manifest: Mapping[str, Any], first: dt.date) -> dict[str, str]:
    """The manifest's day files still in the window (days are ISO dates: they sort as text)."""
    return {d: f for d, f in manifest["days"].items() if d >= first.isoformat()}


def stale(existing: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """Cache folders the current partitioning no longer makes (another count, other bounds,
    another window, a run killed half-way)."""
    return sorted(set(existing) - set(wanted))
