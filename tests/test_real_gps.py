"""Stay points on real GPS fixes: the Wuxi taxis against movingpandas' stops.

The reference stops (tests/fixtures/wx_taxi_mp_stops.csv) are movingpandas 0.23
``TrajectoryStopDetector`` on the same file with the same settings (max diameter
``stay_diameter_m``, minimum ``stay_min_minutes``), written by
``bench/real_gps_bench.py --write-fixture``; movingpandas itself is not needed here.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from screening.sample.realdata import taxi_tracks
from screening.settings import load_config
from screening.signals.vehicles import stay_points

REPO = Path(__file__).resolve().parent.parent
GPS = REPO.parent / "shared" / "realdata" / "wx_taxi_gps.csv"
REFERENCE = Path(__file__).with_name("fixtures") / "wx_taxi_mp_stops.csv"
CFG = load_config()["vehicles"]

pytestmark = pytest.mark.skipif(
    not GPS.exists(), reason=f"real GPS fixes not found: {GPS} (../shared/realdata/)"
)


def _matched(a: pl.DataFrame, b: pl.DataFrame) -> float:
    """Share of ``a``'s stops that one of ``b``'s for the same vehicle overlaps by at least
    half of the shorter of the two."""
    j = a.with_row_index("_i").join(b, on="plate", suffix="_b")
    overlap = pl.min_horizontal("end", "end_b") - pl.max_horizontal("start", "start_b")
    shorter = pl.min_horizontal(
        pl.col("end") - pl.col("start"), pl.col("end_b") - pl.col("start_b")
    )
    ok = j.filter(overlap.dt.total_seconds() >= 0.5 * shorter.dt.total_seconds())
    return ok["_i"].n_unique() / a.height


@pytest.fixture(scope="module")
def tracks() -> pl.DataFrame:
    return taxi_tracks(GPS)


@pytest.fixture(scope="module")
def stays(tracks: pl.DataFrame) -> pl.DataFrame:
    return stay_points(tracks.lazy(), CFG).collect()


def _reference() -> pl.DataFrame:
    return pl.read_csv(REFERENCE, schema_overrides={"vehicle": pl.Utf8}).select(
        pl.col("vehicle").alias("plate"),
        pl.col("start", "end").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us"),
    )


def test_reader_gives_the_track_schema(tracks: pl.DataFrame):
    assert tracks.columns == ["plate", "ts", "lon", "lat", "speed_kmh"]
    assert tracks.height == 20_188 and tracks["plate"].n_unique() == 475
    assert tracks["plate"].str.len_chars().min() == 16  # leading zeros kept
    assert tracks["ts"].dtype == pl.Datetime("us") and tracks["speed_kmh"].null_count() == 20_188


def test_agrees_with_movingpandas_both_ways(stays: pl.DataFrame):
    ref = _reference()
    assert ref.height == 499
    assert _matched(ref, stays) >= 0.95  # movingpandas' stops that ours find
    assert _matched(stays, ref) >= 0.95  # ours that are movingpandas' stops


def test_stays_are_whole_and_apart(stays: pl.DataFrame):
    assert (stays["minutes"] >= CFG["stay_min_minutes"]).all()
    assert (stays["points"] >= 2).all()
    # the box of fixes that fit in a rectangle of the diameter's diagonal is no wider
    assert (stays["spread_m"] < CFG["stay_diameter_m"] * 2**0.5).all()
    gaps = stays.sort("plate", "start").select(
        (pl.col("start") - pl.col("end").shift(1)).over("plate").alias("gap")
    )
    assert (gaps["gap"].drop_nulls().dt.total_seconds() > 0).all()


def test_order_and_duplicates_of_the_file_do_not_matter(tracks: pl.DataFrame, stays):
    messy = pl.concat([tracks, tracks.sample(2000, seed=3)]).sample(
        fraction=1.0, shuffle=True, seed=4
    )
    assert stay_points(messy.lazy(), CFG).collect().equals(stays)


def test_one_taxi_alone_gets_the_stays_it_gets_among_all(tracks: pl.DataFrame, stays):
    busiest = tracks.group_by("plate").len().sort("len", "plate").row(-1)[0]
    alone = stay_points(tracks.filter(pl.col("plate") == busiest).lazy(), CFG).collect()
    assert alone.height > 0
    assert alone.equals(stays.filter(pl.col("plate") == busiest))
