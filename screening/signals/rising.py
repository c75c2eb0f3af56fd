"""A level rising now: a one-sided CUSUM of each meter's last days against its baseline.

The jump search (power.jumps) needs ``power.min_segment_days`` days of the new level before
it can place a change point, so a workshop that started three days ago has no jump yet.
Page's one-sided CUSUM judges the days since a shift began as they come: each complete
day's energy is standardised by the baseline before the window (its median and robust
spread, 1.4826 x MAD), winsorised at ``z_cap`` so that one freak day cannot raise the
alarm alone, less the allowance ``k``; the running sum, reset at zero, S_t = max(0, S_{t-1}
+ z_t - k), raises the alarm once it reaches ``h``. The rise began the day after the sum was
last at zero (the CUSUM's own change-point estimate); the sum at ``as_of`` and the shift in
baseline spreads say how sure. With z_cap 4, k 1 and h 8 a large step is flagged on its
third day; a steady meter, noisy or not, drifts back to zero.

Vectorised per meter: S_t = C_t - min(0, min_{j<=t} C_j) with C the cumulative sum of
z - k (one cumulative sum and one cumulative minimum over each meter's window).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl

MAD_TO_SD = 1.4826


def rises(daily: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Per meter whose CUSUM is above ``h`` at ``as_of``: rise_date (the first day of the
    new level), rise_days (complete days of it), rise_before (baseline median kWh/day),
    rise_after (mean kWh/day since), rise_ratio, rise_sigma (the shift in baseline spreads)
    and rise_cusum (the statistic at ``as_of``). ``cfg`` is the power section."""
    r = cfg["rising"]
    first = as_of - dt.timedelta(days=r["window_days"] - 1)
    base_from = first - dt.timedelta(days=cfg["baseline_days"])
    full = daily.filter(
        (pl.col("n_intervals") >= pl.col("expected_intervals"))
        & pl.col("day").is_between(base_from, as_of)
    )
    kwh = pl.col("kwh")
    base = (
        full.filter(pl.col("day") < first)
        .group_by("account_id")
        .agg(
            kwh.median().alias("rise_before"),
            (kwh - kwh.median()).abs().median().alias("_mad"),
            pl.len().alias("_n"),
        )
        .filter(pl.col("_n") >= r["min_baseline_days"])
        .with_columns(
            pl.max_horizontal(
                MAD_TO_SD * pl.col("_mad"),
                r["sd_floor_share"] * pl.col("rise_before"),
                pl.lit(r["sd_floor_kwh"]),
            ).alias("_sd")
        )
    )
    z = ((kwh - pl.col("rise_before")) / pl.col("_sd")).clip(upper_bound=r["z_cap"])
    c = (z - r["k"]).cum_sum().over("account_id")
    window = (
        full.filter(pl.col("day") >= first)
        .join(base, on="account_id")
        .sort("account_id", "day")
        .with_columns(_c=c)
        .with_columns(
            _s=pl.col("_c") - pl.min_horizontal(pl.col("_c").cum_min().over("account_id"), 0.0)
        )
    )
    # the day the sum was last at zero; none in the window: the rise began before it
    reset = pl.col("day").filter(pl.col("_s") <= 0).max().fill_null(first - dt.timedelta(days=1))
    since = pl.col("day") > reset
    return (
        window.group_by("account_id")
        .agg(
            pl.col("_s").last().alias("rise_cusum"),
            pl.col("day").filter(since).min().alias("rise_date"),
            since.sum().alias("rise_days"),
            kwh.filter(since).mean().alias("rise_after"),
            pl.col("rise_before").first(),
            pl.col("_sd").first().alias("rise_sd"),
        )
        .filter(pl.col("rise_cusum") >= r["h"])
        .with_columns(
            ((pl.col("rise_after") - pl.col("rise_before")) / pl.col("rise_sd")).alias(
                "rise_sigma"
            ),
            (
                (pl.col("rise_after") + cfg["dormant_kwh_per_day"])
                / (pl.col("rise_before") + cfg["dormant_kwh_per_day"])
            ).alias("rise_ratio"),
        )
        .select(
            "account_id",
            "rise_date",
            pl.col("rise_days").cast(pl.Int64),
            "rise_before",
            "rise_after",
            "rise_ratio",
            "rise_sigma",
            "rise_cusum",
        )
    )
