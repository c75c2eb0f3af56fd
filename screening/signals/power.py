"""Power signals per electricity account: the traces the campaign names (夜间用电量 night use,
短期内用电量激增 sudden jumps, round-the-clock load) with the data quality behind them.

Everything is a polars lazy query over the canonical readings (account_id, ts, kwh,
interval_min); nothing reads the clock: the window ends at ``as_of`` and no reading after it
is used. Missing intervals stay missing: a gap lowers coverage, it never becomes a zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import holidays
import polars as pl

from screening.signals.rising import rises

DAILY = 1440


def window(as_of: dt.date, cfg: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(window start, start of the recent part, end) as local timestamps; end is exclusive."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    recent = end - dt.timedelta(days=cfg["recent_days"])
    start = recent - dt.timedelta(days=cfg["baseline_days"])
    return start, recent, end


MICRO = 1_000_000


def _micro(kwh: pl.Expr) -> pl.Expr:
    return (kwh * MICRO).round().cast(pl.Int64)


def _exact_mean(kwh: pl.Expr) -> pl.Expr:
    """A mean whose sum is taken in integers (see daily_energy); null over no rows."""
    n = kwh.count()
    return pl.when(n > 0).then(_micro(kwh).sum() / n / MICRO)


def history_start(as_of: dt.date, cfg: Mapping[str, Any]) -> dt.date:
    """First day of the history jumps and wake-ups are searched in."""
    _, _, end = window(as_of, cfg)
    days = max(cfg["history_days"], cfg["recent_days"] + cfg["baseline_days"])
    return (end - dt.timedelta(days=days)).date()


def _history_days(as_of: dt.date, cfg: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
    """(first, last + 1) day daily_energy covers: the history window and the jump context
    before it, both whole days (the window is cut at midnights)."""
    _, _, end = window(as_of, cfg)
    first = history_start(as_of, cfg) - dt.timedelta(days=cfg["jump_context_days"])
    return first, end.date()


def meter_days(readings: pl.LazyFrame, in_order: bool = False) -> pl.LazyFrame:
    """Per account and day: kWh in whole micro-kWh (``kwh_micro``, Int64), readings and the
    shortest interval. The sums are integers, so the figures of several frames (the stored
    parts of a series, each aggregated once at ingest) re-sum exactly to the figure of
    their union, in any order: see ``resum_days``. ``in_order``: the days in the order the
    readings first give them, so readings sorted by meter and time give days sorted the
    same way without a sort (a third of the cost at ingest)."""
    day = pl.col("ts").dt.date().alias("day")
    return readings.group_by("account_id", day, maintain_order=in_order).agg(
        # integer sums do not depend on the order threads add rows in, so a day's figure is
        # the same for any partitioning, thread count or cut of the series into parts
        _micro(pl.col("kwh")).sum().alias("kwh_micro"),
        pl.len().alias("n_intervals"),
        pl.col("interval_min").min().alias("interval_min"),
    )


def resum_days(days: pl.LazyFrame) -> pl.LazyFrame:
    """Meter-days of several parts as one row per account and day (a day split across a
    day file and a late correction, or across two account batches)."""
    return days.group_by("account_id", "day").agg(
        pl.col("kwh_micro").sum(),
        pl.col("n_intervals").sum().cast(pl.UInt32),
        pl.col("interval_min").min(),
    )


def _as_daily(days: pl.LazyFrame) -> pl.LazyFrame:
    return days.select(
        "account_id",
        "day",
        (pl.col("kwh_micro") / MICRO).alias("kwh"),
        "n_intervals",
        "interval_min",
        (DAILY // pl.col("interval_min")).alias("expected_intervals"),
    )


def daily_energy(readings: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """kWh per account and day over the history window and the jump context before it, with
    how many intervals the day should have had and how many it has, so that a half-reported
    day is known as such."""
    first, stop = _history_days(as_of, cfg)
    start, end = (dt.datetime.combine(d, dt.time()) for d in (first, stop))
    in_window = pl.col("ts").is_between(start, end, closed="left")
    return _as_daily(meter_days(readings.filter(in_window)))


def daily_from_days(days: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """daily_energy from meter-days aggregated beforehand (per stored part, at ingest): the
    same rows, without a pass over the readings."""
    first, stop = _history_days(as_of, cfg)
    return _as_daily(resum_days(days.filter(pl.col("day").is_between(first, stop, closed="left"))))


def series_start(as_of: dt.date, cfg: Mapping[str, Any]) -> dt.date:
    """The first day daily_energy reads: a daily series kept between nights (signals/cache.py)
    needs every day from it on."""
    return _history_days(as_of, cfg)[0]


def daily_from_series(series: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """daily_energy from meter-days already re-summed, one row per account and day (a series
    kept from the night before and brought up to date, signals/cache.py): the window's
    days, no group-by at all. A day's figure does not depend on the others, so the window
    cut before or after the sum gives the same rows."""
    first, stop = _history_days(as_of, cfg)
    return _as_daily(series.filter(pl.col("day").is_between(first, stop, closed="left")))


def quality(daily: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Coverage, gaps and zero days per account over the baseline and recent window: an
    empty meter is not a closed shop."""
    start, _, end = window(as_of, cfg)
    days = (end - start).days
    present = pl.col("day")
    return (
        daily.filter(pl.col("day") >= start.date())
        .sort("account_id", "day")
        .group_by("account_id")
        .agg(
            pl.col("interval_min").min().alias("interval_min"),
            pl.len().alias("days_reported"),
            (pl.col("n_intervals").sum() / pl.col("expected_intervals").sum()).alias(
                "interval_coverage"
            ),
            (pl.col("kwh") <= 0).sum().alias("zero_days"),
            # the last day the meter was really used (an earlier case "closed" before it
            # still drew power after)
            present.filter(pl.col("kwh") >= cfg["dormant_kwh_per_day"]).max().alias("last_use_day"),
            present.min().alias("first_day"),
            present.max().alias("last_day"),
            (present.diff().dt.total_days().max() - 1).fill_null(0).alias("longest_gap_days"),
        )
        .with_columns(
            (pl.col("days_reported") / days).alias("coverage"),
            pl.lit(days).alias("window_days"),
        )
    )


def profile(readings: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Shape of the recent load for accounts read at least hourly: night and weekend shares,
    load factor, hours near peak and how flat the day is. A reactor or a kiln runs round the
    clock; a shop does not. Daily-only meters get none of these (nothing is invented)."""
    _, recent, end = window(as_of, cfg)
    ns, ne = cfg["night_start_hour"], cfg["night_end_hour"]
    hourly = (
        readings.filter(
            pl.col("ts").is_between(recent, end, closed="left") & (pl.col("interval_min") <= 60)
        )
        # whole micro-kWh (see daily_energy): every sum and mean below is then the same for
        # any order the rows arrive in, any partitioning and any thread count
        .group_by("account_id", pl.col("ts").dt.truncate("1h").alias("hour"))
        .agg(_micro(pl.col("kwh")).sum().alias("kwh"))
        .with_columns(h=pl.col("hour").dt.hour(), wd=pl.col("hour").dt.weekday())
    )
    is_night = (pl.col("h") >= ns) | (pl.col("h") < ne)
    by_hour = (
        hourly.group_by("account_id", "h")
        .agg((pl.col("kwh").sum() / pl.len() / MICRO).alias("m"))
        .group_by("account_id")
        .agg(
            pl.when(pl.col("m").max() > 0)
            .then(pl.col("m").min() / pl.col("m").max())
            .alias("flatness")
        )
    )
    shape = (
        hourly.group_by("account_id")
        .agg(
            pl.col("kwh").sum().alias("_total"),
            pl.col("kwh").filter(is_night).sum().alias("_night"),
            pl.col("kwh").filter(pl.col("wd") >= 6).sum().alias("_weekend"),
            (pl.col("kwh").sum() / pl.len() / MICRO).alias("_mean"),
            (pl.col("kwh").quantile(0.95) / MICRO).alias("peak_kwh_h"),
            pl.col("hour").dt.date().n_unique().alias("_days"),
            pl.col("kwh").alias("_all"),
        )
        .with_columns(
            pl.when(pl.col("_total") > 0)
            .then(pl.col("_night") / pl.col("_total"))
            .alias("night_share"),
            pl.when(pl.col("_total") > 0)
            .then(pl.col("_weekend") / pl.col("_total"))
            .alias("weekend_share"),
            # mean over the 95th-percentile hour: one fault spike does not define the peak
            pl.when(pl.col("peak_kwh_h") > 0)
            .then(pl.col("_mean") / pl.col("peak_kwh_h"))
            .clip(upper_bound=1.0)
            .alias("load_factor"),
            (
                pl.col("_all")
                .list.eval(
                    (pl.element() > cfg["high_hour_share"] * pl.element().quantile(0.95)).cast(
                        pl.Int32
                    )
                )
                .list.sum()
                / pl.col("_days")
            ).alias("high_hours_per_day"),
        )
    )
    return shape.join(by_hour, on="account_id", how="left").select(
        "account_id",
        "night_share",
        "weekend_share",
        "load_factor",
        "peak_kwh_h",
        "high_hours_per_day",
        "flatness",
    )


def levels(daily: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Mean daily kWh in the recent part against the baseline before it (complete days only,
    so a half-reported day does not look like a drop)."""
    start, recent, _ = window(as_of, cfg)
    full = daily.filter(
        (pl.col("n_intervals") >= pl.col("expected_intervals")) & (pl.col("day") >= start.date())
    )
    is_recent = pl.col("day") >= recent.date()
    return (
        full.group_by("account_id")
        .agg(
            _exact_mean(pl.col("kwh").filter(is_recent)).alias("daily_kwh_recent"),
            _exact_mean(pl.col("kwh").filter(~is_recent)).alias("daily_kwh_baseline"),
        )
        .with_columns(
            ((pl.col("daily_kwh_recent") + 1) / (pl.col("daily_kwh_baseline") + 1)).alias(
                "level_ratio"
            )
        )
    )


def days_off(first: dt.date, last: dt.date, cfg: Mapping[str, Any]) -> list[dt.date]:
    """Statutory days off from ``first`` to ``last`` (inclusive), and the extra ones the
    settings name: days a business is idle by law, whose kWh say nothing of its level.
    ``cfg`` is the power section."""
    off = {dt.date.fromisoformat(str(d)) for d in cfg["extra_days_off"]}
    if cfg["days_off_country"]:
        years = range(first.year, last.year + 1)
        off |= set(holidays.country_holidays(cfg["days_off_country"], years=years))
    return sorted(d for d in off if first <= d <= last)


def jump_days_off(as_of: dt.date, cfg: Mapping[str, Any]) -> list[dt.date]:
    """The days off the jump search leaves out, over every day it reads: one answer for the
    polars definition and the matrix."""
    return days_off(series_start(as_of, cfg), as_of, cfg)


def jumps(
    daily: pl.LazyFrame, cfg: Mapping[str, Any], search_from: dt.date | None = None
) -> pl.LazyFrame:
    """The strongest level shift in each account's daily series (one-split binary
    segmentation: the split that removes the most squared error, found for every account at
    once from cumulative sums), sized by the ratio of segment medians so that one spike
    cannot make a jump. Days missing from the series are skipped, not zero-filled.

    Only jumps on or after ``search_from`` are sought; the days before it (the jump context)
    still belong to the level before the jump, so that a shutdown at the start of the
    history is weighed against the busy weeks before it."""
    m = cfg["min_segment_days"]
    searched = (
        pl.lit(True)
        if search_from is None
        else pl.col("day").shift(-1).over("account_id") >= search_from
    )
    d = (
        daily.sort("account_id", "day")
        .with_columns(
            (pl.col("day").cum_count().over("account_id")).alias("k"),
            pl.len().over("account_id").alias("n"),
            pl.col("kwh").cum_sum().over("account_id").alias("cs"),
            pl.col("kwh").sum().over("account_id").alias("total"),
        )
        .with_columns(
            pl.when(pl.col("k").is_between(m, pl.col("n") - m) & searched)
            .then(
                pl.col("k")
                * (pl.col("n") - pl.col("k"))
                / pl.col("n")
                * (
                    pl.col("cs") / pl.col("k")
                    - (pl.col("total") - pl.col("cs")) / (pl.col("n") - pl.col("k"))
                )
                ** 2
            )
            .alias("gain")
        )
        # read twice below (best split, then medians around it): computed once
        .collect()
        .lazy()
    )
    # the best split: the largest gain, the earliest day among equals
    best = (
        d.group_by("account_id")
        .agg(pl.col("k").filter(pl.col("gain") == pl.col("gain").max()).min().alias("k_best"))
        .filter(pl.col("k_best").is_not_null())
    )
    return (
        d.join(best, on="account_id")
        .group_by("account_id")
        .agg(
            pl.col("day").filter(pl.col("k") == pl.col("k_best") + 1).first().alias("jump_date"),
            pl.col("kwh").filter(pl.col("k") <= pl.col("k_best")).median().alias("jump_before"),
            pl.col("kwh").filter(pl.col("k") > pl.col("k_best")).median().alias("jump_after"),
        )
        .with_columns(
            (
                (pl.col("jump_after") + cfg["dormant_kwh_per_day"])
                / (pl.col("jump_before") + cfg["dormant_kwh_per_day"])
            ).alias("jump_ratio")
        )
    )


def dormant_wake(daily: pl.LazyFrame, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Meters that sat (near) zero for weeks and then ran: the date they woke up. A dormant
    run must be followed by at least active_min_days of real use, so a meter that is simply
    off, or blinks on for a day, does not count."""
    thresh = pl.max_horizontal(
        pl.lit(cfg["dormant_kwh_per_day"]),
        cfg["dormant_share"] * pl.col("kwh").quantile(0.9).over("account_id"),
    )
    runs = (
        daily.sort("account_id", "day")
        .with_columns((pl.col("kwh") < thresh).alias("off"))
        .with_columns(pl.col("off").rle_id().over("account_id").alias("run"))
        .group_by("account_id", "run")
        .agg(
            pl.col("off").first(),
            pl.len().alias("days"),
            pl.col("day").min().alias("from"),
            pl.col("day").max().alias("to"),
        )
        .sort("account_id", "run")
        .with_columns(
            pl.col("off").shift(-1).over("account_id").alias("next_off"),
            pl.col("days").shift(-1).over("account_id").alias("next_days"),
            pl.col("from").shift(-1).over("account_id").alias("next_from"),
        )
    )
    return (
        runs.filter(
            pl.col("off")
            & (pl.col("days") >= cfg["dormant_min_days"])
            & (pl.col("next_off") == False)  # noqa: E712 - null (no next run) is not False
            & (pl.col("next_days") >= cfg["active_min_days"])
        )
        .group_by("account_id")
        .agg(
            pl.col("next_from").max().alias("wake_date"),
            pl.col("days")
            .filter(pl.col("next_from") == pl.col("next_from").max())
            .first()
            .alias("dormant_days"),
        )
    )


def capacity_band(cfg: Mapping[str, Any]) -> pl.Expr:
    edges = cfg["capacity_bands"]
    band: pl.Expr = pl.lit(None, dtype=pl.String)
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        label = f"{lo}+" if hi is None else f"{lo}-{hi}"
        cond = pl.col("capacity_kva") >= lo
        if hi is not None:
            cond = cond & (pl.col("capacity_kva") < hi)
        band = pl.when(cond).then(pl.lit(label)).otherwise(band)
    return band.fill_null("unknown")


PEER_FEATURES = (
    "night_share",
    "load_factor",
    "flatness",
    "high_hours_per_day",
    "daily_kwh_recent",
    "level_ratio",
    "jump_ratio",
    "weekend_share",
)


def peer_percentiles(
    features: pl.LazyFrame, accounts: pl.LazyFrame, cfg: Mapping[str, Any], min_peers: int = 10
) -> pl.LazyFrame:
    """Each figure as a percentile among peers (same tariff and capacity band; the whole
    tariff when the band has fewer than ``min_peers``): "high" only means something against
    accounts that should look alike."""
    peers = accounts.select(
        "account_id",
        pl.col("tariff").fill_null("unknown"),
        capacity_band(cfg).alias("capacity_band"),
    )
    f = features.join(peers, on="account_id", how="left").with_columns(
        pl.col("tariff").fill_null("unknown"), pl.col("capacity_band").fill_null("unknown")
    )
    fine = pl.len().over("tariff", "capacity_band")
    f = f.with_columns(
        pl.when(fine >= min_peers)
        .then(pl.concat_str("tariff", "capacity_band", separator="/"))
        .otherwise(pl.col("tariff"))
        .alias("peer_group")
    )
    return f.with_columns(
        pl.len().over("peer_group").alias("peer_count"),
        *[
            (
                pl.col(c).rank("average").over("peer_group") / pl.col(c).count().over("peer_group")
            ).alias(f"{c}_pct")
            for c in PEER_FEATURES
        ],
    )


def per_day_reference(daily: pl.DataFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """quality, levels, jumps, dormant wake-ups and rises of ``daily`` by the polars queries
    above: the readable definitions, which signals/daymatrix.py computes faster and must
    equal (``tests/test_power_fast.py``), and the path for an empty partition."""
    # the daily steps group and window by meter over 10^8 meter-days on a city: on integer
    # codes (in the ids' sorted order) rather than strings they ran faster on a city
    # partition of 12 M meter-days (levels 0.60 -> 0.11 s, dormant runs 2.45 -> 1.52 s,
    # jumps 3.90 -> 2.86 s, quality 1.14 -> 0.94 s)
    ids = daily.select(pl.col("account_id").unique().sort()).with_row_index("_code")
    coded = (
        daily.join(ids, on="account_id")
        .select(pl.col("_code").alias("account_id"), pl.exclude("account_id", "_code"))
        .sort("account_id", "day")
        .lazy()
    )
    since = history_start(as_of, cfg)
    # a holiday week is no level: the jump search reads working days only (days_off)
    off = pl.Series(jump_days_off(as_of, cfg), dtype=pl.Date)
    return (
        quality(coded, as_of, cfg)
        .join(levels(coded, as_of, cfg), on="account_id", how="left")
        .join(
            jumps(coded.filter(~pl.col("day").is_in(off)), cfg, since), on="account_id", how="left"
        )
        .join(dormant_wake(coded.filter(pl.col("day") >= since), cfg), on="account_id", how="left")
        .join(rises(coded, as_of, cfg), on="account_id", how="left")
        .rename({"account_id": "_code"})
        .join(ids.lazy(), on="_code")
        .select("account_id", pl.exclude("account_id", "_code"))
        .collect()
    )


def meter_signals(
    readings: pl.LazyFrame,
    as_of: dt.date,
    cfg: Mapping[str, Any],
    days: pl.LazyFrame | None = None,
    series: pl.LazyFrame | None = None,
    reference: bool = False,
) -> pl.DataFrame:
    """Every signal of each meter that depends on that meter's readings alone: the part that
    maps over partitions of meters (on a Dask cluster, or one after another on a big city)
    and gives the same rows whichever partition a meter falls in. ``days``: the same
    readings' meter-days (``meter_days``, per part, summed again here), when ingest stored
    them; the daily steps then skip a pass over every reading. ``series``: those meter-days
    already summed, one row per account and day from ``series_start`` on (the series
    pipeline/partitions.py keeps between nights); it wins over ``days``, and nothing is
    re-summed. The per-day steps run over a meters x days matrix (signals/daymatrix.py);
    ``reference``: with the polars queries of this module instead, the definitions the
    matrix must equal (the tests compare both)."""
    # imported here: daymatrix reads this module's window helpers
    from screening.signals import daymatrix

    if series is None and days is not None and not reference:
        # the stored parts' meter-days added straight into the matrix: no group-by
        matrix = daymatrix.matrix_from_days(days, as_of, cfg)
        if matrix.present.size:
            per_day = daymatrix.per_day_signals(matrix, as_of, cfg)
        else:
            per_day = per_day_reference(daily_from_days(days, as_of, cfg).collect(), as_of, cfg)
        del matrix
    else:
        if series is not None:
            daily = daily_from_series(series, as_of, cfg).collect()
        elif days is not None:
            daily = daily_from_days(days, as_of, cfg).collect()
        else:
            daily = daily_energy(readings, as_of, cfg).collect()
        if reference or daily.height == 0:
            per_day = per_day_reference(daily, as_of, cfg)
        else:
            per_day = daymatrix.per_day_signals(daymatrix.day_matrix(daily), as_of, cfg)
        del daily
    out = per_day.lazy().join(profile(readings, as_of, cfg), on="account_id", how="left")
    # parallel sums add in varying order; six decimals keep the last bits from flipping a
    # figure shown to inspectors (0.595 as 0.59 one night and 0.60 the next)
    return out.with_columns(pl.col(pl.Float64).round(6)).collect()


def common_jumps(features: pl.LazyFrame, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """Each meter's ``jump_common_share``: the share of its peer group (the others) whose
    jump of at least ``common_jump_ratio`` began within ``common_jump_days`` of its own jump
    date. A jump half the village's households make in the same fortnight is the hot weather
    (air conditioners), not a workshop; one no peer makes is the meter's own. Counted from a
    running total of jumps per peer group and date, read at both ends of each meter's window
    (two as-of joins), so the cost is a sort, not a pair of meters."""
    days = int(cfg["common_jump_days"])
    jumping = (pl.col("jump_ratio") >= cfg["common_jump_ratio"]) & pl.col("jump_date").is_not_null()
    running = (
        features.filter(jumping)
        .group_by("peer_group", "jump_date")
        .agg(pl.len().alias("_n"))
        .sort("jump_date")
        .with_columns(pl.col("_n").cum_sum().over("peer_group").alias("_upto"))
        .select("peer_group", pl.col("jump_date").alias("_d"), "_upto")
    )
    dated = features.filter(pl.col("jump_date").is_not_null()).select(
        "account_id", "peer_group", "peer_count", "jump_date", jumping.alias("_self")
    )

    def upto(offset: int, name: str) -> pl.LazyFrame:
        # jumps of the peer group up to (and on) jump_date + offset days
        return (
            dated.select(
                "account_id",
                "peer_group",
                (pl.col("jump_date") + dt.timedelta(days=offset)).alias("_d"),
            )
            .sort("_d")
            .join_asof(
                running, on="_d", by="peer_group", strategy="backward", check_sortedness=False
            )
            .select("account_id", pl.col("_upto").fill_null(0).alias(name))
        )

    share = (
        dated.join(upto(days, "_hi"), on="account_id")
        .join(upto(-days - 1, "_lo"), on="account_id")
        .select(
            "account_id",
            pl.when(pl.col("peer_count") > 1)
            .then(
                (pl.col("_hi") - pl.col("_lo") - pl.col("_self").cast(pl.Int64))
                / (pl.col("peer_count") - 1)
            )
            .alias("jump_common_share"),
        )
    )
    return features.join(share, on="account_id", how="left")


def with_peers(
    meters: pl.DataFrame, accounts: pl.LazyFrame, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """Peer percentiles over all meters at once: the step after the partitions meet (and,
    for the same reason, how many peers jumped with each meter)."""
    return (
        common_jumps(peer_percentiles(meters.lazy(), accounts, cfg), cfg)
        .with_columns(pl.col(pl.Float64).round(6))
        .sort("account_id")
        .collect()
    )


def power_features(
    readings: pl.LazyFrame, accounts: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """One row per account with every power signal, its peer percentiles and data quality."""
    return with_peers(meter_signals(readings, as_of, cfg), accounts, cfg)
