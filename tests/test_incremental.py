"""Incremental ingest: new files are read once (by content hash), unchanged ones are not
re-read, removed ones disappear, and the stored series equal a full ingest of the same files."""

from __future__ import annotations

import polars as pl

from screening.ingest import ingest_bundle
from screening.store.warehouse import Warehouse

from .conftest import BASE, make_bundle, write_source


def _tracks(day: int, offset_min: int = 0) -> list[dict]:
    return [
        {
            "plate": "皖LA1234",
            "ts": f"2021-08-{day:02d} 10:{m:02d}:00",
            "lon": 117.0 + m * 1e-4 + offset_min * 1e-3,
            "lat": 33.6,
            "speed_kmh": 20,
        }
        for m in range(0, 30, 5)
    ]


def _readings(day: int) -> list[dict]:
    return [
        {"account_id": "3400001", "ts": f"2021-08-{day:02d} {h:02d}:00:00", "kwh": 10 + h}
        for h in range(24)
    ]


def _bundle(tmp_path, days: list[int]):
    bundle = make_bundle(tmp_path / "bundle", skip=("vehicle_tracks", "power_readings"))
    for d in days:
        write_source(bundle / "vehicle_tracks", f"2021-08-{d:02d}", _tracks(d))
        write_source(bundle / "power_readings", f"day-{d:02d}", _readings(d), fmt="parquet")
    return bundle


def _series(work, name):
    with Warehouse(work) as wh:
        key = ["account_id", "ts"] if name == "power_readings" else ["plate", "ts"]
        return wh.scan_bulk(name).collect().sort(key)


def test_nights_add_up_to_a_full_ingest(tmp_path):
    bundle = _bundle(tmp_path, [1, 2])
    inc = tmp_path / "inc"
    first = ingest_bundle(bundle, inc, incremental=True)
    assert first.summary.filter(pl.col("source") == "vehicle_tracks")["files_reused"].item() == 0
    # the next night brings a third day
    write_source(bundle / "vehicle_tracks", "2021-08-03", _tracks(3))
    write_source(bundle / "power_readings", "day-03", _readings(3), fmt="parquet")
    second = ingest_bundle(bundle, inc, incremental=True)
    tracks = second.summary.filter(pl.col("source") == "vehicle_tracks").row(0, named=True)
    assert tracks["files_reused"] == 2 and tracks["rows_read"] == 6 and tracks["rows_kept"] == 18
    assert any("not re-read" in n for n in second.notes)
    full = ingest_bundle(bundle, tmp_path / "full")
    for name in ("vehicle_tracks", "power_readings"):
        assert _series(inc, name).equals(_series(tmp_path / "full", name)), name
    assert second.as_of == full.as_of
    with Warehouse(inc) as wh:
        assert len(wh.parts("vehicle_tracks")) == 3
        assert wh.read("SELECT count(*) AS n FROM power_readings")["n"].item() == 72


def test_unchanged_night_reads_nothing_and_removed_files_go(tmp_path):
    bundle = _bundle(tmp_path, [1, 2])
    inc = tmp_path / "inc"
    ingest_bundle(bundle, inc, incremental=True)
    again = ingest_bundle(bundle, inc, incremental=True)
    assert again.summary.filter(pl.col("source") == "power_readings")["rows_read"].item() == 0
    (bundle / "vehicle_tracks" / "2021-08-01.csv").unlink()
    after = ingest_bundle(bundle, inc, incremental=True)
    assert _series(inc, "vehicle_tracks")["ts"].dt.day().unique().to_list() == [2]
    assert after.summary.filter(pl.col("source") == "vehicle_tracks")["rows_kept"].item() == 6


def test_a_resent_file_with_other_values_is_quarantined_against_the_stored_one(tmp_path):
    bundle = _bundle(tmp_path, [1])
    inc = tmp_path / "inc"
    ingest_bundle(bundle, inc, incremental=True)
    # a corrected resend of day 1 under another name: same times, other positions
    write_source(bundle / "vehicle_tracks", "2021-08-01-resent", _tracks(1, offset_min=5))
    report = ingest_bundle(bundle, inc, incremental=True)
    clashes = report.problems.filter(pl.col("reason").str.contains("earlier kept"))
    assert clashes.height == 6 and set(clashes["source"]) == {"vehicle_tracks"}
    assert _series(inc, "vehicle_tracks").height == 6  # the stored values stay


def test_problems_of_unchanged_files_are_kept(tmp_path):
    bundle = _bundle(tmp_path, [1])
    write_source(
        bundle / "power_readings",
        "bad",
        [
            *BASE["power_readings"][:2],
            {"account_id": "3400001", "ts": "2021-08-05 00:00:00", "kwh": -3},
        ],
        fmt="csv",
    )
    inc = tmp_path / "inc"
    first = ingest_bundle(bundle, inc, incremental=True)
    second = ingest_bundle(bundle, inc, incremental=True)
    neg = lambda r: r.problems.filter(pl.col("reason").str.starts_with("negative"))  # noqa: E731
    assert neg(first).height == neg(second).height == 1
