"""The heavy stages over partitions: any number of key ranges gives the rows of one
whole-series run, in the same order."""

from __future__ import annotations

import datetime as dt

import polars as pl

from screening.pipeline import partitions
from screening.settings import load_config
from screening.store.warehouse import scan_bulk


def _cfg(parts: int) -> dict:
    cfg = load_config()
    cfg["scale"]["partitions"] = parts
    return cfg


def test_key_ranges_cover_every_key_once_in_order(sample_ingested):
    _, work = sample_ingested
    ranges = partitions.key_ranges(work, "power_readings", 7)
    assert len(ranges) == 7
    los = [lo for lo, _ in ranges]
    assert los == sorted(los)
    keys = scan_bulk(work, "power_readings").select("account_id").unique().collect()
    hits = keys.select(
        pl.sum_horizontal(
            pl.col("account_id").is_between(pl.lit(lo), pl.lit(hi), closed="both").cast(pl.Int32)
            for lo, hi in ranges
        ).alias("n")
    )
    assert hits["n"].to_list() == [1] * keys.height
    assert partitions.key_ranges(work, "vehicle_tracks", 1) == [None]
    # more partitions than trucks: one range per truck at most
    plates = scan_bulk(work, "vehicle_tracks").select(pl.col("plate").n_unique()).collect().item()
    assert len(partitions.key_ranges(work, "vehicle_tracks", plates + 50)) == plates


def test_partitioned_signals_equal_the_whole_run(sample_ingested):
    report, work = sample_ingested
    as_of: dt.date = report.as_of
    whole_m = partitions.meter_signals(work, as_of, _cfg(1))
    split_m = partitions.meter_signals(work, as_of, _cfg(5))
    key = "account_id"
    assert split_m.sort(key).equals(whole_m.sort(key))
    whole_s = partitions.stay_points(work, as_of, _cfg(1))
    split_s = partitions.stay_points(work, as_of, _cfg(6))
    assert whole_s.height > 100
    assert split_s.equals(whole_s)


def test_a_big_series_gets_more_partitions(sample_ingested):
    _, work = sample_ingested
    rows = scan_bulk(work, "power_readings").select(pl.len()).collect().item()
    scale = {"partitions": 1, "rows_per_partition": {"power_readings": -(-rows // 3)}}
    # a third of the rows a partition: 3 ranges, though 1 was asked for
    assert len(partitions.ranges(work, "power_readings", scale)) == 3
    # an explicit count above what the rows need wins
    assert len(partitions.ranges(work, "power_readings", scale, wanted=6)) == 6
    scale = {"partitions": 1, "rows_per_partition": {"vehicle_tracks": 10**9}}
    assert partitions.ranges(work, "vehicle_tracks", scale) == [None]
