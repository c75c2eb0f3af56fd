"""Hazmat vehicle GPS tracks: 30-second points for the last days of the window.

Each truck's days are planned as trips (load at a plant or the oil depot, deliver to
stations and factories, go home), planted visits are slotted in, and a simple scheduler
turns the plan into park and drive segments. Points are then made for all segments at once
with numpy: positions along a curved path (a quadratic Bezier), a speed that swings in
stop-and-go jams, GPS jitter, outliers, signal gaps and ignition-off silences. The only
Python loops are over trucks and their trips, never over points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .config import TUNE, Tunables
from .entities import World
from .geography import to_lonlat
from .styles import DEFAULT, Knobs

DAY = 86_400.0
Part = tuple[float, float, float, float, float]  # s0, s1, duration, amplitude, cycles


@dataclass
class Segs:
    """Columns of the segment table, filled by the scheduler."""

    plate: list[int] = field(default_factory=list)
    t0: list[float] = field(default_factory=list)
    t1: list[float] = field(default_factory=list)
    drive: list[bool] = field(default_factory=list)
    geo: list[tuple[float, ...]] = field(default_factory=list)  # x0 y0 cx cy x1 y1 s0 s1
    mod: list[tuple[float, float]] = field(default_factory=list)  # amplitude, cycles
    report: list[bool] = field(default_factory=list)
    keep: list[bool] = field(default_factory=list)  # planted stops: no silence, no gaps


@dataclass
class Job:
    x: float
    y: float
    earliest: float | None  # seconds from the window start; None = as soon as possible
    dwell: float  # seconds
    keep: bool = False


class Scheduler:
    def __init__(
        self, rng: np.random.Generator, hubs: np.ndarray, horizon: float, tune: Tunables = TUNE
    ) -> None:
        self.rng = rng
        self.tune = tune
        self.hubs = hubs
        self.horizon = horizon
        self.s = Segs()

    def _park(self, p: int, x: float, y: float, t0: float, t1: float, keep: bool = False) -> None:
        if t1 - t0 < 1:
            return
        self.s.keep.append(keep)
        silent = self.tune.park_silent_long if t1 - t0 > 7200 else self.tune.park_silent_short
        self.s.plate.append(p)
        self.s.t0.append(t0)
        self.s.t1.append(t1)
        self.s.drive.append(False)
        self.s.geo.append((x, y, x, y, x, y, 0.0, 1.0))
        self.s.mod.append((0.0, 1.0))
        self.s.report.append(keep or bool(self.rng.random() >= silent))

    def _path(self, x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, ...], float]:
        L = math.hypot(x1 - x0, y1 - y0)
        bend = self.rng.uniform(-0.2, 0.2)
        cx = (x0 + x1) / 2 - (y1 - y0) * bend
        cy = (y0 + y1) / 2 + (x1 - x0) * bend
        s = np.linspace(0, 1, 17)
        bx = (1 - s) ** 2 * x0 + 2 * (1 - s) * s * cx + s**2 * x1
        by = (1 - s) ** 2 * y0 + 2 * (1 - s) * s * cy + s**2 * y1
        length = float(np.hypot(np.diff(bx), np.diff(by)).sum()) if L > 0 else 0.0
        return (x0, y0, cx, cy, x1, y1), length

    def drive_time(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """A rough estimate, only for deciding when an out-of-county truck enters."""
        return math.hypot(x1 - x0, y1 - y0) * 1.15 / (45 / 3.6) + 120

    def _plan(
        self, x0: float, y0: float, x1: float, y1: float
    ) -> tuple[tuple[float, ...], list[Part]]:
        """A drive's path and its parts (s0, s1, duration, amplitude, cycles); planned
        before it is committed so that a truck can leave exactly in time for a stop."""
        geo, length = self._path(x0, y0, x1, y1)
        if length < 30:
            return geo, []
        v = self.rng.uniform(*self.tune.drive_kmh) / 3.6
        d_end = np.hypot(self.hubs[:, 0] - x1, self.hubs[:, 1] - y1).min()
        d_start = np.hypot(self.hubs[:, 0] - x0, self.hubs[:, 1] - y0).min()
        spans: list[tuple[float, float, bool]] = [(0.0, 1.0, False)]
        if length > 3000 and min(d_end, d_start) < 2500 and self.rng.random() < self.tune.jam_prob:
            a, b = (0.72, 0.9) if d_end < d_start else (0.1, 0.28)
            spans = [(0.0, a, False), (a, b, True), (b, 1.0, False)]
        parts = []
        for s0, s1, jam in spans:
            speed = self.rng.uniform(4, 10) / 3.6 if jam else v
            dur = length * (s1 - s0) / speed
            cycles = max(2.0, round(dur / 150)) if jam else float(self.rng.integers(1, 4))
            amp = self.rng.uniform(0.9, 0.99) if jam else self.rng.uniform(0.1, 0.4)
            parts.append((s0, s1, dur, amp, cycles))
        return geo, parts

    def _commit(self, p: int, geo: tuple[float, ...], parts: list[Part], t: float) -> float:
        for s0, s1, dur, amp, cycles in parts:
            self.s.plate.append(p)
            self.s.t0.append(t)
            self.s.t1.append(t + dur)
            self.s.drive.append(True)
            self.s.geo.append((*geo, s0, s1))
            self.s.mod.append((amp, cycles))
            self.s.report.append(True)
            self.s.keep.append(False)
            t += dur
        return t

    def run(
        self, p: int, x: float, y: float, t: float | None, jobs: list[Job], end_park: bool = True
    ) -> tuple[float, float, float]:
        """Drive a truck through its jobs in order; returns where and when it ends.
        ``t=None`` means the truck appears just in time for its first job (a truck from
        another county entering at the border)."""
        for j in jobs:
            geo, parts = self._plan(x, y, j.x, j.y)
            dur = sum(q[2] for q in parts)
            if j.earliest is not None:
                leave = j.earliest - dur
                if t is None:
                    t = leave
                elif leave > t:
                    self._park(p, x, y, t, leave)
                    t = leave
            assert t is not None
            t = self._commit(p, geo, parts, t)
            x, y = j.x, j.y
            if j.dwell > 0:
                self._park(p, x, y, t, t + j.dwell, j.keep)
                t += j.dwell
        assert t is not None
        if end_park and t < self.horizon:
            self._park(p, x, y, t, self.horizon)
        return x, y, t


def _points(
    rng: np.random.Generator, s: Segs, n_plates: int, horizon: float, knobs: Knobs = DEFAULT
) -> dict[str, np.ndarray]:
    """All points of all segments at once, every ``knobs.gps_step_s`` seconds (a styled
    world's fixes also wander in time and some are lost)."""
    tune = knobs.tune
    step = knobs.gps_step_s
    plate = np.array(s.plate)
    t0 = np.array(s.t0)
    t1 = np.minimum(np.array(s.t1), horizon)
    geo = np.array(s.geo).reshape(-1, 8)
    mod = np.array(s.mod).reshape(-1, 2)
    drive = np.array(s.drive)
    kept = np.array(s.keep)
    keep = np.array(s.report) & (t1 > t0) & (t0 < horizon)
    phase = rng.uniform(0, step, size=n_plates)[plate]
    first = np.ceil((np.maximum(t0, 0) - phase) / step)
    last = np.ceil((t1 - phase) / step)
    count = np.where(keep, np.maximum(last - first, 0), 0).astype(np.int64)
    seg = np.repeat(np.arange(plate.size), count)
    offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    t = phase[seg] + (first[seg] + offs) * step
    if knobs.gps_step_jitter > 0:
        t = t + rng.uniform(-0.25, 0.25, size=t.size) * step * knobs.gps_step_jitter
    dur = np.maximum(t1 - t0, 1e-6)[seg]
    u = np.clip((t - t0[seg]) / dur, 0, 1)
    amp, cyc = mod[seg, 0], mod[seg, 1]
    prog = u + amp * np.sin(2 * np.pi * cyc * u) / (2 * np.pi * cyc)
    g = geo[seg]
    sp = g[:, 6] + (g[:, 7] - g[:, 6]) * prog
    x = (1 - sp) ** 2 * g[:, 0] + 2 * (1 - sp) * sp * g[:, 2] + sp**2 * g[:, 4]
    y = (1 - sp) ** 2 * g[:, 1] + 2 * (1 - sp) * sp * g[:, 3] + sp**2 * g[:, 5]
    dx = 2 * (1 - sp) * (g[:, 2] - g[:, 0]) + 2 * sp * (g[:, 4] - g[:, 2])
    dy = 2 * (1 - sp) * (g[:, 3] - g[:, 1]) + 2 * sp * (g[:, 5] - g[:, 3])
    ds_dt = (g[:, 7] - g[:, 6]) * (1 + amp * np.cos(2 * np.pi * cyc * u)) / dur
    speed = np.where(drive[seg], np.hypot(dx, dy) * ds_dt * 3.6, 0.0)
    speed = np.where(drive[seg], np.maximum(speed + rng.normal(0, 1.5, speed.size), 0), 0.0)
    n = t.size
    x = x + rng.normal(0, tune.gps_jitter_m, n)
    y = y + rng.normal(0, tune.gps_jitter_m, n)
    out = rng.random(n) < tune.gps_outlier_rate
    d = rng.uniform(*tune.gps_outlier_m, size=n)
    a = rng.uniform(0, 2 * np.pi, size=n)
    x = np.where(out, x + d * np.cos(a), x)
    y = np.where(out, y + d * np.sin(a), y)
    # Signal gaps: random intervals per plate, while parked or driving alike.
    days = horizon / DAY
    n_gaps = rng.poisson(tune.gps_gaps_per_day * days, size=n_plates)
    gp = np.repeat(np.arange(n_plates), n_gaps)
    gs = rng.uniform(0, horizon, size=gp.size)
    ge = gs + rng.uniform(*tune.gps_gap_min, size=gp.size) * 60
    pl_ = plate[seg]
    drop = np.zeros(n, dtype=bool)
    if gp.size:
        # A point is lost when a gap of its plate covers it: gaps sorted by plate and start,
        # each carrying the latest end among its plate's gaps so far, so that one search
        # per point finds whether any gap that began before it is still open.
        order = np.lexsort((gs, gp))
        gp, gs, ge = gp[order], gs[order], ge[order]
        same = np.r_[False, gp[1:] == gp[:-1]]
        run = ge.copy()
        for _ in range(int(n_gaps.max())):
            run = np.where(same, np.maximum(run, np.r_[-np.inf, run[:-1]]), run)
        span = horizon + 10 * DAY
        idx = np.searchsorted(gp * span + gs, pl_ * span + t, side="right") - 1
        safe = np.maximum(idx, 0)
        drop = (idx >= 0) & (gp[safe] == pl_) & (gs[safe] <= t) & (run[safe] > t)
    if knobs.gps_drop > 0:
        drop |= rng.random(n) < knobs.gps_drop
    ok = (~drop | kept[seg]) & (t >= 0) & (t < horizon)
    lon, lat = to_lonlat(x[ok], y[ok])
    return {"plate_i": pl_[ok], "t": t[ok], "lon": lon, "lat": lat, "speed": np.round(speed[ok], 1)}


def make_tracks(rng: np.random.Generator, world: World) -> pl.DataFrame:
    preset = world.preset
    horizon = preset.track_days * DAY
    places = world.county.places
    px, py = places["x"].to_numpy(), places["y"].to_numpy()
    b = world.businesses.filter(pl.col("status").is_in(["存续", "在业"]))

    def pids(codes: list[str]) -> np.ndarray:
        return b.filter(pl.col("industry_code").is_in(codes))["place_id"].to_numpy()

    loads = {
        "fuel": pids(["G5941"]),
        "3": pids(["C2614", "C2641"]),
        "8": pids(["C2611", "C2612", "C2619", "C2661"]),
        "5": pids(["C2661"]),
        "2": pids(["C2614"]),
    }
    customers = {
        "fuel": pids(["F5265"]),
        "3": pids(["C2110", "C2130", "C2319", "C2661"]),
        "8": pids(["C3360", "C1711", "C2319", "C2681", "C2625"]),
        "5": pids(["C1711", "C3360"]),
        "2": pids(["C3311", "C3484"]),
    }
    for k, v in list(loads.items()):
        if v.size == 0:
            loads[k] = loads["8"] if loads["8"].size else pids(["G5435"])
    ol = np.array(world.county.outline.exterior.coords)
    gates = ol[np.linspace(0, len(ol) - 1, 9, dtype=int)[:-1]]
    kn = world.knobs
    sch = Scheduler(rng, world.county.hubs, horizon, kn.tune)
    v = world.vehicles
    plates = v["plate"].to_list()
    visits_by_plate: dict[str, list] = {}
    for vis in world.visits:
        visits_by_plate.setdefault(vis.plate, []).append(vis)

    def job(pid: int, earliest: float | None, dwell_min: float) -> Job:
        return Job(float(px[pid]), float(py[pid]), earliest, dwell_min * 60)

    for i, r in enumerate(v.iter_rows(named=True)):
        kind = "fuel" if r["cargo"] in ("柴油", "汽油") else r["cargo_class"]
        trips: list[tuple[float, list[Job]]] = []
        for vis in visits_by_plate.get(r["plate"], []):
            t_arr = vis.day * DAY + vis.hour * 3600
            trips.append(
                (
                    t_arr,
                    [
                        Job(
                            float(px[vis.place_id]),
                            float(py[vis.place_id]),
                            t_arr,
                            vis.dwell_min * 60,
                            keep=True,
                        )
                    ],
                )
            )
        if r["registered"]:
            home = r["home"] if r["home"] is not None else r["depot"]
            share = world.home_share.get(r["plate"])  # nights at home, the rest at the depot
            own_plant = r["depot"] in set(loads.get(kind, np.array([])).tolist())
            for d in range(preset.track_days):
                if rng.random() > 0.8:
                    continue
                if kn.night_trip_share > 0 and rng.random() < kn.night_trip_share:
                    t_dep = d * DAY + rng.uniform(19.5, 23.5) * 3600  # daytime bans in town
                else:
                    t_dep = d * DAY + rng.uniform(6, 9.5) * 3600
                lp = r["depot"] if own_plant else int(rng.choice(loads[kind]))
                js = [job(lp, t_dep, rng.uniform(*kn.load_dwell_min))]
                cust = customers.get(kind, np.array([]))
                for c in (
                    rng.choice(cust, size=min(int(rng.integers(1, 4)), cust.size), replace=False)
                    if cust.size
                    else []
                ):
                    js.append(job(int(c), None, rng.uniform(*kn.deliver_dwell_min)))
                trips.append((t_dep, js))
            trips.sort(key=lambda tj: tj[0])
            x, y, t = float(px[home]), float(py[home]), 0.0
            for _t, js in trips:
                back = home
                if share is not None and rng.random() >= share:
                    back = r["depot"]
                x, y, t = sch.run(i, x, y, t, [*js, job(back, None, 0)], end_park=False)
            if t < horizon:
                sch._park(i, x, y, t, horizon)
        elif not trips:  # trucks from elsewhere: planted visits, or a routine delivery
            for d in range(preset.track_days):
                if rng.random() < 0.5:
                    dest = loads["8"] if rng.random() < 0.5 else customers["fuel"]
                    if dest.size:
                        t_arr = d * DAY + rng.uniform(8, 18) * 3600
                        trips.append(
                            (t_arr, [job(int(rng.choice(dest)), t_arr, rng.uniform(30, 80))])
                        )
        if not r["registered"]:
            # Stops close in time are one journey through the county, not two entries.
            chains: list[list[Job]] = []
            last = -DAY
            for t_arr, js in sorted(trips, key=lambda tj: tj[0]):
                if chains and t_arr - last < 3 * 3600:
                    chains[-1].extend(js)
                else:
                    chains.append(list(js))
                last = t_arr + sum(j.dwell for j in js)
            for js in chains:
                g_in = gates[int(rng.integers(len(gates)))]
                g_out = gates[int(rng.integers(len(gates)))]
                sch.run(
                    i,
                    float(g_in[0]),
                    float(g_in[1]),
                    None,
                    [*js, Job(float(g_out[0]), float(g_out[1]), None, 0)],
                    end_park=False,
                )
    pts = _points(rng, sch.s, len(plates), horizon, kn)
    start_us = _epoch_us(preset.track_start)
    ts = start_us + np.floor(pts["t"]).astype(np.int64) * 1_000_000
    df = pl.DataFrame(
        {
            "plate": pl.Series(plates).gather(pts["plate_i"]),
            "ts": pl.Series(ts).cast(pl.Datetime("us")),
            "lon": np.round(pts["lon"], 6),
            "lat": np.round(pts["lat"], 6),
            "speed_kmh": pts["speed"],
        }
    )
    return df.sort(["plate", "ts"])


def _epoch_us(dt: object) -> int:
    """Naive local datetime -> microseconds, as if UTC (the bundle's timestamps are naive)."""
    from datetime import datetime

    assert isinstance(dt, datetime)
    return int((dt - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
