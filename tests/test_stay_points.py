"""Stay points on hand-built tracks whose stops are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from screening.settings import load_config
from screening.signals.vehicles import stay_points

CFG = load_config()["vehicles"]
T0 = dt.datetime(2021, 8, 1, 8)
DEG_LON_M = 111_320 * np.cos(np.radians(33.6))


class Track:
    """Builds a 30-second track leg by leg."""

    def __init__(self, plate: str, seed: int = 0, jitter_m: float = 8.0):
        self.plate, self.rng, self.jitter = plate, np.random.default_rng(seed), jitter_m
        self.lon, self.lat, self.t = [117.0], [33.6], [T0]

    def go(self, east_m: float, north_m: float, minutes: float, report: bool = True):
        n = max(int(minutes * 2), 1)
        f = np.arange(1, n + 1) / n
        lon = self.lon[-1] + east_m / DEG_LON_M * f
        lat = self.lat[-1] + north_m / 110_574 * f
        ts = [self.t[-1] + dt.timedelta(seconds=30 * i) for i in range(1, n + 1)]
        if report:
            self.lon += list(lon)
            self.lat += list(lat)
            self.t += ts
        else:  # signal lost: only the position at the end is known again
            self.lon.append(lon[-1])
            self.lat.append(lat[-1])
            self.t.append(ts[-1])
        return self

    def stay(self, minutes: float, report: bool = True):
        return self.go(0, 0, minutes, report)

    def frame(self) -> pl.DataFrame:
        n = len(self.t)
        return pl.DataFrame(
            {
                "plate": self.plate,
                "ts": self.t,
                "lon": np.array(self.lon) + self.rng.normal(0, self.jitter / DEG_LON_M, n),
                "lat": np.array(self.lat) + self.rng.normal(0, self.jitter / 110_574, n),
            }
        )


def _stays(*tracks: pl.DataFrame) -> pl.DataFrame:
    return stay_points(pl.concat(tracks).lazy(), CFG).collect()


def test_truck_that_stops_to_unload():
    t = Track("A").go(5000, 0, 10).stay(45).go(3000, 2000, 8).frame()
    s = _stays(t)
    assert s.height == 1
    assert 44 <= s["minutes"].item() <= 46
    east = (s["lon"].item() - 117.0) * DEG_LON_M
    assert abs(east - 5000) < 20


def test_traffic_jam_crawl_is_not_a_stay():
    # 40 minutes at walking pace (about 3 km/h) with short halts: moves 2 km in all
    t = Track("B").go(2000, 0, 10)
    for _ in range(8):
        t.stay(2).go(250, 0, 3)
    assert _stays(t.frame()).height == 0


def test_jitter_and_outliers_do_not_split_a_stay():
    t = Track("C", jitter_m=15).go(3000, 0, 5).stay(60).go(3000, 0, 5).frame()
    # three wild points 120-200 m off in the middle of the stay
    t = t.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([40, 41, 70]))
        .then(pl.col("lat") + 0.0015)
        .otherwise(pl.col("lat"))
        .alias("lat")
    )
    s = _stays(t)
    assert s.height == 1 and s["minutes"].item() > 55


def test_gap_inside_a_stay_is_still_a_stay_and_gap_while_moving_is_not():
    parked = Track("D").go(1000, 0, 3).stay(10).stay(50, report=False).stay(10).go(800, 0, 3)
    s = _stays(parked.frame())
    assert s.height == 1 and s["minutes"].item() >= 69
    # lost signal while driving 20 km: the two ends are far apart, no stay spans the gap
    moving = Track("E").go(1000, 0, 3).go(20_000, 0, 40, report=False).go(1000, 0, 3)
    assert _stays(moving.frame()).height == 0


def test_unordered_and_duplicated_points_give_the_same_stays():
    t = Track("F").go(2000, 0, 5).stay(30).go(2000, 0, 5).stay(25).go(500, 0, 2).frame()
    messy = pl.concat([t, t.sample(50, seed=1)]).sample(fraction=1.0, shuffle=True, seed=2)
    clean, shuffled = _stays(t), _stays(messy)
    assert clean.height == 2
    assert clean.drop("points").equals(shuffled.drop("points"))


def test_plates_do_not_mix():
    a = Track("G").go(1000, 0, 3).stay(30).frame()
    b = Track("H").go(1000, 0, 3).stay(10).frame()
    s = _stays(a, b)
    assert s["plate"].to_list() == ["G"]


def test_no_fixes_gives_no_stays_with_the_columns():
    empty = Track("Z").frame().clear()
    s = _stays(empty)
    assert s.height == 0
    assert s.columns == ["plate", "start", "end", "lon", "lat", "points", "spread_m", "minutes"]


def test_a_vehicle_with_one_fix_has_no_stay_and_leaves_the_others_alone():
    a = Track("I").go(1000, 0, 3).stay(30).go(1000, 0, 3).frame()
    lone = Track("J").frame()  # one fix
    assert _stays(lone).height == 0
    assert _stays(a, lone).equals(_stays(a))


def test_all_fixes_identical():
    one = Track("K", jitter_m=0).stay(40).frame()
    # the same fix over and over at one time is one fix: no stay
    same_time = pl.concat([one.head(1)] * 50)
    assert _stays(same_time).height == 0
    # the same place all along is one stay over all of it, with no spread
    s = _stays(one.with_columns(pl.col("lon").first(), pl.col("lat").first()))
    assert s.height == 1 and s["minutes"].item() == 40 and s["spread_m"].item() == 0


def test_duplicate_times_with_different_positions_give_one_answer_in_any_order():
    t = Track("L").go(2000, 0, 5).stay(30).go(2000, 0, 5).frame()
    # a second fix at every time, 40 m off: whichever the file lists first, the same is kept
    twin = t.with_columns(pl.col("lon") + 40 / DEG_LON_M)
    forward = _stays(pl.concat([t, twin]))
    backward = _stays(pl.concat([twin, t]).reverse())
    assert forward.height == 1 and forward.equals(backward)


def test_missing_and_unusable_fixes_are_skipped():
    t = Track("M").go(1000, 0, 3).stay(30).go(1000, 0, 3).frame()
    bad = pl.DataFrame(
        {
            "plate": ["M", "M", None, "M"],
            "ts": [T0 + dt.timedelta(minutes=20), None, T0, T0 + dt.timedelta(minutes=21)],
            "lon": [None, 117.0, 117.0, float("nan")],
            "lat": [33.6, 33.6, 33.6, 33.6],
        }
    )
    assert _stays(pl.concat([t, bad])).equals(_stays(t))


def test_a_queue_moving_up_is_not_one_long_stay():
    # three 25-minute halts, each 100 m on from the last: two fit in the diameter, three do not
    t = Track("N").go(2000, 0, 5).stay(25).go(100, 0, 1).stay(25).go(100, 0, 1).stay(25)
    s = _stays(t.go(2000, 0, 5).frame())
    assert s.height == 2
    assert 50 <= s["minutes"][0] <= 52 and 24 <= s["minutes"][1] <= 26
    assert (s["spread_m"] < CFG["stay_diameter_m"]).all()


def test_a_stop_at_the_end_of_the_data_counts():
    s = _stays(Track("O").go(2000, 0, 5).stay(30).frame())
    assert s.height == 1 and s["minutes"].item() >= 29.5
