"""Meter-days kept at ingest beside each stored part of the readings (issue 17): re-summed
across parts they equal the daily totals of the stored readings, even where a day is split
across files and a later file re-sends readings; the power signals read them and give what
the readings give; a warehouse without them (written by an older version) still works."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from screening.ingest import ingest_bundle
from screening.ingest.bundle import _data_end
from screening.pipeline import partitions
from screening.settings import load_config, load_settings
from screening.signals import power
from screening.store import catalog
from screening.store.warehouse import PART_ROWS, scan_bulk, stored_days, write_parquet

from .conftest import make_bundle, write_source

AS_OF = dt.date(2021, 8, 3)
# a few dozen readings a batch: every file is staged in several batches, each checked
# against the batches and files before it
SETTINGS = load_settings().replace(ingest={"batch_rows": 40, "bulk_row_group_rows": 16})


def _hours(account: str, day: int, hours: range, kwh: float = 1.25) -> list[dict]:
    return [
        {"account_id": account, "ts": f"2021-08-{day:02d} {h:02d}:00:00", "kwh": kwh + h / 100}
        for h in hours
    ]


def _quarters(account: str, day: int) -> list[dict]:
    return [
        {
            "account_id": account,
            "ts": f"2021-08-{day:02d} {q // 4:02d}:{q % 4 * 15:02d}:00",
            "kwh": 0.1 + q / 1000,
        }
        for q in range(96)
    ]


def _split_bundle(folder: Path) -> Path:
    """Readings cut so that meter-days span parts: an account batch holds meter A's 3 August
    up to noon only, a late correction brings its afternoon, re-sends six of its morning
    readings unchanged (collapsed) and one with another value (quarantined, the stored one
    kept); a second batch re-sends B's 2 August whole and holds meter C read every 15
    minutes."""
    bundle = make_bundle(folder, skip=("power_readings",))
    readings = bundle / "power_readings"
    first = [r for d in (1, 2) for a in "AB" for r in _hours(f"34000{a}", d, range(24))]
    first += _hours("34000A", 3, range(12)) + _hours("34000B", 3, range(24))
    write_source(readings, "batch-1", first, fmt="parquet")
    late = _hours("34000A", 3, range(12, 24)) + _hours("34000A", 3, range(6))
    late += _hours("34000A", 3, range(6, 7), kwh=9.0)
    write_source(readings, "late-0803", late, fmt="csv")
    second = _hours("34000B", 2, range(24)) + [r for d in (1, 2, 3) for r in _quarters("34000C", d)]
    write_source(readings, "batch-2", second, fmt="parquet")
    return bundle


@pytest.fixture(scope="module")
def split_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("days")
    work = root / "work"
    ingest_bundle(_split_bundle(root / "bundle"), work, SETTINGS, incremental=True)
    return work


def _key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("account_id", "day")


def test_stored_days_re_summed_equal_the_stored_readings_per_day(split_work):
    have, lack = stored_days(split_work, "power_readings")
    parts = sorted(catalog.bulk_dir(split_work, "power_readings").glob("*.parquet"))
    assert not lack and len(have) == len(parts) > 3  # several batches per file
    stored = pl.concat([pl.read_parquet(f) for f in have])
    # in the parts' order, by meter and day: a key range skips the other meters' row groups
    assert all(
        pl.read_parquet(f).equals(pl.read_parquet(f).sort("account_id", "day")) for f in have
    )
    # the test means something: a meter-day appears in more than one part's days
    split = stored.group_by("account_id", "day").len().filter(pl.col("len") > 1)
    assert split.height >= 2
    readings = scan_bulk(split_work, "power_readings")
    got = _key(power.resum_days(stored.lazy()).collect())
    want = _key(power.meter_days(readings).collect())
    assert got.equals(want)
    # each reading counted once: the re-sent ones collapsed, the clashing one left out
    a3 = got.filter((pl.col("account_id") == "34000A") & (pl.col("day") == dt.date(2021, 8, 3)))
    assert a3["n_intervals"].item() == 24
    assert a3["kwh_micro"].item() == sum(1_250_000 + h * 10_000 for h in range(24))
    assert got["n_intervals"].sum() == readings.select(pl.len()).collect().item() == 24 * 6 + 96 * 3
    c = got.filter(pl.col("account_id") == "34000C")
    assert c["interval_min"].to_list() == [15, 15, 15] and c["n_intervals"].to_list() == [96] * 3
    # and they are the daily totals the signals use, over their window
    cfg = load_config()["power"]
    daily = power.daily_from_days(stored.lazy(), AS_OF, cfg).collect()
    assert _key(daily).equals(_key(power.daily_energy(readings, AS_OF, cfg).collect()))


def test_signals_from_stored_days_equal_those_from_the_readings(split_work):
    cfg = load_config()
    readings = scan_bulk(split_work, "power_readings")
    want = power.meter_signals(readings, AS_OF, cfg["power"]).sort("account_id")
    got = partitions.meter_part(split_work, AS_OF, cfg, None).sort("account_id")
    assert got.height == 3 and got.equals(want)
    bounds = partitions.key_ranges(split_work, "power_readings", 2)
    assert len(bounds) == 2
    split = partitions.concat([partitions.meter_part(split_work, AS_OF, cfg, b) for b in bounds])
    assert split.sort("account_id").equals(want)


def _copy(work: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(work, to)
    return to


def test_a_warehouse_without_stored_days_computes_them_from_the_readings(split_work, tmp_path):
    cfg = load_config()
    want = partitions.meter_part(split_work, AS_OF, cfg, None).sort("account_id")
    old = _copy(split_work, tmp_path / "old")
    days_dir = catalog.bulk_dir(old, "power_readings") / catalog.DAYS_DIR
    files = sorted(days_dir.glob("*.parquet"))
    # one part's days missing, another's stale (it sums fewer readings than its part holds):
    # both are computed from that part's readings, the others are read
    files[0].unlink()
    stale = pl.read_parquet(files[1]).head(1)
    write_parquet(stale, files[1], metadata={PART_ROWS: "1"})
    have, lack = stored_days(old, "power_readings")
    assert len(lack) == 2 and len(have) == len(files) - 2
    assert lack[0].name == files[0].name and lack[0].parent == days_dir.parent
    assert partitions.meter_part(old, AS_OF, cfg, None).sort("account_id").equals(want)
    # none kept at all, as an older version wrote the warehouse: the readings, in one pass
    for f in days_dir.glob("*.parquet"):
        f.unlink()
    assert partitions.meter_days(old, None) is None
    assert partitions.meter_part(old, AS_OF, cfg, None).sort("account_id").equals(want)
    # the screening date, from the days' counts or from the readings: the same
    for share in (0.5, 1.0):
        ends = [
            _data_end(sorted(catalog.bulk_dir(w, "power_readings").glob("*.parquet")), share)
            for w in (split_work, old)
        ]
        assert ends[0] == ends[1]


def test_the_next_ingest_adds_the_days_an_older_version_did_not_keep(tmp_path):
    bundle = _split_bundle(tmp_path / "bundle")
    work = tmp_path / "work"
    ingest_bundle(bundle, work, SETTINGS, incremental=True)
    have, _ = stored_days(work, "power_readings")
    kept = {f.name: pl.read_parquet(f) for f in have}
    for f in have:  # the warehouse as an older version left it
        f.unlink()
    again = ingest_bundle(bundle, work, SETTINGS, incremental=True)
    assert again.summary.filter(pl.col("source") == "power_readings")["rows_read"].item() == 0
    have, lack = stored_days(work, "power_readings")
    assert not lack and {f.name: pl.read_parquet(f) for f in have}.keys() == kept.keys()
    assert all(pl.read_parquet(f).equals(kept[f.name]) for f in have)


def test_a_night_adds_only_the_new_day_s_days_and_drops_a_removed_file_s(tmp_path):
    bundle = make_bundle(tmp_path / "bundle", skip=("power_readings",))
    for d in (1, 2):
        rows = _hours("34000A", d, range(24))
        write_source(bundle / "power_readings", f"day-{d:02d}", rows, fmt="parquet")
    work = tmp_path / "work"
    ingest_bundle(bundle, work, incremental=True)
    days_dir = catalog.bulk_dir(work, "power_readings") / catalog.DAYS_DIR
    before = {f.name: os.stat(f).st_ino for f in days_dir.glob("*.parquet")}
    assert len(before) == 2
    write_source(bundle / "power_readings", "day-03", _hours("34000A", 3, range(24)), fmt="parquet")
    ingest_bundle(bundle, work, incremental=True)
    after = {f.name: os.stat(f).st_ino for f in days_dir.glob("*.parquet")}
    assert len(after) == 3 and all(after[n] == ino for n, ino in before.items())
    (new,) = set(after) - set(before)
    assert pl.read_parquet(days_dir / new)["day"].to_list() == [dt.date(2021, 8, 3)]
    (bundle / "power_readings" / "day-01.parquet").unlink()
    ingest_bundle(bundle, work, incremental=True)
    have, lack = stored_days(work, "power_readings")
    assert not lack and len(have) == 2 == len(list(days_dir.glob("*.parquet")))
    days = pl.concat([pl.read_parquet(f) for f in have])
    assert sorted(days["day"].to_list()) == [dt.date(2021, 8, 2), dt.date(2021, 8, 3)]


def test_orphan_days_are_swept_when_the_series_is_stored_again(split_work, tmp_path):
    """Days whose part is gone (a version that did not keep them dropped the part) are never
    read, and the next store removes them."""
    work = _copy(split_work, tmp_path / "w")
    days_dir = catalog.bulk_dir(work, "power_readings") / catalog.DAYS_DIR
    orphan = days_dir / "0000000000000000.parquet"
    write_parquet(pl.read_parquet(next(days_dir.glob("*.parquet"))), orphan)
    have, _ = stored_days(work, "power_readings")
    assert orphan not in have
    from screening.store.warehouse import Warehouse

    with Warehouse(work) as wh:
        keep = {p.stem.split("-")[0] for p in wh.parts("power_readings")}
        wh.store_parts("power_readings", [], keep)
    assert not orphan.exists() and len(stored_days(work, "power_readings")[0]) == len(have)
