"""A real load curve: one steel plant's 15-minute energy through 2018 (UCI "Steel Industry
Energy Consumption", in the real-data folder beside the repository), as one industrial meter
of a bundle.

The expected figures are computed here from the raw CSV with the standard library, by the
definitions config.toml and the README give (recent 14 days; night 22:00-06:00; flatness =
quietest over busiest hour of the average day; an hour is high above half the peak hour,
the peak being the 95th-percentile hour; load factor = mean hour / peak), never by calling
the library. The plant runs two day shifts (08-12, 13-21) on a base load that never stops,
works less on Saturdays and little on Sundays, and shuts for holidays (Seollal, the first
days of August, Chuseok): the signals must read a day-shift industrial load, and no shutdown
may pass for a level shift or a wake-up.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from screening.ingest import ingest_bundle
from screening.pipeline import build_sites, score_run
from screening.settings import load_config
from screening.signals import power
from screening.store.warehouse import Warehouse

from .conftest import BASE, write_source

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "steel_plant_15min.csv"
pytestmark = pytest.mark.skipif(not REAL.exists(), reason="real data not on this machine")

ACCOUNT = "GW-STEEL-01"
USCC = "91341302MA2T0STE1X"  # made up; its check digit is not checked here (a warning)
SPRING, AUTUMN = dt.date(2018, 4, 29), dt.date(2018, 11, 25)  # Sundays: two whole weeks


# ---------------------------------------------------------------- the file, read by hand


def _raw_rows() -> list[dict[str, str]]:
    with REAL.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _stamp(text: str) -> dt.datetime:
    day_part, time_part = text.split(" ")
    d, m, y = (int(x) for x in day_part.split("/"))
    hh, mm = (int(x) for x in time_part.split(":"))
    return dt.datetime(y, m, d, hh, mm)


def _interval_start(text: str) -> dt.datetime:
    """The file stamps the END of each quarter hour, and writes a day's last one, 24:00, as
    0:00 of that same day (see test_the_file_stamps_the_end_of_each_interval)."""
    end = _stamp(text)
    if end.time() == dt.time(0, 0):
        end += dt.timedelta(days=1)
    return end - dt.timedelta(minutes=15)


def _written(ts: dt.datetime) -> str:
    """The file's own way of writing a time: d/m/yyyy H:MM."""
    return f"{ts.day}/{ts.month}/{ts.year} {ts.hour}:{ts.minute:02d}"


@pytest.fixture(scope="module")
def quarters() -> list[tuple[dt.datetime, float]]:
    return [(_interval_start(r["date"]), float(r["Usage_kWh"])) for r in _raw_rows()]


def expected(quarters: list[tuple[dt.datetime, float]], as_of: dt.date) -> dict[str, float]:
    lo = dt.datetime.combine(as_of - dt.timedelta(days=13), dt.time())
    hi = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    hours: dict[dt.datetime, float] = defaultdict(float)
    for start, kwh in quarters:
        if lo <= start < hi:
            hours[start.replace(minute=0)] += kwh
    values = sorted(hours.values())
    total = sum(values)
    peak = values[round(0.95 * (len(values) - 1))]
    days = len({h.date() for h in hours})
    by_clock: dict[int, list[float]] = defaultdict(list)
    for h, kwh in hours.items():
        by_clock[h.hour].append(kwh)
    mean_by_clock = [sum(v) / len(v) for v in by_clock.values()]
    return {
        "night_share": sum(k for h, k in hours.items() if h.hour >= 22 or h.hour < 6) / total,
        "weekend_share": sum(k for h, k in hours.items() if h.weekday() >= 5) / total,
        "flatness": min(mean_by_clock) / max(mean_by_clock),
        "high_hours_per_day": sum(k > 0.5 * peak for k in values) / days,
        "load_factor": total / len(values) / peak,
        "daily_kwh_recent": total / days,
    }


# ---------------------------------------------------------------- the bundle


def steel_bundle(folder: Path, as_of: dt.date, quarters) -> Path:
    """The contract's required sources, minimal, with the plant as one industrial meter
    whose readings are the file's, in the long layout, stamped as the file writes dates but
    at the start of each interval as the contract wants."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(
        f'region = "steel plant"\nas_of = "{as_of.isoformat()}"\n'
        # the plant's local time; no daylight saving there since 1988
        'timezone = "Asia/Seoul"\n',
        encoding="utf-8",
    )
    raw = _raw_rows()
    readings = pl.DataFrame(
        {
            "account_id": [ACCOUNT] * len(raw),
            "ts": [_written(start) for start, _ in quarters],
            "kwh": [r["Usage_kWh"] for r in raw],  # as written
        }
    )
    write_source(folder, "power_readings", readings, encoding="utf-8-sig")
    write_source(
        folder,
        "registrations",
        [
            {
                "uscc": USCC,
                "name": "光阳钢铁有限公司",
                "address": "临港工业区钢城路1号",
                "lon": 117.05,
                "lat": 33.62,
                "industry_code": "C3120",  # steel making
                "scope": "钢铁冶炼、压延加工；金属材料销售",
                "status": "存续",
                "established": "2005-06-01",
            },
            *BASE["registrations"],
        ],
    )
    write_source(
        folder,
        "permits",
        [
            {
                "permit_id": "皖WH使许证字[2017]007",
                "uscc": USCC,
                "kind": "使用许可",
                "scope": "氧气、氮气、氩气",
                "valid_from": "2017-01-01",
                "valid_to": "2020-01-01",
                "address": "临港工业区钢城路1号",
                "lon": 117.05,
                "lat": 33.62,
            },
            *BASE["permits"],
        ],
    )
    write_source(
        folder,
        "power_accounts",
        [
            {
                "account_id": ACCOUNT,
                "name": "光阳钢铁有限公司",
                "address": "临港工业区钢城路1号",
                "tariff": "大工业用电",
                "capacity_kva": "800",  # its peak quarter hour is 157 kWh, 630 kW
                "phase": "三相",
                "uscc": USCC,
                "lon": 117.0501,
                "lat": 33.6201,
            },
            *BASE["power_accounts"],
        ],
    )
    for name in ("vehicles", "vehicle_tracks", "idle_properties"):
        write_source(folder, name, BASE[name])
    return folder


@pytest.fixture(scope="module", params=[SPRING, AUTUMN], ids=["spring", "autumn"])
def screened(request, tmp_path_factory, quarters):
    """(as_of, ingest report, work_dir) after ingest, signals, sites and scores."""
    root = tmp_path_factory.mktemp(f"steel-{request.param}")
    bundle = steel_bundle(root / "bundle", request.param, quarters)
    report = ingest_bundle(bundle, root / "work")
    build_sites(root / "work")
    score_run(root / "work")
    return request.param, report, root / "work"


def _meter(work: Path) -> dict[str, object]:
    with Warehouse(work) as wh:
        rows = wh.table("power_features").filter(pl.col("account_id") == ACCOUNT)
    assert rows.height == 1
    return rows.row(0, named=True)


# ---------------------------------------------------------------- tests


def test_the_file_stamps_the_end_of_each_interval():
    """The first stamp is 0:15 (seconds since midnight 900), and each day's 0:00 row follows
    its 23:45 and is labelled with that day's weekday: it is 24:00, the day's last quarter."""
    raw = _raw_rows()
    assert raw[0]["date"] == "1/1/2018 0:15" and raw[0]["NSM"] == "900"
    assert [r["date"] for r in raw[93:96]] == ["1/1/2018 23:30", "1/1/2018 23:45", "1/1/2018 0:00"]
    assert raw[95]["Day_of_week"] == "Monday" and raw[96]["Day_of_week"] == "Tuesday"
    starts = [_interval_start(r["date"]) for r in raw]
    assert starts[0] == dt.datetime(2018, 1, 1) and starts[-1] == dt.datetime(2018, 12, 31, 23, 45)
    assert len(set(starts)) == 35040 == 365 * 96
    assert all(b - a == dt.timedelta(minutes=15) for a, b in itertools.pairwise(starts))


def test_ingest_reads_the_day_first_stamps(screened, quarters):
    _, report, work = screened
    assert report.problems.filter(pl.col("source") == "power_readings").height == 0
    with Warehouse(work) as wh:
        got = wh.scan_bulk("power_readings").filter(pl.col("account_id") == ACCOUNT).collect()
    assert got.height == 35040 and got["interval_min"].unique().to_list() == [15]
    assert got["ts"].min() == dt.datetime(2018, 1, 1) and got["ts"].max() == dt.datetime(
        2018, 12, 31, 23, 45
    )
    # 13/1/2018 0:15 is January 13th, not a 13th month; 1/2/2018 is February 1st
    by_ts = dict(zip(got["ts"], got["kwh"], strict=True))
    want = dict(quarters)
    for ts in (dt.datetime(2018, 1, 13, 0, 15), dt.datetime(2018, 2, 1, 0, 15)):
        assert by_ts[ts] == want[ts]
    assert got["kwh"].sum() == pytest.approx(sum(want.values()))


def test_signals_read_a_day_shift_industrial_load(screened, quarters):
    as_of, _, work = screened
    m = _meter(work)
    want = expected(quarters, as_of)
    for key in ("night_share", "weekend_share", "flatness", "load_factor", "daily_kwh_recent"):
        assert m[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key
    # one hour more or less over 14 days if the two 95th percentiles pick neighbouring hours
    assert m["high_hours_per_day"] == pytest.approx(want["high_hours_per_day"], abs=1 / 14)
    # what it is: a base load that never stops, two shifts by day, quieter weekends
    assert m["coverage"] == 1.0 and m["interval_coverage"] == 1.0 and m["zero_days"] == 0
    assert m["night_share"] < 0.1 and m["flatness"] < 0.1
    assert 6 <= m["high_hours_per_day"] <= 10
    assert m["weekend_share"] < 2 / 7  # below the weekend's share of the calendar
    assert 0.6 < m["level_ratio"] < 1.5


def test_shutdowns_are_neither_jumps_nor_wake_ups(screened):
    """The autumn history opens with the plant's August shutdown (1-5 August, 270 kWh a day
    of base load against ~2,800 on working days): a dip in a busy series, not a low level
    the plant jumped from."""
    _, _, work = screened
    m = _meter(work)
    assert m["wake_date"] is None
    assert not (m["jump_ratio"] >= 3 and m["jump_after"] >= 30)
    assert m["jump_ratio"] < 1.5


def test_no_screening_date_of_2018_makes_a_jump_or_a_wake_up(tmp_path, quarters):
    """Screening dates from February to December, on the ingested readings: before the
    jump context, ten dates (7-13 June after Seollal, 24-26 November after the August
    shutdown) read a 4-10x POWER_JUMP."""
    ingest_bundle(steel_bundle(tmp_path / "b", SPRING, quarters), tmp_path / "work")
    cfg = load_config()["power"]
    with Warehouse(tmp_path / "work") as wh:
        readings = wh.scan_bulk("power_readings").collect().lazy()
    days = pl.date_range(dt.date(2018, 2, 1), dt.date(2018, 12, 31), "3d", eager=True)
    extra = [dt.date(2018, 6, 10), dt.date(2018, 11, 25)]
    out = pl.concat(
        [
            power.meter_signals(readings, d, cfg).with_columns(as_of=pl.lit(d))
            for d in [*days, *extra]
        ]
    ).filter(pl.col("account_id") == ACCOUNT)
    assert out.height == len(days) + 2
    jumps = out.filter((pl.col("jump_ratio") >= 3) & (pl.col("jump_after") >= 30))
    assert jumps.height == 0, jumps.select("as_of", "jump_date", "jump_before", "jump_after")
    assert out["wake_date"].null_count() == out.height
    assert out["night_share"].max() < 0.45 and out["flatness"].max() < 0.6


def test_the_plant_is_not_a_lead_for_its_load(screened):
    _, _, work = screened
    with Warehouse(work) as wh:
        links = wh.table("site_links").filter(pl.col("record_id").str.contains(ACCOUNT))
        assert links.height == 1
        site = links["site_id"].item()
        reasons = wh.table("reasons").filter(pl.col("site_id") == site)
        score = wh.table("site_scores").filter(pl.col("site_id") == site).row(0, named=True)
        leads = wh.table("leads")
    power_rules = {"NIGHT_LOAD", "ROUND_THE_CLOCK", "POWER_JUMP", "DORMANT_WAKE"}
    assert not set(reasons["code"].to_list()) & power_rules
    assert score["activity_score"] == 0
    assert site not in leads["site_id"].to_list()


# ---------------------------------------------------------------- bad input around it


def test_corrupt_stamps_and_values_are_quarantined_the_rest_goes_on(tmp_path, quarters):
    bundle = steel_bundle(tmp_path / "b", SPRING, quarters)
    raw = _raw_rows()[: 96 * 14]  # two January weeks: 13/1/2018 and later prove day-first
    rows = [
        {"account_id": ACCOUNT, "ts": _written(start), "kwh": r["Usage_kWh"]}
        for (start, _), r in zip(quarters, raw, strict=False)
    ]
    rows[5]["ts"] = "32/1/2018 0:15"
    rows[6]["ts"] = ""
    rows[7]["kwh"] = "abc"
    rows[8]["ts"] = "13/13/2018 0:15"
    write_source(bundle, "power_readings", rows, encoding="utf-8-sig")
    report = ingest_bundle(bundle, tmp_path / "work")
    bad = report.problems.filter(pl.col("source") == "power_readings").sort("row")
    assert bad.select("file", "row", "field", "severity").rows() == [
        ("power_readings.csv", 6, "ts", "rejected"),
        ("power_readings.csv", 7, "ts", "rejected"),
        ("power_readings.csv", 8, "kwh", "rejected"),
        ("power_readings.csv", 9, "ts", "rejected"),
    ]
    assert "'32/1/2018 0:15'" in bad["reason"][0] and "missing" in bad["reason"][1]
    assert "'abc'" in bad["reason"][2]
    with Warehouse(tmp_path / "work") as wh:
        kept = wh.scan_bulk("power_readings").collect()
    assert kept.height == len(rows) - 4
    assert kept["ts"].max() == dt.datetime(2018, 1, 14, 23, 45)
    assert not [n for n in report.notes if "date_order" in n]


def test_day_month_order_unknown_throughout_is_not_guessed(tmp_path, quarters):
    """Ten January days, never a day above 12: 5/1/2018 may be 5 January or 1 May. The dates
    are quarantined with a note saying how to decide; the manifest's date_order decides."""
    raw = _raw_rows()[: 96 * 10]
    rows = [
        {"account_id": ACCOUNT, "ts": _written(start), "kwh": r["Usage_kWh"]}
        for (start, _), r in zip(quarters, raw, strict=False)
    ]
    bundle = steel_bundle(tmp_path / "b", dt.date(2018, 1, 10), quarters)
    write_source(bundle, "power_readings", rows, encoding="utf-8-sig")
    report = ingest_bundle(bundle, tmp_path / "work")
    bad = report.problems.filter(pl.col("source") == "power_readings")
    assert bad.height == len(rows) and set(bad["field"]) == {"ts"}
    note = next(n for n in report.notes if "date_order" in n)
    assert "power_readings.csv: ts" in note and "no value shows a day above 12" in note

    manifest = (bundle / "manifest.toml").read_text(encoding="utf-8")
    (bundle / "manifest.toml").write_text(manifest + 'date_order = "dmy"\n', encoding="utf-8")
    report = ingest_bundle(bundle, tmp_path / "work2")
    assert report.problems.filter(pl.col("source") == "power_readings").height == 0
    with Warehouse(tmp_path / "work2") as wh:
        ts = wh.scan_bulk("power_readings").select("ts").collect()["ts"]
    assert ts.min() == dt.datetime(2018, 1, 1) and ts.max() == dt.datetime(2018, 1, 10, 23, 45)


def test_an_unknown_date_order_stops_the_bundle(tmp_path, quarters):
    from screening.ingest import IngestError

    bundle = steel_bundle(tmp_path / "b", SPRING, quarters)
    with (bundle / "manifest.toml").open("a", encoding="utf-8") as fh:
        fh.write('date_order = "ymd"\n')
    with pytest.raises(IngestError, match="date_order 'ymd'"):
        ingest_bundle(bundle, tmp_path / "work")
