"""The meters' daily series kept between nights (issue 17), so that a night re-sums only the
meter-days its new files bring instead of every meter's whole window.

Each night every partition of meters needs its meters' re-summed meter-days
(``power.resum_days``: one row per account and day) from ``power.series_start`` on. They
change little from one night to the next: a day enters, one leaves the window, and a late
correction touches an old day. So the series is kept as **segments**, Parquet files of one day
and one range of meters each, no two holding the same account and day, with a manifest naming
the meter-days files (by a digest of their bytes) it was summed from. The next night:

- every file of the manifest still there with the same bytes: the new files' rows are added
  to the days they touch (those days' segments summed again with them, exactly: integer sums,
  into one segment of all meters) and the segments of days before the window are dropped;
- a file of the manifest gone or changed (a dropped part, a re-stored one): the whole series is
  summed again from every file, range by range, as without the cache (correctness first).

A partition reads the segments that overlap its key range, cut to it. Segments are not tied
to a partitioning: a night with more partitions, or whose new meters move the ranges, reads
the same series. The series is brought up to date once a night, before the partitions run
(pipeline/partitions.py ``keep_series``, which does the I/O); the logic here is pure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from screening.signals.power import resum_days

# bumped whenever what a kept series holds changes: older caches are then rebuilt
VERSION = 2
# the settings that decide which days a series needs (power.series_start); a change starts
# a new cache (and the old one is removed as stale)
SHAPING = ("history_days", "recent_days", "baseline_days", "jump_context_days")
COLUMNS = ("account_id", "day", "kwh_micro", "n_intervals", "interval_min")
KEY = "account_id"


def shape_key(power_cfg: Mapping[str, Any]) -> str:
    """The folder name of a kept series: a digest of the version and of the settings that
    shape it, so that another window never reads it."""
    shape = [VERSION, *(power_cfg[k] for k in SHAPING)]
    return hashlib.blake2b(json.dumps(shape).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Segment:
    """One file of a kept series: the summed meter-days of ``day`` for the meters from ``lo``
    (included) up to ``hi`` (excluded); None: open on that side."""

    day: str  # ISO date: sorts as text
    lo: str | None
    hi: str | None
    file: str

    def overlaps(self, bounds: tuple[str, str] | None) -> bool:
        """Whether meters of ``bounds`` (first and last key, both included) can be in it."""
        if bounds is None:
            return True
        first, last = bounds
        return (self.lo is None or self.lo <= last) and (self.hi is None or first < self.hi)


@dataclass(frozen=True)
class Plan:
    """What a night does with the kept series: ``extend`` it with the ``added`` files, or
    sum it in ``full`` again (``reason`` says why, for the manifest, the log and tests)."""

    how: str  # "extend" or "full"
    added: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class KeptSeries:
    """Tonight's series, as the partitions read it (small: passed to each partition task)."""

    folder: Path
    first: dt.date
    segments: tuple[Segment, ...]
    done: Plan

    def files_for(self, bounds: tuple[str, str] | None) -> list[Path]:
        return [self.folder / s.file for s in self.segments if s.overlaps(bounds)]

    def describe(self) -> str:
        if self.done.how == "extend":
            return f"daily series kept: {len(self.done.added)} new files added"
        return f"daily series summed whole ({self.done.reason})"


def plan(manifest: Mapping[str, Any] | None, files: Mapping[str, str], first: dt.date) -> Plan:
    """Extend the kept series or sum it again. ``files``: tonight's meter-days files by name,
    each with the digest of its bytes; ``first``: the first day tonight's series needs."""
    if manifest is None:
        return Plan("full", reason="no kept series")
    if manifest.get("version") != VERSION:
        return Plan("full", reason="kept by another version")
    if dt.date.fromisoformat(manifest["first_day"]) > first:
        # an earlier night screened again: the kept series lacks the days before its own
        return Plan("full", reason="kept from a later window")
    kept = {name: entry[-1] for name, entry in manifest["files"].items()}
    changed = sorted(n for n, d in kept.items() if files.get(n) != d)
    if changed:
        return Plan("full", reason=f"{len(changed)} file(s) removed or changed: {changed[0]}")
    return Plan("extend", added=tuple(sorted(set(files) - set(kept))))


def chunks(bounds: Sequence[tuple[str, str] | None]) -> list[tuple[str | None, str | None]]:
    """Key ranges for summing the whole series a range at a time (the partitions' ranges,
    memory bounded as theirs): each from a range's first key up to the next one's, the ends
    open, so that together they hold every meter, one the ranges did not know included."""
    starts = [b[0] for b in bounds if b is not None][1:]
    return list(zip([None, *starts], [*starts, None], strict=True))


def in_chunk(lo: str | None, hi: str | None) -> pl.Expr:
    keep = pl.lit(True)
    if lo is not None:
        keep = keep & (pl.col(KEY) >= lo)
    if hi is not None:
        keep = keep & (pl.col(KEY) < hi)
    return keep


def full_series(days: pl.LazyFrame, first: dt.date) -> pl.LazyFrame:
    """The series summed from every meter-days file: what a night without a cache sums (its
    upper end is cut at use, power.daily_from_series, so a later as_of finds its days)."""
    return resum_days(days.filter(pl.col("day") >= first)).select(COLUMNS)


def touched_days(added: pl.DataFrame) -> list[str]:
    """The days (ISO) the new files' rows fall on: the only kept days that change."""
    return sorted(d.isoformat() for d in added["day"].unique().to_list())


def extend(kept: pl.LazyFrame | None, added: pl.DataFrame) -> pl.DataFrame:
    """The days the new rows touch, summed again: ``kept``, the kept series' rows of those
    days (one per account and day; None when none of them was kept, a day that enters),
    with ``added``, the new files' meter-days (one per account and day and file). Integer
    sums, so each figure equals the sum over every file. In meter order, so that a
    partition's key range skips the other meters' row groups."""
    frames = [added.lazy().select(COLUMNS)]
    if kept is not None:
        frames.insert(0, kept.select(COLUMNS))
    summed = resum_days(pl.concat(frames, how="vertical_relaxed")).select(COLUMNS)
    return summed.sort(KEY, "day").collect()


def replaced(
    segments: Iterable[Segment], first: dt.date, touched: Iterable[str], new: Iterable[Segment]
) -> list[Segment]:
    """The segments after a night: those of days before ``first`` dropped, those of the
    ``touched`` days replaced by the ``new`` ones (which hold all of those days' meters)."""
    gone = set(touched)
    keep = [s for s in segments if s.day >= first.isoformat() and s.day not in gone]
    return sorted([*keep, *new], key=lambda s: (s.day, s.lo or ""))


def manifest(
    first: dt.date,
    files: Mapping[str, list[Any]],
    segments: Iterable[Segment],
    done: Plan,
) -> dict[str, Any]:
    """What a kept series records: its first day, the meter-days files it was summed from
    (name: [size, mtime, inode, digest]), its segments and how tonight made it."""
    return {
        "version": VERSION,
        "first_day": first.isoformat(),
        "files": dict(sorted(files.items())),
        "segments": [[s.day, s.lo, s.hi, s.file] for s in segments],
        "how": done.how,
        "added": list(done.added),
        "reason": done.reason,
    }


def segments_of(manifest: Mapping[str, Any]) -> list[Segment]:
    return [Segment(*row) for row in manifest["segments"]]


def stale(existing: Sequence[str], wanted: str) -> list[str]:
    """Kept series of another window or version: never read again."""
    return sorted(set(existing) - {wanted})
