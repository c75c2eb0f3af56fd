"""The daily series each partition of meters keeps between nights (issue 17,
``scale.series_cache``): a night that extends it gives the signals and the lead list a fresh
full run gives; a removed or changed file makes it sum everything again, still equal; the
switch off gives the same as on and leaves the cache alone; the first night builds it; the
caches of another partitioning are removed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pyarrow.parquet as pq
import pytest

from screening.ingest import ingest_bundle
from screening.pipeline import partitions, run_screening
from screening.settings import load_settings
from screening.signals import cache, power
from screening.store import catalog
from screening.store.warehouse import PART_ROWS, Warehouse, stored_days, write_parquet

from .conftest import SAMPLE, put_back, split_last_day

ON = load_settings().replace(scale={"partitions": 3, "series_cache": True})
OFF = ON.replace(scale={"series_cache": False})


def _folder(work: Path, settings=ON) -> Path:
    return catalog.series_cache_dir(work) / cache.shape_key(settings.power)


def _manifest(work: Path) -> dict:
    return json.loads((_folder(work) / partitions.MANIFEST).read_text(encoding="utf-8"))


def _kept(work: Path) -> pl.DataFrame:
    """The kept series as its manifest names it, in key order."""
    files = [_folder(work) / s.file for s in cache.segments_of(_manifest(work))]
    return pl.read_parquet(files).sort("account_id", "day")


def _summed(work: Path, first: dt.date) -> pl.DataFrame:
    """What the kept series must be: every stored meter-days file summed."""
    have, _ = stored_days(work, "power_readings")
    return cache.full_series(pl.scan_parquet(have), first).collect().sort("account_id", "day")


def _signals(work: Path, as_of: dt.date, settings) -> pl.DataFrame:
    return partitions.meter_signals(work, as_of, settings).sort("account_id")


def _features(run_dir: Path) -> pl.DataFrame:
    with Warehouse(run_dir, read_only=True) as wh:
        return wh.table("power_features").sort("account_id")


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The sample's history screened into a kept warehouse with the cache on (3 partitions),
    then the last day's files added and screened again; and the whole bundle screened once
    into a fresh warehouse: the reference."""
    root = tmp_path_factory.mktemp("series")
    bundle = root / "bundle"
    shutil.copytree(SAMPLE, bundle)
    # screened as of the readings' last day, so that the second night's window moves on
    manifest = bundle / "manifest.toml"
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    manifest.write_text("".join(x for x in lines if not x.startswith("as_of")), encoding="utf-8")
    split_last_day(bundle, root / "held")
    work = root / "work"
    first = run_screening(bundle, root / "night1", ON, work_dir=work)
    before = _manifest(work)
    files_before = set(stored_days(work, "power_readings")[0])
    put_back(root / "held", bundle)
    second = run_screening(bundle, root / "night2", ON, work_dir=work)
    # a one-off run: its warehouse is built from scratch, so it keeps no series
    fresh = run_screening(bundle, root / "fresh", ON)
    new_files = {p.name for p in set(stored_days(work, "power_readings")[0]) - files_before}
    return SimpleNamespace(
        root=root,
        bundle=bundle,
        work=work,
        first=first,
        second=second,
        fresh=fresh,
        before=before,
        after=_manifest(work),
        new_files=new_files,
        as_of=second.ingest.as_of,
    )


def _copy(work: Path, to: Path) -> Path:
    shutil.copytree(work, to)
    return to


def test_the_first_night_builds_the_cache_a_range_at_a_time(nights):
    m = nights.before
    assert m["how"] == "full" and m["reason"] == "no kept series"
    assert nights.first.ingest.as_of == dt.date(2021, 8, 30)
    first = power.series_start(nights.first.ingest.as_of, ON.power)
    assert m["first_day"] == first.isoformat()
    # one segment per day and range of the 3 partitions, the ranges open at the ends
    segments = cache.segments_of(m)
    ranges = sorted({(s.lo or "", s.hi or "~") for s in segments})
    assert len(ranges) == 3 and ranges[0][0] == "" and ranges[-1][1] == "~"
    assert len(segments) == 3 * len({s.day for s in segments}) > 3 * 20
    folder = _folder(nights.work)
    for s in segments[:9]:
        frame = pl.read_parquet(folder / s.file)
        assert frame["day"].unique().to_list() == [dt.date.fromisoformat(s.day)]
        assert frame.filter(~cache.in_chunk(s.lo, s.hi)).height == 0


def test_a_night_with_the_cache_equals_a_fresh_full_run(nights):
    # the night really extended the kept series with its new files alone
    assert nights.new_files and nights.after["how"] == "extend"
    assert set(nights.after["added"]) == nights.new_files
    # and the kept series is what summing every file gives, over the moved window
    first = power.series_start(nights.as_of, ON.power)
    assert nights.after["first_day"] == first.isoformat() > nights.before["first_day"]
    assert _kept(nights.work).equals(_summed(nights.work, first))
    assert _features(nights.work).equals(_features(nights.root / "fresh"))
    assert not catalog.series_cache_dir(nights.root / "fresh").exists()
    night = (nights.root / "night2" / catalog.LEADS_CSV).read_bytes()
    assert night == (nights.root / "fresh" / catalog.LEADS_CSV).read_bytes()
    assert nights.second.leads.height > 0
    # the folder holds the files the manifest names, no more
    names = {s.file for s in cache.segments_of(nights.after)}
    assert {p.name for p in _folder(nights.work).glob("*.parquet")} == names


def test_the_switch_off_gives_the_same_signals_and_leaves_the_cache_alone(nights, tmp_path):
    work = _copy(nights.work, tmp_path / "work")
    root = catalog.series_cache_dir(work)
    (root / "0123456789abcdef").mkdir()  # not even a stale folder is removed
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    off = _signals(work, nights.as_of, OFF)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps
    assert off.height > 0 and off.equals(_signals(work, nights.as_of, ON))
    assert not (root / "0123456789abcdef").exists()


def test_a_copied_warehouse_keeps_its_cache(nights, tmp_path):
    """Files written again with the same bytes (a copy, a full re-ingest of the same files)
    are the files the series was summed from."""
    work = _copy(nights.work, tmp_path / "work")
    want = _signals(work, nights.as_of, OFF)
    assert _signals(work, nights.as_of, ON).equals(want)
    assert _manifest(work)["how"] == "extend" and not _manifest(work)["added"]


def test_another_partitioning_reads_the_same_kept_series(nights, tmp_path):
    """More partitions, or new meters that move the ranges: the series is not tied to them."""
    work = _copy(nights.work, tmp_path / "work")
    for parts in (2, 5, 1):
        other = ON.replace(scale={"partitions": parts})
        assert _signals(work, nights.as_of, other).equals(_signals(work, nights.as_of, OFF))
        assert _manifest(work)["how"] == "extend"


def test_a_removed_file_sums_everything_again(nights, tmp_path):
    work = _copy(nights.work, tmp_path / "work")
    bundle = shutil.copytree(nights.bundle, tmp_path / "bundle")
    (bundle / "power_readings" / "quarter_hourly.csv.gz").unlink()
    report = ingest_bundle(bundle, work, incremental=True)
    got = _signals(work, report.as_of, ON)
    m = _manifest(work)
    assert m["how"] == "full" and "removed or changed" in m["reason"]
    assert got.equals(_signals(work, report.as_of, OFF))
    # nothing of the removed file's meters is left
    assert _kept(work).equals(_summed(work, power.series_start(report.as_of, ON.power)))
    fresh = ingest_bundle(bundle, tmp_path / "fresh")
    assert got.equals(_signals(tmp_path / "fresh", fresh.as_of, OFF))


def test_a_file_stored_again_with_other_rows_sums_everything_again(nights, tmp_path):
    work = _copy(nights.work, tmp_path / "work")
    have, _ = stored_days(work, "power_readings")
    # a part's meter-days re-written under the same name with one day's kWh changed (a
    # re-stored part whose checks kept another reading)
    days = pl.read_parquet(have[0])
    changed = days.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("kwh_micro") + 7_000_000)
        .otherwise(pl.col("kwh_micro"))
    )
    rows = (pq.read_metadata(have[0]).metadata or {})[PART_ROWS.encode()].decode()
    write_parquet(changed, have[0], metadata={PART_ROWS: rows})
    assert stored_days(work, "power_readings")[0] == have  # still read as the part's days
    got = _signals(work, nights.as_of, ON)
    assert _manifest(work)["how"] == "full", _manifest(work)["reason"]
    assert got.equals(_signals(work, nights.as_of, OFF))
    assert not got.equals(_signals(nights.work, nights.as_of, OFF))  # the change is seen


def test_a_kept_series_of_another_window_is_removed(nights, tmp_path):
    work = _copy(nights.work, tmp_path / "work")
    root = catalog.series_cache_dir(work)
    (root / "0123456789abcdef").mkdir()  # a version of long ago
    (root / "digests.json").write_text("{}")  # and a file it kept
    longer = ON.replace(power={"history_days": 150})
    got = _signals(work, nights.as_of, longer)
    assert [p.name for p in root.iterdir()] == [cache.shape_key(longer.power)]
    m = json.loads((_folder(work, longer) / partitions.MANIFEST).read_text(encoding="utf-8"))
    assert m["how"] == "full" and m["reason"] == "no kept series"
    assert got.equals(_signals(work, nights.as_of, longer.replace(scale={"series_cache": False})))


# ---------------------------------------------------------------- the logic on small frames


def _days(rows: list[tuple[str, int, int, int]]) -> pl.DataFrame:
    """Meter-days of one file: (account, day of August, kWh in micro-kWh, readings)."""
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "day": [dt.date(2021, 8, r[1]) for r in rows],
            "kwh_micro": [r[2] for r in rows],
            "n_intervals": pl.Series([r[3] for r in rows], dtype=pl.UInt32),
            "interval_min": pl.Series([60] * len(rows), dtype=pl.Int32),
        }
    )


def test_extending_sums_the_touched_days_exactly():
    a = _days([("A", 1, 5, 24), ("A", 2, 7, 12), ("B", 2, 3, 24)])
    b = _days([("A", 2, 11, 12), ("B", 3, 2, 24)])
    # the night's file: a late correction of A's 2 August and a new day
    c = _days([("A", 2, 1, 1), ("A", 4, 9, 24), ("B", 4, 4, 24)])
    first = dt.date(2021, 8, 2)
    kept = cache.full_series(pl.concat([a, b]).lazy(), first).collect()
    assert kept["day"].min() == first  # the day before the window is dropped
    added = c.filter(pl.col("day") >= first)
    assert cache.touched_days(added) == ["2021-08-02", "2021-08-04"]
    touched = pl.col("day").is_in([dt.date(2021, 8, 2), dt.date(2021, 8, 4)])
    redone = cache.extend(kept.lazy().filter(touched), added)
    assert redone.equals(redone.sort("account_id", "day"))  # in meter order
    series = pl.concat([kept.filter(~touched), redone])
    want = cache.full_series(pl.concat([a, b, c]).lazy(), first).collect()
    assert series.sort("account_id", "day").equals(want.sort("account_id", "day"))
    a2 = series.filter((pl.col("account_id") == "A") & (pl.col("day") == dt.date(2021, 8, 2)))
    assert a2["kwh_micro"].item() == 19 and a2["n_intervals"].item() == 25
    # a day that enters, nothing kept of it
    assert (
        cache.extend(None, added)
        .sort("account_id", "day")
        .equals(cache.full_series(added.lazy(), first).collect().sort("account_id", "day"))
    )


def test_the_plan_extends_only_what_it_can_prove_unchanged():
    first = dt.date(2021, 6, 1)
    done = cache.Plan("full", reason="no kept series")
    files = {"x": [1, 2, 3, "1"], "y": [1, 2, 3, "2"]}
    seg = cache.Segment("2021-06-01", None, None, "f")
    m = cache.manifest(first, files, [seg], done)
    assert cache.plan(None, {"x": "1"}, first).how == "full"
    assert cache.plan(m, {"x": "1", "y": "2", "z": "3"}, first) == cache.Plan("extend", ("z",))
    assert cache.plan(m, {"x": "1", "y": "2"}, dt.date(2021, 6, 2)).added == ()
    # a file gone, a file changed, an earlier night screened again
    assert cache.plan(m, {"x": "1"}, first).how == "full"
    assert cache.plan(m, {"x": "1", "y": "9"}, first).how == "full"
    assert cache.plan(m, {"x": "1", "y": "2"}, dt.date(2021, 5, 31)).how == "full"
    assert cache.segments_of(m) == [seg]
    assert cache.replaced([seg], dt.date(2021, 6, 2), (), ()) == []
    longer = ON.replace(power={"history_days": 150}).power
    assert cache.shape_key(ON.power) != cache.shape_key(longer)


def test_segments_hold_every_meter_once_whatever_the_ranges():
    assert cache.chunks([None]) == [(None, None)]
    assert cache.chunks([("a", "c"), ("d", "f"), ("g", "k")]) == [
        (None, "d"),
        ("d", "g"),
        ("g", None),
    ]
    lo, mid, hi = (
        cache.Segment("2021-06-01", *r, "f")
        for r in cache.chunks([("a", "c"), ("d", "f"), ("g", "k")])
    )
    assert [s.overlaps(("c", "d")) for s in (lo, mid, hi)] == [True, True, False]
    assert [s.overlaps(("e", "e")) for s in (lo, mid, hi)] == [False, True, False]
    assert [s.overlaps(("f", "z")) for s in (lo, mid, hi)] == [False, True, True]
    assert all(s.overlaps(None) for s in (lo, mid, hi))
