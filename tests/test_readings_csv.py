"""A county's readings rewritten as the grid company exports them (GB18030 wide-hourly
``.csv.gz``, ``screening.sample.layouts.write_csv_bundle``) are the same readings: ingested,
they give the same meter-days as the Parquet they were written from, and screened, the same
lead list, whether the readings are exported whole or as an agency folder's history and last
day apart (what bench/city_bench.py's CSV mode screens)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from screening.ingest import ingest_bundle
from screening.pipeline import run_screening
from screening.sample import generate
from screening.sample.layouts import write_csv_bundle
from screening.signals import power
from screening.store.warehouse import stored_days

LAST_DAY = dt.date(2021, 8, 31)  # the tiny county's screening date


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny plain county (hourly and daily meters, Parquet); the same with its readings as
    the history and the last day's file; each of them with its readings as CSV."""
    root = tmp_path_factory.mktemp("readings-csv")
    plain = root / "parquet"
    generate(plain, seed=3, size="tiny", messy=False)
    split = root / "split"
    shutil.copytree(plain, split, ignore=shutil.ignore_patterns("power_readings.parquet"))
    readings = pl.read_parquet(plain / "power_readings.parquet")
    day = pl.col("ts").dt.date() == LAST_DAY
    (split / "power_readings").mkdir()
    readings.filter(~day).write_parquet(split / "power_readings" / "history.parquet")
    readings.filter(day).write_parquet(split / "power_readings" / f"readings-{LAST_DAY}.parquet")
    return {
        "parquet": plain,
        "csv": write_csv_bundle(plain, root / "csv"),
        "csv by file": write_csv_bundle(split, root / "csv-by-file", root / "utf8", by_file=True),
    }


def _meter_days(bundle: Path, work: Path) -> pl.DataFrame:
    ingest_bundle(bundle, work)
    have, lack = stored_days(work, "power_readings")
    assert have and not lack
    days = power.resum_days(pl.scan_parquet(have)).collect()
    return days.sort("account_id", "day")


def test_the_export_is_gb18030_wide_hourly_with_the_last_day_apart(bundles, tmp_path):
    folder = bundles["csv by file"] / "power_readings"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "history_daily.csv.gz",
        "history_wide_hourly_1.csv.gz",
        "history_wide_hourly_2.csv.gz",
        f"readings-{LAST_DAY}_daily.csv.gz",
        f"readings-{LAST_DAY}_wide_hourly_1.csv.gz",
    ]
    with gzip.open(folder / "history_wide_hourly_1.csv.gz") as fh:
        header = fh.readline()
    assert header.decode("gb18030").startswith("户号,日期,h00,h01")
    twin = sorted((bundles["csv by file"].parent / "utf8").iterdir())
    assert [p.name for p in twin] == names
    with gzip.open(twin[1]) as fh:
        assert fh.readline() == header.decode("gb18030").encode("utf-8")
    # the GPS tracks are left as they were
    assert (bundles["csv by file"] / "vehicle_tracks.parquet").exists()


def test_meter_days_from_csv_equal_those_from_parquet(bundles, tmp_path):
    want = _meter_days(bundles["parquet"], tmp_path / "parquet")
    assert want.height > 10_000 and want["n_intervals"].n_unique() == 2  # hourly and daily
    for name in ("csv", "csv by file"):
        assert _meter_days(bundles[name], tmp_path / name).equals(want), name


def test_the_lead_list_from_csv_is_the_parquet_one(bundles, tmp_path):
    runs = {name: tmp_path / name.replace(" ", "-") for name in ("parquet", "csv by file")}
    leads = {name: run_screening(bundles[name], run).leads for name, run in runs.items()}
    assert leads["parquet"].height > 0
    files = [(run / "leads.csv").read_bytes() for run in runs.values()]
    assert files[0] == files[1]
