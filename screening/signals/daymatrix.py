"""The per-day power signals (quality, levels, jumps, dormant wake-ups, rises) computed with
numpy over a dense meters x days matrix, for speed on a city partition.

The definitions are the polars queries in power.py (``quality``, ``levels``, ``jumps``,
``dormant_wake``) and rising.py (``rises``); this module gives the same rows, bit for bit
(``tests/test_power_fast.py``). On a city partition of 12 M meter-days those queries spent
their time in window expressions (``.over("account_id")``), group-bys, sorts and joins that
each hash or sort 10^7 rows again, and in coding the meters to integers first. Here the
meters are coded once (a cast to an Enum of their ids: no sort), each meter-day is put in
its cell of a matrix (a meter a row, a day a column: the window has at most a few hundred
days, and a generated or real meter reports most of them, so the matrix holds about as
many cells as there are meter-days), and every step is then a reduction or a running
operation along the rows.

Why the figures are the same, not merely close:

- A missing day is a cell marked absent; values there are 0.0, and a running sum passes
  them unchanged (x + 0.0 == x), so a cumulative sum along a row adds the present days in
  day order, as polars' ``cum_sum().over`` does over rows sorted by meter and day. Counts,
  ranks ("the k-th reported day") and "the next reported day" are running counts and
  running minima over the present cells: missing days are skipped, never zero-filled.
- Medians and quantiles take the values a row's sort gives (absent cells sort last as
  +inf) and interpolate as polars does: linear for ``median`` (lower + (upper - lower) *
  fraction), nearest (the index rounded half away from zero) for ``quantile(0.9)``.
- A float sum that is not a running sum (a meter's total kWh, a mean) is left to polars,
  over the same values in the same day order, because polars does not add a group's
  values one after another and its order of additions is its own.
- Sums and means of whole micro-kWh and of interval counts are integers, exact either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from screening.signals.power import DAILY, MICRO, history_start, jump_days_off, window
from screening.signals.power import _history_days as power_window_days
from screening.signals.rising import MAD_TO_SD

EPOCH = dt.date(1970, 1, 1)


def _epoch_day(day: dt.date) -> int:
    return (day - EPOCH).days


@dataclass(frozen=True)
class DayMatrix:
    """A partition's meter-days (``power.daily_energy``'s rows) as matrices: one row per
    meter (``ids``), one column per day from ``day0`` (epoch days) on. ``present`` marks
    the meter-days that exist; elsewhere the values are 0."""

    ids: pl.Series
    day0: int
    present: np.ndarray
    kwh: np.ndarray
    n_intervals: np.ndarray
    expected: np.ndarray
    interval_min: np.ndarray

    @property
    def days(self) -> np.ndarray:
        """Each column's day, in epoch days."""
        return self.day0 + np.arange(self.present.shape[1])

    def columns_from(self, day: dt.date) -> np.ndarray:
        """(1, days) mask of the columns on or after ``day``, to AND with a cell mask."""
        return (self.days >= _epoch_day(day))[None, :]


def _layout(frame: pl.DataFrame) -> tuple[pl.Series, int, tuple[int, int], np.ndarray]:
    """(ids, first day, matrix shape, each row's flat cell index) of meter-day rows. The
    meters are coded by an Enum of their distinct ids (a hash pass, no sort of 10^7
    strings: the matrix rows come in the ids' first-seen order, which no signal depends
    on). A flat index makes each scatter several times faster than (row, column) pairs."""
    ids = frame["account_id"].unique(maintain_order=True)
    code = frame["account_id"].cast(pl.Enum(ids)).to_physical().to_numpy()
    day = frame["day"].to_physical().to_numpy()
    day0 = int(day.min()) if frame.height else 0
    shape = (ids.len(), int(day.max()) - day0 + 1 if frame.height else 0)
    flat = code.astype(np.int64) * shape[1] + (day.astype(np.int64) - day0)
    return ids, day0, shape, flat


def day_matrix(daily: pl.DataFrame) -> DayMatrix:
    """The matrix of ``daily`` (power.daily_energy's rows: one per account and day, in any
    order)."""
    ids, day0, shape, flat = _layout(daily)

    def cells(values: np.ndarray, dtype: type) -> np.ndarray:
        out: np.ndarray = np.zeros(shape[0] * shape[1], dtype=dtype)
        out[flat] = values
        return out.reshape(shape)

    def column(name: str, dtype: type) -> np.ndarray:
        return cells(daily[name].to_numpy(), dtype)

    return DayMatrix(
        ids=ids,
        day0=day0,
        present=cells(np.ones(1, dtype=bool), bool),
        kwh=column("kwh", np.float64),
        n_intervals=column("n_intervals", np.int64),
        expected=column("expected_intervals", np.int64),
        interval_min=column("interval_min", np.int64),
    )


def matrix_from_days(days: pl.LazyFrame, as_of: dt.date, cfg: Mapping[str, Any]) -> DayMatrix:
    """The matrix of power.daily_from_days(days) without its group-by: the stored parts'
    meter-days (``power.meter_days`` rows, a day possibly in several parts) added into
    their cells. Whole micro-kWh and interval counts add exactly in any order (a float64
    bincount is exact below 2^53 micro-kWh, 9 GWh a meter-day), the shortest interval is a
    minimum; kWh then is the sum times 1e-6 as power._as_daily has polars compute it (a
    division by a literal is a product with its reciprocal there). On a city partition
    the group-by over 10^7 string keys cost 2.4 s."""
    first, stop = power_window_days(as_of, cfg)
    rows = days.filter(pl.col("day").is_between(first, stop, closed="left")).collect()
    ids, day0, shape, flat = _layout(rows)
    size = shape[0] * shape[1]
    count = np.bincount(flat, minlength=size)

    def added(name: str) -> np.ndarray:
        weights = rows[name].to_numpy().astype(np.float64)
        return np.bincount(flat, weights=weights, minlength=size).astype(np.int64)

    micro, n_intervals = added("kwh_micro"), added("n_intervals")
    interval = np.zeros(size, dtype=np.int64)
    minutes = rows["interval_min"].to_numpy().astype(np.int64)
    interval[flat] = minutes
    split = count[flat] > 1  # a day in several parts: the shortest of its intervals
    np.minimum.at(interval, flat[split], minutes[split])
    present = count > 0
    expected = np.where(present, DAILY // np.maximum(interval, 1), 0)
    return DayMatrix(
        ids=ids,
        day0=day0,
        present=present.reshape(shape),
        kwh=(micro * (1.0 / MICRO)).reshape(shape),
        n_intervals=n_intervals.reshape(shape),
        expected=expected.reshape(shape),
        interval_min=interval.reshape(shape),
    )


# ------------------------------------------------------------------ row-wise helpers


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Each row's last True column, -1 when none."""
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), last, -1)


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Each row's first True column, -1 when none."""
    return np.where(mask.any(axis=1), np.argmax(mask, axis=1), -1)


def _sorted_values(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each row's masked values in ascending order, then +inf for the rest."""
    return np.sort(np.where(mask, values, np.inf), axis=1)


def _median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each row's median over the masked cells as polars computes it (linear interpolation
    between the two middle values); NaN for a row without any."""
    ordered = _sorted_values(values, mask)
    n = mask.sum(axis=1)
    at = (n - 1) * 0.5
    lo = np.floor(at).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    rows = np.arange(len(n))
    ok = n > 0
    lo, hi = np.where(ok, lo, 0), np.where(ok, hi, 0)
    low, high = ordered[rows, lo], ordered[rows, hi]
    return np.where(ok, low + (high - low) * (at - lo), np.nan)


def _quantile_nearest(values: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    """Each row's ``quantile(q)`` over the masked cells as polars computes it by default
    (the value at index (n - 1) * q rounded half away from zero); NaN without any."""
    ordered = _sorted_values(values, mask)
    n = mask.sum(axis=1)
    at = (n - 1) * q
    base = np.floor(at)
    idx = np.where(at - base >= 0.5, base + 1, base).astype(np.int64)
    ok = n > 0
    idx = np.clip(np.where(ok, idx, 0), 0, None)
    return np.where(ok, ordered[np.arange(len(n)), idx], np.nan)


def _polars_row_sums(values: np.ndarray, mask: np.ndarray, mean: bool = False) -> np.ndarray:
    """Each row's float sum (or mean) over the masked cells, added by polars in day order:
    what ``pl.col(...).sum()`` (``.mean()``) gives over rows sorted by meter and day."""
    rows, _ = np.nonzero(mask)  # row-major: by meter, then by day
    frame = pl.DataFrame({"r": rows, "v": values[mask]})
    agg = pl.col("v").mean() if mean else pl.col("v").sum()
    out = frame.group_by("r").agg(agg)
    result = np.full(values.shape[0], np.nan)
    result[out["r"].to_numpy()] = out["v"].to_numpy()
    return result


def _dates(epoch_days: np.ndarray, valid: np.ndarray) -> pl.Series:
    return pl.Series(np.where(valid, epoch_days, 0).astype(np.int32)).cast(pl.Date)


def _frame(rows: np.ndarray, ids: pl.Series, columns: dict[str, tuple[Any, Any]]) -> pl.DataFrame:
    """A frame of ``rows`` (matrix rows) keyed by account_id: each column given as (values,
    valid) with its dtype set by the values' Series; invalid cells are null."""
    data: dict[str, pl.Series] = {"account_id": ids.gather(rows).rename("account_id")}
    valid: dict[str, pl.Series] = {}
    for name, (values, ok) in columns.items():
        data[name] = (
            values.rename(name) if isinstance(values, pl.Series) else pl.Series(name, values)
        )
        valid[name] = pl.Series(f"_ok_{name}", ok, dtype=pl.Boolean)
    return pl.DataFrame([*data.values(), *valid.values()]).select(
        "account_id",
        *[pl.when(pl.col(f"_ok_{name}")).then(pl.col(name)).alias(name) for name in columns],
    )


# ------------------------------------------------------------------ the signals


def quality(m: DayMatrix, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """power.quality over the matrix: every meter with a day in the window."""
    start, _, end = window(as_of, cfg)
    days = (end - start).days
    w = m.present & m.columns_from(start.date())
    rows = np.flatnonzero(w.any(axis=1))
    w = w[rows]
    cols = m.days
    reported = w.sum(axis=1)
    used = w & (m.kwh[rows] >= cfg["dormant_kwh_per_day"])
    last_use = _last_true(used)
    first, last = _first_true(w), _last_true(w)
    # the longest run of missing days between two reported ones: each reported day's
    # distance to the reported day before it (a running maximum of reported columns)
    col_idx = np.arange(w.shape[1])
    before = np.maximum.accumulate(np.where(w, col_idx, -1), axis=1)
    prev = np.concatenate([np.full((len(rows), 1), -1), before[:, :-1]], axis=1)
    step = np.where(w & (prev >= 0), col_idx - prev, 0).max(axis=1)
    gap = np.where(step > 0, step - 1, 0)
    n_int = np.where(w, m.n_intervals[rows], 0).sum(axis=1)
    expected = np.where(w, m.expected[rows], 0).sum(axis=1)
    interval = np.where(w, m.interval_min[rows], np.iinfo(np.int64).max).min(axis=1)
    all_ok = np.ones(len(rows), dtype=bool)
    return _frame(
        rows,
        m.ids,
        {
            "interval_min": (pl.Series(interval, dtype=pl.Int32), all_ok),
            "days_reported": (pl.Series(reported, dtype=pl.UInt32), all_ok),
            "interval_coverage": (n_int / expected, all_ok),
            "zero_days": (
                pl.Series((w & (m.kwh[rows] <= 0)).sum(axis=1), dtype=pl.UInt32),
                all_ok,
            ),
            "last_use_day": (_dates(cols[np.maximum(last_use, 0)], last_use >= 0), last_use >= 0),
            "first_day": (_dates(cols[first], all_ok), all_ok),
            "last_day": (_dates(cols[last], all_ok), all_ok),
            "longest_gap_days": (pl.Series(gap, dtype=pl.Int64), all_ok),
            "coverage": (reported * (1.0 / days), all_ok),  # as polars: see levels
            "window_days": (pl.Series(np.full(len(rows), days), dtype=pl.Int32), all_ok),
        },
    )


def _complete(m: DayMatrix) -> np.ndarray:
    """The meter-days with every interval reported."""
    return m.present & (m.n_intervals >= m.expected)


def levels(m: DayMatrix, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """power.levels over the matrix: means of whole micro-kWh (exact), one row per meter."""
    start, recent, _ = window(as_of, cfg)
    full = _complete(m) & m.columns_from(start.date())
    is_recent = m.columns_from(recent.date())
    micro = np.round(m.kwh * MICRO).astype(np.int64)  # power._micro: kwh holds whole micro-kWh

    def mean(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = mask.sum(axis=1)
        total = np.where(mask, micro, 0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            # polars divides by a literal as a product with its reciprocal
            return total / n * (1.0 / MICRO), n > 0

    recent_kwh, has_recent = mean(full & is_recent)
    base_kwh, has_base = mean(full & ~is_recent)
    rows = np.arange(len(m.ids))
    return _frame(
        rows,
        m.ids,
        {
            "daily_kwh_recent": (recent_kwh, has_recent),
            "daily_kwh_baseline": (base_kwh, has_base),
            "level_ratio": ((recent_kwh + 1) / (base_kwh + 1), has_recent & has_base),
        },
    )


def jumps(m: DayMatrix, cfg: Mapping[str, Any], search_from: dt.date | None = None) -> pl.DataFrame:
    """power.jumps over the matrix. Ranks, running sums and "the next reported day" skip
    the missing days; the gain is the same expression in the same order of operations, so
    the best split (the largest gain, the earliest among equals) is the same day."""
    seg = cfg["min_segment_days"]
    p = m.present
    k = np.cumsum(p, axis=1)
    n = k[:, -1:] if p.shape[1] else np.zeros((p.shape[0], 1), dtype=np.int64)
    cs = np.cumsum(m.kwh, axis=1)  # absent cells hold 0.0: the running sum of present days
    # the total as polars' sum over a meter's rows sorted by day gives it: the days added
    # one after another (see the module's docstring for where that is not so)
    total = cs[:, -1:]
    eligible = p & (k >= seg) & (k <= n - seg)
    if search_from is not None:
        # the next reported day is on or after search_from: the cell is at or after the
        # last reported day before search_from (none: every cell)
        col_idx = np.arange(p.shape[1])
        cut = int(np.searchsorted(m.days, _epoch_day(search_from)))
        last_before = _last_true(p[:, :cut]) if cut > 0 else np.full(p.shape[0], -1)
        eligible &= col_idx[None, :] >= last_before[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = (k * (n - k)) / n * (cs / k - (total - cs) / (n - k)) ** 2
    gain = np.where(eligible, gain, -np.inf)
    rows = np.flatnonzero(eligible.any(axis=1))
    best = np.argmax(gain[rows], axis=1)  # the first of the largest: the earliest day
    p, kwh = p[rows], m.kwh[rows]
    col_idx = np.arange(p.shape[1])
    side_before = p & (col_idx[None, :] <= best[:, None])
    side_after = p & (col_idx[None, :] > best[:, None])
    jump_col = _first_true(side_after)
    before = _median(kwh, side_before)
    after_kwh = _median(kwh, side_after)
    d = cfg["dormant_kwh_per_day"]
    ok = np.ones(len(rows), dtype=bool)
    return _frame(
        rows,
        m.ids,
        {
            "jump_date": (_dates(m.days[jump_col], ok), ok),
            "jump_before": (before, ok),
            "jump_after": (after_kwh, ok),
            "jump_ratio": ((after_kwh + d) / (before + d), ok),
        },
    )


def dormant_wake(m: DayMatrix, cfg: Mapping[str, Any], since: dt.date) -> pl.DataFrame:
    """power.dormant_wake over the matrix's days from ``since`` on. Runs of off and on days
    are runs of reported days (a missing day neither breaks nor lengthens one)."""
    h = m.present & m.columns_from(since)
    q = _quantile_nearest(m.kwh, h, 0.9)
    thresh = np.maximum(cfg["dormant_kwh_per_day"], cfg["dormant_share"] * q)
    off_cells = m.kwh < thresh[:, None]
    # the reported days one after another, meter by meter (row-major order)
    row, col = np.nonzero(h)
    off = off_cells[row, col]
    new_run = np.ones(len(row), dtype=bool)
    new_run[1:] = (row[1:] != row[:-1]) | (off[1:] != off[:-1])
    starts = np.flatnonzero(new_run)
    length = np.diff(np.append(starts, len(row)))
    run_row, run_off, run_from = row[starts], off[starts], m.days[col[starts]]
    # the run after each run, when the same meter's
    has_next = np.append(run_row[1:] == run_row[:-1], False)
    nxt = np.minimum(np.arange(len(starts)) + 1, max(len(starts) - 1, 0))
    wakes = (
        run_off
        & (length >= cfg["dormant_min_days"])
        & has_next
        & ~run_off[nxt]
        & (length[nxt] >= cfg["active_min_days"])
    )
    # the latest wake-up of each meter: runs are in time order, so its last qualifying run
    idx = np.flatnonzero(wakes)
    last = np.append(run_row[idx][1:] != run_row[idx][:-1], len(idx) > 0)
    idx = idx[last[: len(idx)]]
    ok = np.ones(len(idx), dtype=bool)
    return _frame(
        run_row[idx],
        m.ids,
        {
            "wake_date": (_dates(run_from[nxt[idx]], ok), ok),
            "dormant_days": (pl.Series(length[idx], dtype=pl.UInt32), ok),
        },
    )


def rises(m: DayMatrix, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """rising.rises over the matrix: the CUSUM's running sum and minimum along each row's
    complete days of the window (0.0 in the other cells leaves both unchanged)."""
    r = cfg["rising"]
    first = as_of - dt.timedelta(days=r["window_days"] - 1)
    base_from = first - dt.timedelta(days=cfg["baseline_days"])
    cols = m.days
    full = _complete(m) & ((cols >= _epoch_day(base_from)) & (cols <= _epoch_day(as_of)))[None, :]
    in_window = full & m.columns_from(first)
    base = full & ~m.columns_from(first)
    n_base = base.sum(axis=1)
    rows = np.flatnonzero((n_base >= r["min_baseline_days"]) & in_window.any(axis=1))
    kwh, base, win = m.kwh[rows], base[rows], in_window[rows]
    med = _median(kwh, base)[:, None]
    mad = _median(np.abs(kwh - med), base)
    sd = np.maximum(
        np.maximum(MAD_TO_SD * mad, r["sd_floor_share"] * med[:, 0]), r["sd_floor_kwh"]
    )[:, None]
    z = np.minimum((kwh - med) / sd, r["z_cap"])
    c = np.cumsum(np.where(win, z - r["k"], 0.0), axis=1)
    s = c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)
    cusum = s[np.arange(len(rows)), _last_true(win)]
    hit = cusum >= r["h"]
    rows, win, s, kwh, sd = rows[hit], win[hit], s[hit], kwh[hit], sd[hit, 0]
    before, cusum = med[hit, 0], cusum[hit]
    col_idx = np.arange(win.shape[1])
    reset = _last_true(win & (s <= 0))  # -1: the rise began before the window
    since = win & (col_idx[None, :] > reset[:, None])
    after = _polars_row_sums(kwh, since, mean=True)
    d = cfg["dormant_kwh_per_day"]
    ok = np.ones(len(rows), dtype=bool)
    return _frame(
        rows,
        m.ids,
        {
            "rise_date": (_dates(cols[_first_true(since)], ok), ok),
            "rise_days": (pl.Series(since.sum(axis=1), dtype=pl.Int64), ok),
            "rise_before": (before, ok),
            "rise_after": (after, ok),
            "rise_ratio": ((after + d) / (before + d), ok),
            "rise_sigma": ((after - before) / sd, ok),
            "rise_cusum": (cusum, ok),
        },
    )


def without_days_off(m: DayMatrix, as_of: dt.date, cfg: Mapping[str, Any]) -> DayMatrix:
    """``m`` with the statutory days off (power.jump_days_off) as unread days, as the jump
    search reads them: a holiday week is no level."""
    off = jump_days_off(as_of, cfg)
    if not off:
        return m
    cols = np.isin(m.days, np.array([_epoch_day(d) for d in off]))[None, :]
    return replace(m, present=m.present & ~cols, kwh=np.where(cols, 0.0, m.kwh))


def per_day_signals(m: DayMatrix, as_of: dt.date, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """quality, levels, jumps, dormant wake-ups and rises of every meter of ``m`` with a day
    in the window, joined as power.per_day_reference joins them (one row per meter of
    ``quality``)."""
    since = history_start(as_of, cfg)
    out = quality(m, as_of, cfg)
    worked = without_days_off(m, as_of, cfg)
    for part in (levels(m, as_of, cfg), jumps(worked, cfg, since), dormant_wake(m, cfg, since)):
        out = out.join(part, on="account_id", how="left")
    return out.join(rises(m, as_of, cfg), on="account_id", how="left")
