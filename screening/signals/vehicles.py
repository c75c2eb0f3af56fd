"""Stay points of hazmat trucks: where a truck stood still long enough to load or unload.

The definition is movingpandas' ``TrajectoryStopDetector`` (an established implementation
the stays are checked against, on real fixes): a stop is a run of consecutive fixes that fit
in a rectangle of diagonal below ``stay_diameter_m``, lasting at least ``stay_min_minutes``.
Its walk goes along each track once: while moving it keeps the fixes of the last
``stay_min_minutes`` (at least two), and when those fit it is stopped; the stop then grows fix
by fix until one does not fit, and ends on the fix before. The rectangle is the least-area
rotated rectangle of the fixes; a circle of its diagonal holds every fix.

Here the same walk is done for all plates at once, without a loop over fixes:

1. Every fix's window is measured with rolling extremes: first on the two axes, which settle
   most windows (one wider than the diameter cannot fit; one whose axis-aligned box has a
   diagonal below 0.89 of it always fits), then, for the rest, on
   ``DIRECTIONS`` directions, the rectangle of least area among them standing for the least
   one (its diagonal within 2 % of shapely's on jittered clouds, 5th to 95th percentile).
2. Runs of consecutive fixes whose windows fit are where the walk is stopped; each run starts
   a stop at its first window's first fix, which grows over the run (running extremes, the
   same two steps) until the first fix that does not fit. The run's rest is walked again from
   there, all runs together, until no run has a rest (one round for most).

Where this differs from movingpandas on purpose, with why:

- A brief excursion (``outlier_fixes`` fixes that leave a spot and are back within
  ``outlier_minutes``) is dropped first: movingpandas ends a stop at one reflected fix, and
  loses an hour's parking when neither half lasts the minimum.
- Stops of one truck less than ``merge_gap_minutes`` apart whose fixes still fit together are
  one stay (a manoeuvre in the yard), where movingpandas counts two visits.
- A stop takes in the fixes just before it that fit with it: movingpandas' window forgets
  fixes older than the minimum, so a truck seen 10 minutes at a spot, silent 50 and seen 10
  more stood there 60 minutes for it, 70 here.

A silent gap (ignition off, no signal) needs no rule of its own: across a gap longer than the
minimum the window is the two fixes around it, which fit when the truck is where it was, and
a gap across which it moved does not fit. A truck crawling in a jam is stopped only while it
stays within the diameter for the minimum duration; from its fixes alone, it stood there.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0

# Directions (over half a turn) on which fixes are projected to measure rotated rectangles.
# A geometric approximation, not a setting: more directions only come closer to the exact
# least-area rectangle (8: within 4 %, 16: 2 %, 24: 1.5 %, 5th-95th percentile, against
# shapely's minimum_rotated_rectangle on random clouds).
DIRECTIONS = 16
_ANGLES = np.arange(DIRECTIONS) * np.pi / DIRECTIONS
_COS, _SIN = np.cos(_ANGLES)[:, None], np.sin(_ANGLES)[:, None]
_HALF = DIRECTIONS // 2
_NONE = np.iinfo(np.int64).max
# Rows of direction arrays worked on at a time (34 MB of float64 at 16 directions): larger
# temporaries come fresh from the system each time and cost more in page faults than in sums.
_BATCH = 1 << 18


def _diagonal(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Diagonal of the least-area rectangle among those aligned with the directions, from the
    extremes of the projections (rows: directions, columns: point sets)."""
    w = hi - lo
    k = (w[:_HALF] * w[_HALF:]).argmin(axis=0)
    cols = np.arange(w.shape[1])
    return np.hypot(w[k, cols], w[k + _HALF, cols])


def _settled(wx: np.ndarray, wy: np.ndarray, diameter: float) -> tuple[np.ndarray, np.ndarray]:
    """(sure to fit, sure not to) from the axis-aligned box (widths ``wx``, ``wy``) alone.

    Every enclosing rectangle's diagonal is at least the widest distance between two fixes,
    itself at least the box's wider side. The least-area rectangle has no side longer than
    that distance (at most the box's diagonal d) and no more area than the box (A), so its
    diagonal is at most sqrt(d^2 + (A/d)^2), at most 1.12 d.
    """
    d2 = wx * wx + wy * wy
    area = wx * wy
    with np.errstate(divide="ignore", invalid="ignore"):
        bound2 = d2 + np.where(d2 > 0, area * area / d2, 0.0)
    return bound2 < diameter * diameter, np.maximum(wx, wy) >= diameter


def _running(v: np.ndarray, gid: np.ndarray, lim: float) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum and minimum of ``v`` (last axis) within contiguous groups ``gid``.

    ``v`` must lie within ``lim`` of 0. Offsetting each group by more than that span lets one
    cumulative maximum over all groups stay within each.
    """
    off = gid * (2.0 * lim + 1.0)
    hi = np.maximum.accumulate(v + off, axis=-1) - off
    lo = off - np.maximum.accumulate(off - v, axis=-1)
    return hi, lo


def _explode(start: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, position in group, offset of each group) of ``size[g]`` rows per group."""
    gid = np.repeat(np.arange(len(start)), size)
    offs = np.cumsum(size) - size
    return gid, np.arange(int(size.sum())) - offs[gid], offs


def _first_true(flag: np.ndarray, gid: np.ndarray, pos: np.ndarray, groups: int) -> np.ndarray:
    """Per group, the first position where ``flag`` holds (``_NONE`` if none)."""
    out = np.full(groups, _NONE)
    hit = np.flatnonzero(flag)  # in group order, and by position within each group
    g = gid[hit]
    lead = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    out[g[lead]] = pos[hit[lead]]
    return out


def _project(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _COS * x + _SIN * y


def _batches(size: np.ndarray) -> list[slice]:
    """Consecutive groups in batches of about ``_BATCH`` rows (a group is never split)."""
    if len(size) == 0:
        return []
    b = (np.cumsum(size) - size) // _BATCH
    edges = np.r_[np.flatnonzero(np.r_[True, np.diff(b) != 0]), len(size)]
    return [slice(lo, hi) for lo, hi in pairwise(edges)]


def _exact(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, end: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Extremes on every direction of the fixes in ranges ``start..end`` (inclusive), summed
    up per ``owner`` (owners sorted, numbered from 0)."""
    size = end - start + 1
    hi, lo = np.empty((DIRECTIONS, len(start))), np.empty((DIRECTIONS, len(start)))
    for part in _batches(size):
        gid, pos, offs = _explode(start[part], size[part])
        p = _project(x[start[part][gid] + pos], y[start[part][gid] + pos])
        hi[:, part] = np.maximum.reduceat(p, offs, axis=1)
        lo[:, part] = np.minimum.reduceat(p, offs, axis=1)
    cuts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])
    return np.maximum.reduceat(hi, cuts, axis=1), np.minimum.reduceat(lo, cuts, axis=1)


def _first_misfit(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    m: np.ndarray,
    span: np.ndarray,
    diameter: float,
    ahead: bool = True,
    held: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per stop grown from fix ``a`` (forwards, or backwards from the fix before it), the
    first position within ``span`` fixes, after fix ``m``, at which the fixes so far (with
    the extremes ``held`` of those it already has) do not fit, measured on every direction;
    ``_NONE`` where all fit."""
    lim = 2.0 * diameter
    out = np.full(len(a), _NONE)
    for part in _batches(span):
        aa, mm = a[part], m[part]
        gid, pos, _ = _explode(aa, span[part])
        idx = aa[gid] + pos if ahead else aa[gid] - 1 - pos
        base = _project(x[aa], y[aa])
        hi, lo = _running(np.clip(_project(x[idx], y[idx]) - base[:, gid], -lim, lim), gid, lim)
        if held is not None:
            hi = np.maximum(hi, (held[0][:, part] - base)[:, gid])
            lo = np.minimum(lo, (held[1][:, part] - base)[:, gid])
        miss = (_diagonal(hi, lo) >= diameter) & (idx > mm[gid])
        out[part] = _first_true(miss, gid, pos, len(aa))
    return out


def _fixes(tracks: pl.LazyFrame) -> pl.DataFrame:
    """The fixes in walking order, one per plate and time, with x, y in metres.

    Duplicate times keep the westernmost, southernmost fix: the same stays whatever order the
    file came in. x, y are in each plate's own tangent plane, centred on its median fix (an
    outlier hundreds of kilometres off does not move it); the scale is exact at the median
    latitude and off by about 1 % per degree of latitude from it (a few metres across a stay).
    """
    finite = pl.col("lon").is_finite() & pl.col("lat").is_finite()
    lon0, lat0 = pl.col("lon").median().over("plate"), pl.col("lat").median().over("plate")
    return (
        tracks.select("plate", "ts", "lon", "lat")
        .filter(pl.col("plate").is_not_null() & pl.col("ts").is_not_null() & finite)
        .sort("plate", "ts", "lon", "lat")
        .unique(subset=["plate", "ts"], keep="first", maintain_order=True)
        .with_columns(
            ((pl.col("lon") - lon0) * M_PER_DEG_LON_EQ * lat0.radians().cos()).alias("_x"),
            ((pl.col("lat") - lat0) * M_PER_DEG_LAT).alias("_y"),
            (pl.col("plate") != pl.col("plate").shift(1)).fill_null(True).alias("_first"),
        )
        .collect()
    )


def _outliers(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, plate: np.ndarray, cfg: Mapping[str, Any]
) -> np.ndarray:
    """Fixes of a brief excursion from a spot: at most ``outlier_fixes`` in a row, with the
    fixes before and after them at one spot (within half the diameter) at most
    ``outlier_minutes`` apart, and each of them at least half the diameter from it.

    A reflection off a tank or a building puts a fix a few hundred metres off, once in a
    while hundreds of kilometres; a truck backing out of a bay and in again does the same.
    Brief, because a vehicle that is minutes away and back has been somewhere: on the Wuxi
    taxis, allowing 15 minutes made stops of cabs circling a rank. Each dropped excursion is
    a place where movingpandas ends a stop: on tracks with many reflections (1 % of fixes
    100-400 m off) a few stays are ones it loses entirely (6 % of ours; 1.5 % at 0.3 %).
    """
    half = float(cfg["stay_diameter_m"]) / 2
    gap_us = float(cfg["outlier_minutes"]) * 60e6
    n = len(x)
    out = np.zeros(n, dtype=bool)
    # an excursion's first fix is more than a quarter of the diameter from the fix before
    # (it is half from the spot, which is a quarter from that fix): most fixes are not
    start = np.flatnonzero(np.hypot(np.diff(x), np.diff(y)) > half / 2) + 1
    for k in range(1, int(cfg["outlier_fixes"]) + 1):  # the length of the excursion
        i = start[start + k < n]
        same = plate[i - 1] == plate[i + k]
        i = i[same]
        p, q = i - 1, i + k
        mx, my = (x[p] + x[q]) / 2, (y[p] + y[q]) / 2
        hit = (t[q] - t[p] <= gap_us) & (np.hypot(x[p] - x[q], y[p] - y[q]) < half)
        for r in range(k):
            hit &= np.hypot(x[i + r] - mx, y[i + r] - my) >= half
        for r in range(k):
            out[i[hit] + r] = True
    return out


def _time_key(t: np.ndarray, plate: np.ndarray, window_us: int) -> tuple[np.ndarray, int]:
    """One sorted integer key over all plates (plate, then time) and the window in its unit:
    rolling on it never reaches from one plate into the next, and costs a third of rolling
    over each plate. Microseconds, or whole milliseconds or seconds where the plates times
    the time span would overflow 64 bits."""
    t0 = int(t.min()) if len(t) else 0
    for unit in (1, 1_000, 1_000_000):
        window = -(-window_us // unit)
        span = (int(t.max()) - t0) // unit + window + 1 if len(t) else 1
        if span * (int(plate.max()) + 1 if len(plate) else 1) < 2**62:
            return plate.astype(np.int64) * span + (t - t0) // unit, window
    raise ValueError("tracks span too long a time to key")


def _windows(
    key: np.ndarray,
    window: int,
    first: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    diameter: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each fix's window start and whether the window fits.

    The window of fix i holds the fixes less than the minimum duration before it, and at
    least the fix before (after a silent gap longer than that, the two fixes around the gap).
    A plate's first fix has no window. Windows the axes do not settle are measured on every
    direction, on the fixes of those windows only (the same rolling windows on that subset).
    """
    n = len(key)
    i = np.arange(n)
    roll = {"by": "_k", "window_size": f"{window}i", "closed": "right"}
    j = np.searchsorted(key, key - window, side="right")
    pair = (j == i) & ~first  # a gap longer than the window: the fix before and this one
    j = np.where(pair, i - 1, j)
    ext = pl.DataFrame({"_k": key, "_x": x, "_y": y}).select(
        getattr(pl.col(c), f"rolling_{f}_by")(**roll).alias(c + f)
        for c in ("_x", "_y")
        for f in ("max", "min")
    )
    prev = np.maximum(i - 1, 0)
    wx = np.where(pair, np.abs(x - x[prev]), ext["_xmax"].to_numpy() - ext["_xmin"].to_numpy())
    wy = np.where(pair, np.abs(y - y[prev]), ext["_ymax"].to_numpy() - ext["_ymin"].to_numpy())
    sure, never = _settled(wx, wy, diameter)
    fits = sure & ~first
    open_ = np.flatnonzero(~first & ~sure & ~never)
    if len(open_) == 0:
        return j, fits
    # the fixes of the open windows, so that rolling over them gives those windows whole
    cover = np.bincount(j[open_], minlength=n + 1) - np.bincount(open_ + 1, minlength=n + 1)
    keep = np.flatnonzero(np.cumsum(cover[:n]) > 0)
    p = _project(x[keep], y[keep])
    sub = pl.DataFrame({"_k": key[keep], **{f"_p{k}": p[k] for k in range(DIRECTIONS)}})
    both = (
        sub.select(
            getattr(pl.col(f"_p{k}"), f"rolling_{f}_by")(**roll).alias(f"{f}{k}")
            for f in ("max", "min")
            for k in range(DIRECTIONS)
        )
        .to_numpy()
        .T
    )
    at = np.searchsorted(keep, open_)  # the open windows' rows in the subset
    hi, lo = both[:DIRECTIONS, at], both[DIRECTIONS:, at]
    op = pair[open_]
    if op.any():
        a, b = _project(x[open_[op] - 1], y[open_[op] - 1]), _project(x[open_[op]], y[open_[op]])
        hi[:, op], lo[:, op] = np.maximum(a, b), np.minimum(a, b)
    fits[open_] = _diagonal(hi, lo) < diameter
    return j, fits


def _grow(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    j: np.ndarray,
    runs: tuple[np.ndarray, np.ndarray, np.ndarray],
    minutes: float,
    diameter: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stops grown within runs (first fix ``a``, fix ``m`` where the walk got stopped, last
    fix of the run); returns each stop's first and last fix and its box (x and y extremes).

    A stop grows until the first fix that does not fit with all before it. If the run goes on,
    so does the walk: a stop of the minimum duration is recorded and the next starts at the
    fix that ended it; a shorter one is not, and the walk takes up the window of the fix after
    next (as movingpandas does). All runs are walked at once, round by round, each round on
    the rests the previous one left.
    """
    a, m, last = runs
    lim = 2.0 * diameter  # a fix this far from the first cannot fit; clipped, it still cannot
    min_us = minutes * 60e6
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    while len(a):
        size = last - a + 1
        gid, pos, offs = _explode(a, size)
        idx = a[gid] + pos
        hx, lx = _running(np.clip(x[idx] - x[a][gid], -lim, lim), gid, lim)
        hy, ly = _running(np.clip(y[idx] - y[a][gid], -lim, lim), gid, lim)
        sure, never = _settled(hx - lx, hy - ly, diameter)
        after = idx > m[gid]
        cut = _first_true(never & after, gid, pos, len(a))  # the first fix sure not to fit
        open_ = _first_true(~sure & after, gid, pos, len(a))
        stop = np.minimum(cut, size)  # the first fix that does not fit
        ask = np.flatnonzero(open_ < cut)
        if len(ask):
            # measured on every direction from the stop's first fix to its first sure misfit
            span = np.minimum(cut[ask], size[ask] - 1) + 1
            miss = _first_misfit(x, y, a[ask], m[ask], span, diameter)
            stop[ask] = np.minimum(miss, stop[ask])
        e = a + stop - 1
        at = offs + stop - 1
        box = np.stack([hx[at], lx[at], hy[at], ly[at]]) + np.stack([x[a], x[a], y[a], y[a]])
        out.append((a, e, box))
        recorded = (t[e] - t[a]) >= min_us
        nxt = e + 2  # the first fix whose window the walk measures again
        go = nxt <= last
        again = np.where(recorded, e + 1, np.maximum(j[np.minimum(nxt, len(j) - 1)], a + 1))
        a, m, last = again[go], nxt[go], last[go]
    if not out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((4, 0))
    return (
        np.concatenate([o[0] for o in out]),
        np.concatenate([o[1] for o in out]),
        np.concatenate([o[2] for o in out], axis=1),
    )


def _extend_back(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    j: np.ndarray,
    plate: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray],
    minutes: float,
    diameter: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stops started earlier over the fixes before them that still fit with them.

    Only the fixes of the stop's first window are looked at (had more fitted, the walk would
    have stopped earlier), never those of the stop of the minimum duration before it.
    """
    a, e, box = pieces
    order = np.argsort(a, kind="stable")
    a, e, box = a[order], e[order], box[:, order]
    pl_ = plate[a]
    long = (t[e] - t[a]) >= minutes * 60e6
    reach = np.maximum.accumulate(np.where(long, e, -1))
    prev = np.r_[-1, reach[:-1]]
    prev = np.where(np.r_[False, pl_[1:] == pl_[:-1]], prev, -1)
    size = np.maximum(a - np.maximum(j[a], prev + 1), 0)
    if size.sum() == 0:
        return a, e, box
    lim = 2.0 * diameter
    gid, pos, offs = _explode(a, size)
    idx = a[gid] - 1 - pos  # backwards from the fix before the stop
    hx, lx = _running(np.clip(x[idx] - x[a][gid], -lim, lim), gid, lim)
    hy, ly = _running(np.clip(y[idx] - y[a][gid], -lim, lim), gid, lim)
    hx = np.maximum(hx, (box[0] - x[a])[gid])
    lx = np.minimum(lx, (box[1] - x[a])[gid])
    hy = np.maximum(hy, (box[2] - y[a])[gid])
    ly = np.minimum(ly, (box[3] - y[a])[gid])
    sure, never = _settled(hx - lx, hy - ly, diameter)
    cut = np.minimum(_first_true(never, gid, pos, len(a)), size)
    taken = np.minimum(_first_true(~sure, gid, pos, len(a)), cut)
    ask = np.flatnonzero(taken < cut)  # the axes do not settle it: every direction does
    if len(ask):
        held = _exact(x, y, a[ask], e[ask], np.arange(len(ask)))
        miss = _first_misfit(
            x, y, a[ask], np.full(len(ask), -1), cut[ask], diameter, ahead=False, held=held
        )
        taken[ask] = np.minimum(miss, cut[ask])
    grew = np.flatnonzero(taken > 0)
    at = offs[grew] + taken[grew] - 1
    box = box.copy()
    box[:, grew] = np.stack([hx[at], lx[at], hy[at], ly[at]]) + np.stack(
        [x[a[grew]], x[a[grew]], y[a[grew]], y[a[grew]]]
    )
    return a - taken, e, box


def stay_points(tracks: pl.LazyFrame, cfg: Mapping[str, Any]) -> pl.LazyFrame:
    """One row per stay: plate, start, end (first and last fix), lon, lat (the median fix),
    points, spread_m (the diagonal of the north-south, east-west box of its fixes), minutes."""
    diameter, minutes = float(cfg["stay_diameter_m"]), float(cfg["stay_min_minutes"])
    pts = _fixes(tracks)
    if pts.height >= 3:
        drop = _outliers(
            pts["_x"].to_numpy(),
            pts["_y"].to_numpy(),
            pts["ts"].dt.epoch("us").to_numpy(),
            np.cumsum(pts["_first"].to_numpy()),
            cfg,
        )
        pts = pts.filter(~drop)  # never a plate's first fix: its flag stays right
    if pts.height < 2:
        return _empty(pts).lazy()
    x, y = pts["_x"].to_numpy(), pts["_y"].to_numpy()
    t = pts["ts"].dt.epoch("us").to_numpy()
    first = pts["_first"].to_numpy()
    plate = np.cumsum(first)
    key, window = _time_key(t, plate, round(minutes * 60e6))
    j, fits = _windows(key, window, first, x, y, diameter)
    before, after = np.r_[False, fits[:-1]], np.r_[fits[1:], False]
    m = np.flatnonzero(fits & ~before)
    runs = (j[m], m, np.flatnonzero(fits & ~after))
    pieces = _grow(x, y, t, j, runs, minutes, diameter)
    pieces = _extend_back(x, y, t, j, plate, pieces, minutes, diameter)
    return _merge(pts, x, y, t, plate, pieces, cfg).lazy()


def _empty(pts: pl.DataFrame) -> pl.DataFrame:
    return (
        pts.select("plate", pl.col("ts").alias("start"), pl.col("ts").alias("end"))
        .clear()
        .with_columns(
            pl.lit(None, dtype=pl.Float64).alias("lon"),
            pl.lit(None, dtype=pl.Float64).alias("lat"),
            pl.lit(None, dtype=pl.UInt32).alias("points"),
            pl.lit(None, dtype=pl.Float64).alias("spread_m"),
            pl.lit(None, dtype=pl.Float64).alias("minutes"),
        )
    )


def _union_fits(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    e: np.ndarray,
    box: np.ndarray,
    group: np.ndarray,
    diameter: float,
) -> np.ndarray:
    """Per group of stops (``group`` sorted, from 0), whether all their fixes fit together:
    from their boxes where those settle it, on every direction where not."""
    cuts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    hx, lx = np.maximum.reduceat(box[0], cuts), np.minimum.reduceat(box[1], cuts)
    hy, ly = np.maximum.reduceat(box[2], cuts), np.minimum.reduceat(box[3], cuts)
    sure, never = _settled(hx - lx, hy - ly, diameter)
    fits = sure.copy()
    ask = np.flatnonzero(~sure & ~never)
    if len(ask):
        rows = np.flatnonzero(np.isin(group, ask))
        hi, lo = _exact(x, y, a[rows], e[rows], np.searchsorted(ask, group[rows]))
        fits[ask] = _diagonal(hi, lo) < diameter
    return fits


def _merge(
    pts: pl.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    plate: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: Mapping[str, Any],
) -> pl.DataFrame:
    """Stops of one truck less than ``merge_gap_minutes`` apart whose fixes fit together are
    one stay (the fixes between them, a manoeuvre, are not part of it); stays shorter than
    the minimum are dropped.

    A chain of stops that fit pairwise but not all together (a slow drift, a queue moving up)
    is left as it was found. A stop found from a window that reached back over the end of the
    stop before it starts after that one.
    """
    diameter, minutes = float(cfg["stay_diameter_m"]), float(cfg["stay_min_minutes"])
    gap_us = float(cfg["merge_gap_minutes"]) * 60e6
    a, e, box = pieces
    ok = e > a
    order = np.lexsort((e[ok], a[ok]))
    a, e, box = a[ok][order], e[ok][order], box[:, ok][:, order]
    if len(a) == 0:
        return _empty(pts)
    pl_ = plate[a]
    reach = np.maximum.accumulate(e)
    near = np.flatnonzero((pl_[1:] == pl_[:-1]) & ((t[a[1:]] - t[reach[:-1]]) <= gap_us))
    link = np.zeros(len(a) - 1, dtype=bool)
    if len(near):
        pair_rows = np.stack([near, near + 1], axis=1).ravel()
        link[near] = _union_fits(
            x,
            y,
            a[pair_rows],
            e[pair_rows],
            box[:, pair_rows],
            np.repeat(np.arange(len(near)), 2),
            diameter,
        )
    group = np.r_[0, np.cumsum(~link)]
    multi = np.flatnonzero(np.bincount(group) > 1)  # one stop fits by itself
    rows = np.flatnonzero(np.isin(group, multi))
    if len(rows):
        whole = _union_fits(
            x, y, a[rows], e[rows], box[:, rows], np.searchsorted(multi, group[rows]), diameter
        )
        link &= ~np.isin(group[1:], multi[~whole])
        group = np.r_[0, np.cumsum(~link)]
    cuts = np.flatnonzero(np.r_[True, ~link])
    sa, se = np.minimum.reduceat(a, cuts), np.maximum.reduceat(e, cuts)
    gp = pl_[cuts]
    prev_end = np.r_[-1, np.maximum.accumulate(se)[:-1]]
    sa = np.where(np.r_[False, gp[1:] == gp[:-1]] & (sa <= prev_end), prev_end + 1, sa)
    keep = (se > sa) & ((t[se] - t[np.minimum(sa, se)]) >= minutes * 60e6)
    if not keep.any():
        return _empty(pts)
    # each kept stay's fixes: those of its stops from its start on, each fix once
    new = np.cumsum(keep) - 1
    mine = keep[group]
    owner = new[group[mine]]
    lo_ = np.maximum(a[mine], sa[group[mine]])
    hi_ = e[mine]
    n = len(x)
    seen = np.maximum.accumulate(hi_ + owner * n) - owner * n  # fixes taken by stops before
    lo_ = np.maximum(
        lo_, np.where(np.r_[False, owner[1:] == owner[:-1]], np.r_[-1, seen[:-1]] + 1, 0)
    )
    size = np.maximum(hi_ - lo_ + 1, 0)
    gid, pos, _ = _explode(lo_, size)
    idx = lo_[gid] + pos
    centre = (
        pl.DataFrame(
            {
                "_s": owner[gid],
                "lon": pts["lon"].to_numpy()[idx],
                "lat": pts["lat"].to_numpy()[idx],
                "_x": x[idx],
                "_y": y[idx],
            }
        )
        .group_by("_s")
        .agg(
            pl.col("lon").median(),
            pl.col("lat").median(),
            pl.len().alias("points"),
            (pl.col("_x").max() - pl.col("_x").min()).alias("_wx"),
            (pl.col("_y").max() - pl.col("_y").min()).alias("_wy"),
        )
        .sort("_s")
    )
    sa, se = sa[keep], se[keep]
    return pl.DataFrame(
        {
            "plate": pts["plate"].gather(sa),
            "start": pts["ts"].gather(sa),
            "end": pts["ts"].gather(se),
            "lon": centre["lon"],
            "lat": centre["lat"],
            "points": centre["points"],
            "spread_m": np.hypot(centre["_wx"].to_numpy(), centre["_wy"].to_numpy()),
            "minutes": (t[se] - t[sa]) / 60e6,
        }
    )
