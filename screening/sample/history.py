"""A world with a history of truck tracks, for replaying night after night.

The classic county keeps only the last few days of GPS (``SizePreset.track_days``): enough
for one screening on the last day, none for the nights before it. ``generate(...,
track_days=N)`` keeps N days instead. The world is drawn exactly as before (same registers,
same readings, same planted cases); only the planted truck calls are spread over the longer
window, each recurring every ``TUNE.visit_period_days`` days back from where it was drawn,
and never before the site's start (its jump or wake day): a workshop that started on
2021-08-10 has no truck at its gate in July. Its tips are likewise not received before it
started. The truth then says when each site started (``start_date``: the jump or wake day,
else the first day of the readings, for a site that worked all along), which is what a
replay measures time to detection from.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import polars as pl

from .config import AS_OF, TUNE
from .entities import Visit, World


def start_days(w: World) -> dict[int, date]:
    """Place id -> the day the truth site there started (only sites with a jump or wake)."""
    out: dict[int, date] = {}
    for t in w.truth:
        if t["jump_date"]:
            out[int(t["place_id"])] = date.fromisoformat(str(t["jump_date"]))  # type: ignore[call-overload]
    return out


def lengthen(rng: np.random.Generator, w: World, track_days: int) -> None:
    """Give the world ``track_days`` days of tracks (at most its readings window): planted
    visits recur every ``TUNE.visit_period_days`` days back to their site's start, and
    planted tips dated before their site's start move to a few days after it. Changes
    ``w.preset``, ``w.visits`` and ``w.tips`` in place."""
    old = w.preset
    days = min(int(track_days), old.days)
    if days <= old.track_days:
        return
    w.preset = dataclasses.replace(old, track_days=days)
    starts = start_days(w)
    first_track = AS_OF - timedelta(days=days - 1)
    old_first = AS_OF - timedelta(days=old.track_days - 1)
    period = TUNE.visit_period_days
    visits: list[Visit] = []
    for v in w.visits:
        drawn = old_first + timedelta(days=v.day)
        floor = max(first_track, starts.get(v.place_id, first_track))
        k = 0
        while drawn - timedelta(days=period * k) >= floor:
            day = (drawn - timedelta(days=period * k) - first_track).days
            visits.append(dataclasses.replace(v, day=day))
            k += 1
    w.visits = visits
    # a tip about a workshop is received once it is working, not weeks before
    tip_start = {
        int(k): starts[int(t["place_id"])]  # type: ignore[call-overload]
        for t in w.truth
        if int(t["place_id"]) in starts  # type: ignore[call-overload]
        for k in t["tip_keys"]  # type: ignore[attr-defined]
    }
    if tip_start and w.tips.height:
        keys = pl.DataFrame(
            {"key": list(tip_start), "_start": list(tip_start.values())},
            schema={"key": pl.Int64, "_start": pl.Date},
        )
        delay = rng.integers(2, 8, size=w.tips.height)
        early = pl.col("_start").is_not_null() & (pl.col("received") < pl.col("_start"))
        w.tips = (
            w.tips.with_columns(_d=pl.Series(delay, dtype=pl.Int64))
            .join(keys, on="key", how="left", maintain_order="left")
            .with_columns(
                received=pl.when(early)
                .then(
                    pl.min_horizontal(
                        pl.col("_start") + pl.duration(days=pl.col("_d")), pl.lit(AS_OF)
                    )
                )
                .otherwise(pl.col("received"))
            )
            .drop("_d", "_start")
        )


def sorted_starts(w: World, truth: pl.DataFrame) -> list[str]:
    """Per row of the truth frame: its site's start day (its jump or wake day, else the
    first day of the readings: it worked all along)."""
    first = w.preset.start.isoformat()
    by_id = {str(t["truth_id"]): str(t["jump_date"]) or first for t in w.truth}
    return [by_id[i] for i in truth["truth_id"].to_list()]
