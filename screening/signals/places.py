"""Visited places: stay points of all trucks clustered across plates and days, and what each
place looks like from the trucks' side (visits, plates, nights, dwell, cargo classes).

Patterns that explain a place innocently are found here from the tracks alone: a carrier's
depot is where most of its trucks sleep; a driver's home is a place where one truck sleeps and
no truck loads. Whether a place holds a permit or a gas station is known only once places are
tied to sites (sites.py), and is judged there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from screening.coords import project_m, stable_ids


def _components(lon: np.ndarray, lat: np.ndarray, radius: float) -> np.ndarray:
    if len(lon) == 0:
        return np.zeros(0, dtype=np.int64)
    x, y = project_m(lon, lat)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius, output_type="ndarray")
    n = len(lon)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def night_flags(cfg: Mapping[str, Any]) -> list[pl.Expr]:
    """is_night: the stay touches 22:00-06:00; is_overnight: it holds the truck over 03:00
    (``dwells`` then keeps it only where the truck's whole time there is a night's sleep)."""
    ns, ne = cfg["night_start_hour"], cfg["night_end_hour"]
    start, end = pl.col("start"), pl.col("end")
    day = start.dt.truncate("1d")
    three = pl.when(start.dt.hour() < 3).then(day).otherwise(
        day + pl.duration(days=1)
    ) + pl.duration(hours=3)
    in_night = (
        (pl.col("start").dt.hour() >= ns)
        | (pl.col("start").dt.hour() < ne)
        | (pl.col("end").dt.hour() >= ns)
        | (pl.col("end").dt.hour() < ne)
    )
    spans_night = (end - start) >= pl.duration(hours=24 - ns + ne)
    return [(in_night | spans_night).alias("is_night"), (three <= end).alias("is_overnight")]


def cluster(stays: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """Stays with the place_id of the place they belong to. A place id comes from the place's
    position on a ~100 m grid (sha1, stable across library versions); two places whose
    positions fall in one cell (yards 60 m apart in a chemical park) are told apart by
    their order in it, west to east, so that neither takes the other's trucks, whatever order
    the stays came in."""
    comp = _components(stays["lon"].to_numpy(), stays["lat"].to_numpy(), cfg["place_radius_m"])
    out = stays.with_columns(pl.Series("_c", comp)).with_columns(
        pl.col("lon").median().over("_c").alias("place_lon"),
        pl.col("lat").median().over("_c").alias("place_lat"),
    )
    cell = pl.format(
        "{}:{}",
        (pl.col("place_lon") * 1000).round(0).cast(pl.Int64),
        (pl.col("place_lat") * 1000).round(0).cast(pl.Int64),
    )
    places = (
        out.select("place_lon", "place_lat")
        .unique()
        .with_columns(cell.alias("_cell"))
        .sort("_cell", "place_lon", "place_lat")
        .with_columns(pl.int_range(pl.len()).over("_cell").alias("_k"))
        .with_columns(
            pl.when(pl.col("_k") == 0)
            .then(pl.col("_cell"))
            .otherwise(pl.format("{}#{}", "_cell", "_k"))
            .alias("_cell")
        )
    )
    places = places.with_columns(stable_ids("P", places["_cell"]).alias("place_id"))
    return (
        out.join(
            places.select("place_lon", "place_lat", "place_id"),
            on=["place_lon", "place_lat"],
            how="left",
            maintain_order="left",
        )
        .with_columns(*night_flags(cfg))
        .drop("_c")
    )


def depots(stays: pl.DataFrame, vehicles: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """(carrier, place_id): where each carrier's trucks sleep most."""
    nights = (
        stays.filter(pl.col("is_overnight"))
        .join(vehicles.select("plate", "carrier"), on="plate", how="inner")
        .filter(pl.col("carrier").is_not_null())
        .group_by("carrier", "place_id")
        .agg(pl.len().alias("overnights"), pl.col("plate").n_unique().alias("plates"))
        .filter(pl.col("overnights") >= cfg["depot_min_overnights"])
    )
    return (
        nights.sort(["carrier", "overnights", "place_id"], descending=[False, True, False])
        .group_by("carrier", maintain_order=True)
        .first()
    )


def dwells(stays: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """The stays with ``_dwell`` (one truck's unbroken time at one place) and ``_parked``.

    A truck standing two days in a yard drifts out of the stay finder's 150 m box again and
    again, and its time there comes out as dozens of stays of half an hour, each of which read
    as a call (a delivery, a night stop). Consecutive stays of one truck at one place, with no
    stay anywhere else between them and less than ``dwell_gap_minutes`` apart, are one dwell:
    in that gap the truck did business nowhere (a delivery elsewhere is a stay elsewhere).
    A dwell over 03:00 that lasts ``overnight_min_hours`` is a night's sleep: its stays over
    03:00 stay overnights, and every stay of it is parked, as is every stay of a dwell of
    ``parked_min_hours``. A shorter dwell over 03:00 is a call, no overnight: a tanker that
    unloads from 02:56 to 03:22 made the night delivery the campaign looks for. The dwell
    decides, not the stay: a truck asleep in a yard comes out as many short stays.
    """
    gap = pl.duration(minutes=float(cfg["dwell_gap_minutes"]))
    s = stays.sort("plate", "start", "end")
    new = (
        (pl.col("plate") != pl.col("plate").shift(1))
        | (pl.col("place_id") != pl.col("place_id").shift(1))
        | ((pl.col("start") - pl.col("end").shift(1)) > gap)
    ).fill_null(True)
    s = s.with_columns(new.cum_sum().alias("_dwell"))
    # the dwell's span holds each of its stays, so a night's sleep or a shift in it makes the
    # whole dwell parking: the span alone decides
    length = pl.col("end") - pl.col("start")
    span = (
        s.group_by("_dwell")
        .agg(pl.col("start").min(), pl.col("end").max())
        .with_columns(*night_flags(cfg))
        .select(
            "_dwell",
            (
                pl.col("is_overnight") & (length >= pl.duration(hours=cfg["overnight_min_hours"]))
            ).alias("_slept"),
            (length >= pl.duration(hours=cfg["parked_min_hours"])).alias("_long"),
        )
    )
    return (
        s.join(span, on="_dwell", how="left")
        .with_columns(
            (pl.col("is_overnight") & pl.col("_slept")).alias("is_overnight"),
            (pl.col("_slept") | pl.col("_long")).alias("_parked"),
        )
        .drop("_slept", "_long")
    )


def place_features(
    stays: pl.DataFrame,
    vehicles: pl.DataFrame,
    cfg: Mapping[str, Any],
) -> pl.DataFrame:
    """One row per place with what the trucks did there."""
    v = vehicles.select("plate", "carrier", "cargo_class", "is_fuel")
    # in plate and time order whatever order the stays came in: dwell hours are float sums
    s = dwells(stays, cfg).join(v, on="plate", how="left").sort("place_id", "plate", "start", "end")
    call = ~pl.col("_parked")
    # one row per place: a yard where two carriers' trucks sleep is the depot of both
    depot = (
        depots(s, vehicles, cfg)
        .group_by("place_id")
        .agg(pl.col("carrier").unique().sort().str.join(";").alias("depot_of"))
        .with_columns(pl.lit(True).alias("is_depot"))
    )
    feats = s.group_by("place_id").agg(
        pl.col("place_lon").first().alias("lon"),
        pl.col("place_lat").first().alias("lat"),
        pl.len().alias("visits"),
        pl.col("plate").n_unique().alias("plates"),
        pl.col("start").dt.date().n_unique().alias("days"),
        pl.col("is_night").sum().alias("night_visits"),
        pl.col("is_overnight").sum().alias("overnights"),
        (~pl.col("is_night")).sum().alias("day_visits"),
        (pl.col("minutes").sum() / 60).alias("dwell_hours"),
        pl.col("minutes").median().alias("median_dwell_min"),
        pl.col("start").min().alias("first_seen"),
        pl.col("end").max().alias("last_seen"),
        pl.col("cargo_class").drop_nulls().unique().sort().str.join(",").alias("cargo_classes"),
        # a tanker parked for the night or a shift delivered nothing
        # calls, not stays: a call the stay finder split in two is one delivery
        pl.col("_dwell")
        .filter(pl.col("is_fuel").fill_null(False) & call)
        .n_unique()
        .alias("fuel_visits"),
        pl.col("_parked").sum().alias("parked"),
        pl.col("_dwell").filter(pl.col("is_night") & call).n_unique().alias("night_stops"),
        pl.col("plate")
        .filter(pl.col("carrier").is_null() & pl.col("cargo_class").is_null())
        .n_unique()
        .alias("unregistered_plates"),
        pl.col("plate").unique().sort().str.join(";").alias("plates_seen"),
        # the plates of the night stops (night visits that were calls, not parking)
        pl.col("plate")
        .filter(pl.col("is_night") & call)
        .unique()
        .sort()
        .str.join(";")
        .alias("night_plates_seen"),
        # one truck sleeping here (it may also idle here by day; no other truck calls)
        ((pl.col("plate").n_unique() == 1) & pl.col("is_overnight").any()).alias("is_home_like"),
    )
    return (
        feats.join(depot, on="place_id", how="left")
        .with_columns(pl.col("is_depot").fill_null(False))
        .with_columns(
            # a home: one plate sleeping here that is not its carrier's depot
            (pl.col("is_home_like") & ~pl.col("is_depot")).alias("is_driver_home"),
        )
        .sort("place_id")
    )
