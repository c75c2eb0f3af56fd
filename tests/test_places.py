"""Visited places from stays: depots, a driver's home, night deliveries."""

from __future__ import annotations

import datetime as dt

import polars as pl

from screening.settings import load_config
from screening.signals.places import cluster, place_features

CFG = load_config()["vehicles"]
D = dt.datetime
DEPOT, HOME, SHED, STATION = (117.0, 33.6), (117.05, 33.62), (117.2, 33.5), (117.1, 33.65)


def _stay(plate, where, start, hours, dlon=0.0):
    return {
        "plate": plate,
        "start": start,
        "end": start + dt.timedelta(hours=hours),
        "lon": where[0] + dlon,
        "lat": where[1],
        "minutes": hours * 60,
        "points": 10,
    }


def _stays() -> pl.DataFrame:
    rows = []
    for day in range(1, 4):
        night = D(2021, 8, day, 19)
        rows.append(_stay("皖LA0001", DEPOT, night, 11))
        rows.append(_stay("皖LA0002", DEPOT, night, 11, dlon=0.0004))  # 37 m away: same yard
        rows.append(_stay("皖LA0003", HOME if day < 3 else DEPOT, night, 11))
        rows.append(_stay("豫A99999", SHED, D(2021, 8, day, 23, 30), 1))  # night deliveries
        rows.append(_stay("皖LA0004", STATION, D(2021, 8, day, 10), 0.7))
    return pl.DataFrame(rows)


VEHICLES = pl.DataFrame(
    {
        "plate": ["皖LA0001", "皖LA0002", "皖LA0003", "皖LA0004"],
        "carrier": ["甲运输"] * 3 + ["油品物流"],
        "cargo_class": ["8", "8", "3", "3"],
        "is_fuel": [False, False, False, True],
    }
)


def _places() -> dict[str, dict]:
    f = place_features(cluster(_stays(), CFG), VEHICLES, CFG)
    by_pos = {}
    for r in f.iter_rows(named=True):
        key = min(
            (DEPOT, HOME, SHED, STATION), key=lambda p: abs(p[0] - r["lon"]) + abs(p[1] - r["lat"])
        )
        by_pos[key] = r
    return by_pos


def test_depot_is_where_a_carriers_trucks_sleep():
    p = _places()[DEPOT]
    assert p["is_depot"] and p["depot_of"] == "甲运输"
    assert p["plates"] == 3 and p["overnights"] == 7 and not p["is_driver_home"]


def test_driver_home_is_one_truck_sleeping_away_from_its_depot():
    p = _places()[HOME]
    assert p["is_driver_home"] and p["overnights"] == 2 and p["plates"] == 1


def test_night_deliveries_by_an_unregistered_truck():
    p = _places()[SHED]
    assert p["night_visits"] == 3 and p["overnights"] == 0 and p["night_stops"] == 3
    assert p["unregistered_plates"] == 1 and p["days"] == 3
    assert not p["is_depot"] and not p["is_driver_home"]


def test_day_fuel_deliveries():
    p = _places()[STATION]
    assert p["fuel_visits"] == 3 and p["night_visits"] == 0 and p["cargo_classes"] == "3"


def test_place_ids_are_stable():
    a = cluster(_stays(), CFG)["place_id"].unique().sort().to_list()
    b = cluster(_stays().reverse(), CFG)["place_id"].unique().sort().to_list()
    assert a == b and len(a) == 4


def test_a_tanker_parked_for_a_shift_delivered_nothing():
    """A logistics park where fuel tankers stand: one over the night, one from noon to
    midnight (no 03:00 in it, twelve hours), one calling for forty minutes at 23:30. Only the
    call is a delivery and a night stop; the other two are parking."""
    park = (117.3, 33.4)
    rows = [
        _stay("皖LB0001", park, D(2021, 8, 2, 19), 12),  # over 03:00: an overnight
        _stay("皖LB0002", park, D(2021, 8, 3, 12), 11.9),  # a shift and more, into the night
        _stay("皖LB0003", park, D(2021, 8, 4, 23, 30), 0.7),  # a call
    ]
    tankers = pl.DataFrame(
        {
            "plate": ["皖LB0001", "皖LB0002", "皖LB0003"],
            "carrier": ["油品物流"] * 3,
            "cargo_class": ["3"] * 3,
            "is_fuel": [True] * 3,
        }
    )
    p = place_features(cluster(pl.DataFrame(rows), CFG), tankers, CFG).row(0, named=True)
    assert p["visits"] == 3 and p["night_visits"] == 3 and p["overnights"] == 1
    assert p["parked"] == 2 and p["fuel_visits"] == 1 and p["night_stops"] == 1
    assert p["night_plates_seen"] == "皖LB0003"


def test_a_truck_standing_in_a_yard_is_one_dwell_not_many_calls():
    """A tanker standing from 14:00 to 22:30 whose fixes drift out of the stay box: the stay
    finder gives seventeen half-hour stays, 0-10 minutes apart, none over 03:00 and none six
    hours long. One dwell of 8.5 hours: parking, no delivery, no night stop. Another tanker
    calls twice at the same yard with a stay at a station in between: two deliveries."""
    yard = (117.3, 33.4)
    rows = [
        _stay("皖LB0001", yard, D(2021, 8, 2, 14) + dt.timedelta(minutes=30 * i), 0.4)
        for i in range(17)
    ]
    rows += [
        _stay("皖LB0002", yard, D(2021, 8, 3, 9), 0.7),
        _stay("皖LB0002", STATION, D(2021, 8, 3, 10), 0.5),
        _stay("皖LB0002", yard, D(2021, 8, 3, 10, 45), 0.7),
    ]
    tankers = pl.DataFrame(
        {
            "plate": ["皖LB0001", "皖LB0002"],
            "carrier": ["油品物流"] * 2,
            "cargo_class": ["3"] * 2,
            "is_fuel": [True] * 2,
        }
    )
    f = place_features(cluster(pl.DataFrame(rows), CFG), tankers, CFG)
    p = f.filter(pl.col("plates") == 2).row(0, named=True)
    assert p["visits"] == 19 and p["parked"] == 17
    assert p["fuel_visits"] == 2 and p["night_stops"] == 0
    assert p["night_plates_seen"] is None or p["night_plates_seen"] == ""


def test_a_tanker_calling_across_three_in_the_morning_delivered_it_did_not_sleep():
    """A fuel tanker at a yard from 02:56 to 03:22 (sparse-mountain 101's T181) is a night
    delivery, counted as a call and a night stop; the same yard with a truck standing from
    22:00 to 06:00 is where it slept (an overnight, parked, no delivery)."""
    yard = (117.3, 33.7)
    calls = pl.DataFrame(
        [
            _stay("皖LU6214", yard, D(2021, 8, 26, 2, 56), 26 / 60),
            _stay("皖LU6240", yard, D(2021, 8, 27, 13, 43), 31 / 60),
        ]
    )
    fuel = pl.DataFrame(
        {
            "plate": ["皖LU6214", "皖LU6240"],
            "carrier": ["油品物流"] * 2,
            "cargo_class": ["3", "3"],
            "is_fuel": [True, True],
        }
    )
    got = place_features(cluster(calls, CFG), fuel, CFG).row(0, named=True)
    assert got["fuel_visits"] == 2 and got["night_stops"] == 1
    assert got["overnights"] == 0 and got["parked"] == 0
    slept = calls.with_columns(
        pl.when(pl.col("plate") == "皖LU6214")
        .then(pl.lit(D(2021, 8, 25, 22)))
        .otherwise(pl.col("start"))
        .alias("start")
    )
    got = place_features(cluster(slept, CFG), fuel, CFG).row(0, named=True)
    assert got["overnights"] == 1 and got["parked"] == 1
    assert got["fuel_visits"] == 1 and got["night_stops"] == 0


def test_a_night_s_sleep_split_into_short_stays_is_still_an_overnight():
    """A truck asleep at its depot whose fixes drift out of the stay box comes out as three
    stays of two hours each (22:00-04:00 with ten-minute gaps): one dwell, a night's sleep, so
    the stay over 03:00 is an overnight and all three are parking, not calls."""
    depot = (117.4, 33.8)
    night = [
        _stay("皖LA0009", depot, D(2021, 8, 26, 22), 2),
        _stay("皖LA0009", depot, D(2021, 8, 27, 0, 10), 1.8),
        _stay("皖LA0009", depot, D(2021, 8, 27, 2, 10), 1.8),
    ]
    trucks = pl.DataFrame(
        {"plate": ["皖LA0009"], "carrier": ["甲运输"], "cargo_class": ["8"], "is_fuel": [False]}
    )
    got = place_features(cluster(pl.DataFrame(night), CFG), trucks, CFG).row(0, named=True)
    assert got["overnights"] == 1 and got["parked"] == 3 and got["night_stops"] == 0
