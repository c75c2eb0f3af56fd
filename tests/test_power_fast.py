"""The per-day power signals over a meters x days matrix (signals/daymatrix.py) equal the
polars queries that define them (power.per_day_reference), row for row after the round(6)
meter_signals applies, on meters built to hit the edges: missing and half-reported days,
exact ties between two splits, meters shorter than two segments, dormant runs at the
start and at the end, zero and negative days, rises in the last days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from screening.settings import load_config
from screening.signals import daymatrix, power

AS_OF = dt.date(2021, 8, 31)
CFG = load_config()["power"]
FIRST = power.series_start(AS_OF, CFG)
N_DAYS = (AS_OF - FIRST).days + 1


# a generated city meter's last 90 days (kWh, two decimals) whose best two splits tie in
# exact arithmetic (k = 23 and k = 67: |90 S_k - k T| is 911.87 for both) and differ in the
# last bits of their float gains: both implementations must take the same one
TIE_90 = [
    4.03,
    3.43,
    3.9,
    3.68,
    3.92,
    4.16,
    4.17,
    4.76,
    4.79,
    3.52,
    4.09,
    3.91,
    3.72,
    4.82,
    4.31,
    3.96,
    4.92,
    4.2,
    4.26,
    4.74,
    4.17,
    4.06,
    4.14,
    3.65,
    4.23,
    4.08,
    5.38,
    4.01,
    4.79,
    5.27,
    6.03,
    4.82,
    4.85,
    5.83,
    4.79,
    5.25,
    5.39,
    5.09,
    4.17,
    4.22,
    3.88,
    4.73,
    4.5,
    3.71,
    3.64,
    3.83,
    3.9,
    4.02,
    3.52,
    3.74,
    4.25,
    3.89,
    3.47,
    4.04,
    3.44,
    3.62,
    3.67,
    4.07,
    3.97,
    3.74,
    3.99,
    3.42,
    3.91,
    4.49,
    3.57,
    3.62,
    5.09,
    4.08,
    4.49,
    5.63,
    4.95,
    4.95,
    4.59,
    5.1,
    4.42,
    4.91,
    5.44,
    5.5,
    5.2,
    4.56,
    4.9,
    5.14,
    5.09,
    5.92,
    5.05,
    3.78,
    3.78,
    3.76,
    3.57,
    4.25,
]


def _q90_edge() -> np.ndarray:
    """106 history days: 30 at 42.7 kWh, then 210, 220, ... kWh. (106 - 1) x 0.9 = 94.5, so
    the 90th percentile is the 95th value (860, rounded half away from zero; 850 rounded
    half to even) and 42.7 kWh is dormant (below 5 % of 860) only the first way."""
    out = np.full(N_DAYS, np.nan)
    start = (power.history_start(AS_OF, CFG) - FIRST).days
    out[start : start + 30] = 42.7
    out[start + 30 : start + 106] = 210 + 10 * np.arange(76)
    return out


def _levels(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Daily kWh of each built meter over the whole series (NaN: not reported)."""
    t = np.arange(N_DAYS)
    noisy = 20 + rng.normal(0, 3, N_DAYS)
    symmetric = np.where((t >= 40) & (t < N_DAYS - 40), 5.0, 1.0)  # two splits tie exactly
    return {
        "flat": np.full(N_DAYS, 8.0),
        "flat_odd": np.full(N_DAYS, 0.123457),
        "noisy": noisy,
        "gappy": np.where(rng.random(N_DAYS) < 0.3, np.nan, noisy),
        "jumper": np.where(t >= N_DAYS - 30, 60.0, 4.0) + rng.normal(0, 0.5, N_DAYS),
        "dropper": np.where(t >= N_DAYS - 50, 0.2, 30.0),
        "symmetric": symmetric,
        "symmetric_gappy": np.where(t % 9 == 4, np.nan, symmetric),
        "waker": np.where(t >= N_DAYS - 40, 25.0, 0.0),
        "waker_late": np.where(t >= N_DAYS - 6, 25.0, 0.1),  # active too short to count
        "sleeper_end": np.where(t >= N_DAYS - 20, 0.0, 25.0),
        "blinker": np.where((t // 10) % 2 == 0, 0.0, 40.0),
        "riser": np.where(t >= N_DAYS - 4, 90.0, 10.0) + rng.normal(0, 1, N_DAYS),
        "riser_mid": np.where(t >= N_DAYS - 9, 90.0, 10.0) + rng.normal(0, 1, N_DAYS),
        "negative": rng.normal(0, 2, N_DAYS),
        "short5": np.where(t >= N_DAYS - 5, 3.0, np.nan),
        "short13": np.where(t >= N_DAYS - 13, 3.0 + t % 3, np.nan),
        "one_day": np.where(t == N_DAYS - 1, 7.0, np.nan),
        "history_only": np.where(t < 30, 9.0, np.nan),  # no day in the window: no row
        "context_spike": np.where(t < 28, 100.0, 5.0),
        "ties_q90": np.tile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], N_DAYS // 6 + 1)[:N_DAYS],
        "hourly_half": 30 + rng.normal(0, 2, N_DAYS),
        "tie_90": np.concatenate([np.full(N_DAYS - 90, np.nan), TIE_90]),
        "q90_edge": _q90_edge(),
    }


@pytest.fixture(scope="module")
def parts() -> pl.DataFrame:
    """The built meters' meter-days as stored parts hold them: in any order, and some days
    split across two parts (a late correction: part of the kWh and intervals again)."""
    rng = np.random.default_rng(17)
    days = pl.date_range(FIRST, AS_OF, eager=True)
    frames = []
    for name, kwh in _levels(rng).items():
        hourly = name in ("hourly_half", "gappy", "riser_mid", "symmetric_gappy")
        interval = 60 if hourly else 1440
        expected = 1440 // interval
        # some days half reported (fewer intervals than the day has)
        n = np.where(rng.random(N_DAYS) < 0.1, expected // 2, expected) if hourly else expected
        frames.append(
            pl.DataFrame(
                {
                    "account_id": name,
                    "day": days,
                    "kwh_micro": np.round(np.nan_to_num(kwh) * 1e6).astype(np.int64),
                    "n_intervals": pl.Series(np.broadcast_to(n, N_DAYS), dtype=pl.UInt32),
                    "interval_min": pl.Series([interval] * N_DAYS, dtype=pl.Int32),
                    "_keep": ~np.isnan(kwh),
                }
            )
        )
    whole = pl.concat(frames).filter("_keep").drop("_keep")
    split = whole.sample(fraction=0.05, seed=5)
    late = split.with_columns(
        pl.col("kwh_micro") // 3, (pl.col("n_intervals") // 3).cast(pl.UInt32), interval_min=15
    )
    first = split.with_columns(
        pl.col("kwh_micro") - pl.col("kwh_micro") // 3,
        pl.col("n_intervals") - pl.col("n_intervals") // 3,
    )
    kept = whole.join(split, on=["account_id", "day"], how="anti")
    return pl.concat([kept, first, late]).sample(fraction=1.0, seed=3)


@pytest.fixture(scope="module")
def daily(parts: pl.DataFrame) -> pl.DataFrame:
    return power.daily_from_days(parts.lazy(), AS_OF, CFG).collect()


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float64).round(6)).sort("account_id")


def test_matrix_equals_polars_definitions(daily: pl.DataFrame) -> None:
    old = power.per_day_reference(daily, AS_OF, CFG)
    new = daymatrix.per_day_signals(daymatrix.day_matrix(daily), AS_OF, CFG)
    assert new.schema == old.schema
    assert_frame_equal(_rounded(new), _rounded(old))


def test_the_built_meters_reach_the_edges(daily: pl.DataFrame) -> None:
    """The frame does exercise what it is meant to: a wake-up, a jump, a rise, a meter
    with no window day (absent from the rows) and exact ties of the split."""
    new = daymatrix.per_day_signals(daymatrix.day_matrix(daily), AS_OF, CFG)
    got = {r["account_id"]: r for r in new.iter_rows(named=True)}
    assert "history_only" not in got
    assert got["waker"]["wake_date"] is not None and got["waker_late"]["wake_date"] is None
    assert got["jumper"]["jump_ratio"] > 5
    assert got["riser"]["rise_date"] is not None
    assert got["q90_edge"]["dormant_days"] == 30
    assert got["short5"]["jump_date"] is None and got["one_day"]["longest_gap_days"] == 0


def test_meter_signals_matrix_and_reference_agree(daily: pl.DataFrame) -> None:
    """The whole meter_signals output (profile included) is the same either way."""
    start = dt.datetime.combine(FIRST, dt.time())
    readings = daily.select(
        "account_id",
        (pl.col("day").cast(pl.Datetime("us"))).alias("ts"),
        "kwh",
        pl.lit(1440, dtype=pl.Int32).alias("interval_min"),
    ).filter(pl.col("ts") >= start)
    fast = power.meter_signals(readings.lazy(), AS_OF, CFG)
    ref = power.meter_signals(readings.lazy(), AS_OF, CFG, reference=True)
    assert_frame_equal(fast.sort("account_id"), ref.sort("account_id"))


def test_matrix_from_stored_parts_equals_the_summed_days(
    parts: pl.DataFrame, daily: pl.DataFrame
) -> None:
    """Adding the parts' meter-days into the cells gives the matrix of their group-by sum."""
    summed = daymatrix.day_matrix(daily)
    added = daymatrix.matrix_from_days(parts.lazy(), AS_OF, CFG)
    order = (
        added.ids.to_frame()
        .join(summed.ids.to_frame().with_row_index("i"), on="account_id", maintain_order="left")[
            "i"
        ]
        .to_numpy()
    )
    assert added.day0 == summed.day0
    for name in ("present", "kwh", "n_intervals", "expected", "interval_min"):
        np.testing.assert_array_equal(getattr(added, name), getattr(summed, name)[order])
    assert_frame_equal(
        _rounded(daymatrix.per_day_signals(added, AS_OF, CFG)),
        _rounded(power.per_day_reference(daily, AS_OF, CFG)),
    )


def test_meter_signals_from_stored_parts_agree(parts: pl.DataFrame) -> None:
    """meter_signals given the stored parts' meter-days: the matrix path equals the
    reference's group-by and polars queries."""
    readings = pl.LazyFrame(
        schema={
            "account_id": pl.String,
            "ts": pl.Datetime("us"),
            "kwh": pl.Float64,
            "interval_min": pl.Int32,
        }
    )
    fast = power.meter_signals(readings, AS_OF, CFG, days=parts.lazy())
    ref = power.meter_signals(readings, AS_OF, CFG, days=parts.lazy(), reference=True)
    assert_frame_equal(fast.sort("account_id"), ref.sort("account_id"))
