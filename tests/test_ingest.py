"""Ingest on small bundles built in the test: formats, encodings, headers, layouts, CRS, and
each kind of bad row, always checking that the good rows around it still land."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.coords import from_wgs84, haversine_m
from screening.ingest import IngestError, ingest_bundle
from screening.store.warehouse import Warehouse

from .conftest import BASE, make_bundle, write_source


def _ingest(bundle: Path, tmp_path: Path):
    report = ingest_bundle(bundle, tmp_path / "work")
    return report, Warehouse(tmp_path / "work")


def _problems(report, source: str) -> pl.DataFrame:
    return report.problems.filter(pl.col("source") == source).sort("file", "row")


def test_clean_bundle_lands_typed(bundle, tmp_path):
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        regs = wh.table("registrations")
        assert regs["industry_code"].to_list() == ["C2614", "C1411"]
        assert regs["established"].to_list() == [dt.date(2019, 3, 5), dt.date(2018, 5, 1)]
        acc = wh.table("power_accounts").sort("account_id")
        assert acc["tariff"].to_list() == ["industrial", "commercial"]
        assert acc["phase"].to_list() == [3, 1]
        readings = wh.table("power_readings")
        assert readings.height == 27
        intervals = dict(
            readings.group_by("account_id").agg(pl.col("interval_min").first()).iter_rows()
        )
        assert intervals == {"3400001": 60, "3400002": 1440}
        assert wh.table("vehicles")["cargo_class"].to_list() == ["3"]
        assert wh.table("vehicle_tracks")["plate"].unique().to_list() == ["皖LA1234"]
        assert wh.meta()["as_of"] == "2021-08-03"
        assert wh.table("ingest_files").height == 7
    assert report.quarantined.height == 0
    assert set(report.absent) == {"sanctioned_sites", "tips", "townships"}


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "xlsx"])
def test_every_file_format(tmp_path, fmt):
    bundle = make_bundle(tmp_path / "b", skip=("registrations", "power_readings"))
    write_source(bundle, "registrations", BASE["registrations"], fmt=fmt)
    write_source(bundle, "power_readings", BASE["power_readings"], fmt=fmt)
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        assert wh.table("registrations")["name"].to_list() == [
            "宿州市甲新材料科技有限公司",
            "乙食品厂",
        ]
        assert wh.table("power_readings").height == 27
    assert report.quarantined.height == 0


def test_parquet_with_native_types(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    frame = pl.DataFrame(
        {
            "account_id": ["3400001"] * 3,
            "ts": [dt.datetime(2021, 8, 1, h) for h in range(3)],
            "kwh": [1.0, 2.0, 3.0],
        }
    )
    write_source(bundle, "power_readings", frame, fmt="parquet")
    _, wh = _ingest(bundle, tmp_path)
    with wh:
        assert wh.table("power_readings")["kwh"].to_list() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk"])
def test_encodings_are_detected(tmp_path, encoding):
    bundle = make_bundle(tmp_path / "b", skip=("registrations",))
    path = write_source(bundle, "registrations", BASE["registrations"], encoding=encoding)
    if encoding != "utf-8-sig":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        assert wh.table("registrations")["address"].to_list()[1] == "符离镇张庄村3组25号"
    files = report.files.filter(pl.col("source") == "registrations")
    assert files["encoding"].item() == ("utf-8" if encoding == "utf-8-sig" else "gb18030")


def test_folder_of_files_is_one_table(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("vehicle_tracks",))
    rows = BASE["vehicle_tracks"]
    write_source(bundle / "vehicle_tracks", "day1", rows[:3])
    write_source(bundle / "vehicle_tracks", "day2", rows[3:], fmt="csv.gz")
    write_source(bundle / "vehicle_tracks", "day2_again", rows[3:])  # resent file
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        tracks = wh.table("vehicle_tracks")
    # one part per file, each sorted by plate and time; the resent file's rows collapse
    assert tracks.height == 6 and tracks["ts"].n_unique() == 6
    for part in (tmp_path / "work" / "bulk" / "vehicle_tracks").glob("*.parquet"):
        assert pl.read_parquet(part)["ts"].is_sorted()
    stats = report.summary.filter(pl.col("source") == "vehicle_tracks").row(0, named=True)
    assert stats["files"] == 3 and stats["duplicates_collapsed"] == 3


def test_chinese_headers_and_manifest_rename(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_accounts",))
    rows = [
        {
            "用户户号": "3400001",
            "户名": "甲",
            "用电地址": "桃园镇",
            "用电类别": "大工业",
            "合同容量(kVA)": "315",
            "相线": "三相",
            "经度": "117.0",
            "纬度": "33.6",
        }
    ]
    write_source(bundle, "power_accounts", rows)
    (bundle / "manifest.toml").write_text(
        'region = "测试县"\n[columns]\npower_accounts = { "用户户号" = "account_id" }\n',
        encoding="utf-8",
    )
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        acc = wh.table("power_accounts").row(0, named=True)
    assert acc["account_id"] == "3400001" and acc["capacity_kva"] == 315.0 and acc["phase"] == 3
    assert report.manifest.region == "测试县"


def test_wide_layouts_unpivot_to_long(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    hourly = [{"account_id": "3400001", "date": "2021/8/1", **{f"h{h:02d}": h for h in range(24)}}]
    points = [
        {"户号": "3400002", "日期": "2021-08-01", **{f"p{p:02d}": 0.25 for p in range(1, 97)}}
    ]
    write_source(bundle / "power_readings", "hourly", hourly)
    write_source(bundle / "power_readings", "quarter", points, fmt="xlsx")
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        r = wh.table("power_readings")
    a = r.filter(pl.col("account_id") == "3400001")
    assert a.height == 24 and a["ts"][13] == dt.datetime(2021, 8, 1, 13)
    assert a["kwh"][13] == 13.0 and a["interval_min"].unique().to_list() == [60]
    b = r.filter(pl.col("account_id") == "3400002")
    assert b.height == 96 and b["ts"][1] == dt.datetime(2021, 8, 1, 0, 15)
    assert b["kwh"].sum() == pytest.approx(24.0) and b["interval_min"].unique().to_list() == [15]
    assert report.quarantined.height == 0


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_coordinates_are_converted_to_wgs84(tmp_path, crs):
    true_lon, true_lat = 117.01, 33.65
    lon, lat = (float(v) for v in from_wgs84(true_lon, true_lat, crs))
    rows = [dict(BASE["registrations"][0], lon=lon, lat=lat)]
    bundle = make_bundle(tmp_path / "b", registrations=rows)
    (bundle / "manifest.toml").write_text(f'crs = "{crs}"\n')
    _, wh = _ingest(bundle, tmp_path)
    with wh:
        got = wh.table("registrations").row(0, named=True)
        poly = wh.table("idle_properties")["geometry"].item()
    assert haversine_m(got["lon"], got["lat"], true_lon, true_lat) < 2.0
    assert poly.startswith("POLYGON") and "117.1 " not in poly  # vertices moved as well


def test_bad_rows_are_quarantined_and_good_rows_land(tmp_path):
    regs = [
        *BASE["registrations"],
        {
            "uscc": "91350100M000100Y44",
            "name": "丙化工",
            "address": "大店镇",
            "lon": 117.2,
            "lat": 33.7,
        },  # wrong check digit: warning only
        {"uscc": "", "name": "", "address": "无名", "lon": 117.0, "lat": 33.6},  # no name
        {
            "name": "丁厂",
            "address": "时村镇",
            "lon": 0,
            "lat": 0,
            "established": "2021-13-45",
            "industry_code": "abc",
            "status": "奇怪",
        },  # optional fields bad: warnings
        {"name": "戊厂", "address": "蒿沟镇", "lon": 33.61, "lat": 117.02},  # swapped
    ]
    readings = [
        *BASE["power_readings"],
        {"account_id": "3400001", "ts": "2021-08-02 00:00:00", "kwh": -4},
        {"account_id": "3400001", "ts": "2021-08-02 01:00:00", "kwh": "n/a"},
        {"account_id": "3400001", "ts": "not a time", "kwh": 3},
        {"account_id": "", "ts": "2021-08-02 03:00:00", "kwh": 3},
        {"account_id": "3400001", "ts": "2021-08-02 04:00:00", "kwh": 1e7},
        {"account_id": "3400001", "ts": "2021-08-02 05:00:00", "kwh": 5},
        {"account_id": "3400001", "ts": "2021-08-02 05:00:00", "kwh": 6},  # clash
        {"account_id": "3400001", "ts": "2021-08-02 06:00:00", "kwh": 7},
        {"account_id": "3400001", "ts": "2021-08-02 06:00:00", "kwh": 7},  # exact duplicate
    ]
    accounts = [*BASE["power_accounts"], dict(BASE["power_accounts"][0], name="另一个户名")]
    tracks = [
        *BASE["vehicle_tracks"],
        {"plate": "皖LA1234", "ts": "2021-08-01 00:05:00", "lon": 200, "lat": 33.6},
        {
            "plate": "皖LA1234",
            "ts": "2021-08-01 00:06:00",
            "lon": 117.0,
            "lat": 33.6,
            "speed_kmh": 900,
        },
    ]
    bundle = make_bundle(
        tmp_path / "b",
        registrations=regs,
        power_readings=readings,
        power_accounts=accounts,
        vehicle_tracks=tracks,
    )
    report, wh = _ingest(bundle, tmp_path)

    p = _problems(report, "registrations")
    rejected = p.filter(pl.col("severity") == "rejected")
    assert rejected.select("row", "field").rows() == [(4, "name")]
    warned = set(p.filter(pl.col("severity") == "warning").select("row", "field").rows())
    assert {
        (3, "uscc"),
        (5, "lon"),
        (5, "established"),
        (5, "industry_code"),
        (5, "status"),
        (6, "lon"),
    } <= warned
    with wh:
        regs_out = wh.table("registrations").sort("source_row")
        assert regs_out["source_row"].to_list() == [1, 2, 3, 5, 6]
        ding = regs_out.filter(pl.col("name") == "丁厂").row(0, named=True)
        assert ding["lon"] is None and ding["established"] is None
        wu = regs_out.filter(pl.col("name") == "戊厂").row(0, named=True)
        assert (wu["lon"], wu["lat"]) == (117.02, 33.61)

        p = _problems(report, "power_readings").filter(pl.col("severity") == "rejected")
        assert p.select("row", "field").rows() == [
            (28, "kwh"),
            (29, "kwh"),
            (30, "ts"),
            (31, "account_id"),
            (32, "kwh"),
            (33, "ts"),
            (34, "ts"),
        ]
        assert "negative" in p["reason"][0] and "implausible" in p["reason"][4]
        assert "disagree" in p["reason"][5]
        kept = wh.table("power_readings").filter(pl.col("ts") >= dt.datetime(2021, 8, 2))
        assert kept.filter(pl.col("account_id") == "3400001")["kwh"].to_list() == [7.0]

        assert wh.table("power_accounts").height == 2
        clash = _problems(report, "power_accounts")
        assert clash.select("row", "field").rows() == [(3, "account_id")]
        assert "first at power_accounts.csv row 1" in clash["reason"].item()

        tp = _problems(report, "vehicle_tracks")
        assert tp.select("row", "field", "severity").rows() == [
            (7, "lon", "rejected"),
            (8, "speed_kmh", "warning"),
        ]
        assert wh.table("vehicle_tracks").height == 7

    stats = {r["source"]: r for r in report.summary.iter_rows(named=True)}
    assert stats["power_readings"]["quarantined"] == 7
    assert stats["power_readings"]["duplicates_collapsed"] == 1
    assert stats["registrations"]["rows_kept"] == 5
    # every problem names file, row, field and reason, and keeps the row as read
    q = report.quarantined.filter(pl.col("row").is_not_null())
    assert q.select(pl.all().exclude("value").is_null().any()).row(0) == (False,) * 7


def test_wide_row_with_bad_date_is_one_problem(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    rows = [
        {"account_id": "3400001", "date": "2021-08-01", "h00": 1, "h01": -1, "h02": 1},
        {"account_id": "3400001", "date": "sometime", "h00": 1, "h01": 1, "h02": 1},
    ]
    write_source(bundle, "power_readings", rows)
    report, _ = _ingest(bundle, tmp_path)
    p = _problems(report, "power_readings")
    assert p.select("row", "field").rows() == [(1, "h01"), (2, "date")]


def test_records_without_ids_get_one_and_unplaceable_ones_are_rejected(tmp_path):
    props = [
        *BASE["idle_properties"],
        {"kind": "废弃养殖场", "address": "栏杆镇某村养殖场"},
        {"property_id": "XZ-009", "kind": "民房"},
        {
            "property_id": "XZ-010",
            "kind": "宕口",
            "lon": 117.3,
            "lat": 33.4,
            "geometry": "POLYGON((broken",
        },
    ]
    bundle = make_bundle(tmp_path / "b", idle_properties=props)
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        got = wh.table("idle_properties").sort("source_row")
    assert got["property_id"].to_list() == ["XZ-001", "idle_properties.csv#2", "XZ-010"]
    assert got["kind"].to_list() == ["idle_factory", "abandoned_farm", "quarry"]
    assert got["geometry"][2] is None and got["lon"][2] == 117.3
    p = _problems(report, "idle_properties")
    assert p.select("row", "field", "severity").rows() == [
        (2, "property_id", "warning"),
        (3, "address", "rejected"),
        (4, "geometry", "warning"),
    ]


def test_townships_and_optional_sources(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    write_source(
        bundle,
        "tips",
        [
            {
                "tip_id": "T1",
                "received": "2021年8月1日",
                "text": "夜里有刺鼻气味",
                "address": "桃园镇某村",
            }
        ],
    )
    write_source(
        bundle,
        "sanctioned_sites",
        [{"case_id": "C1", "name": "某小作坊", "address": "曹村镇", "closed_on": "2020-05-01"}],
    )
    (bundle / "townships.geojson").write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        '{"乡镇":"桃园镇","包保单位":"区应急管理局"},"geometry":{"type":"Polygon","coordinates":'
        "[[[117,33.6],[117.1,33.6],[117.1,33.7],[117,33.7],[117,33.6]]]}},"
        '{"type":"Feature","properties":{},"geometry":null}]}',
        encoding="utf-8",
    )
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        t = wh.table("townships")
        assert t.rows()[0][:2] == ("桃园镇", "区应急管理局")
        assert wh.table("tips")["received"].item() == dt.date(2021, 8, 1)
        assert wh.table("sanctioned_sites")["closed_on"].item() == dt.date(2020, 5, 1)
    assert report.absent == []
    assert _problems(report, "townships")["reason"].item() == "feature has no township property"


def test_missing_required_source_is_one_line_and_exit_2(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    with pytest.raises(IngestError, match=r"required source missing.*power_readings"):
        ingest_bundle(bundle, tmp_path / "w")
    result = CliRunner().invoke(
        app, ["ingest", "--input", str(bundle), "--out", str(tmp_path / "w")]
    )
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "power_readings" in result.output


def test_unreadable_file_is_reported_and_others_go_on(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("vehicle_tracks",))
    write_source(bundle / "vehicle_tracks", "day1", BASE["vehicle_tracks"])
    (bundle / "vehicle_tracks" / "day2.parquet").write_bytes(b"not parquet at all")
    (bundle / "vehicle_tracks" / "day3.csv").write_bytes(b"\xff\xfe\x00garbage\x81\x00")
    (bundle / "notes.txt").write_text("readme from the agency")
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        assert wh.table("vehicle_tracks").height == 6
    p = _problems(report, "vehicle_tracks")
    assert p["file"].to_list() == ["vehicle_tracks/day2.parquet", "vehicle_tracks/day3.csv"]
    assert all(r.startswith("whole file not read") for r in p["reason"])
    assert any("notes.txt" in n for n in report.notes)


def test_required_source_wholly_unreadable_is_fatal(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("permits",))
    (bundle / "permits.xlsx").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(IngestError, match="required source permits unreadable"):
        ingest_bundle(bundle, tmp_path / "w")


def test_bad_manifest_is_fatal_with_the_reason(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    (bundle / "manifest.toml").write_text('crs = "utm"\n')
    with pytest.raises(IngestError, match="crs 'utm'"):
        ingest_bundle(bundle, tmp_path / "w")


def test_reingest_replaces_and_workdir_can_move(bundle, tmp_path):
    ingest_bundle(bundle, tmp_path / "work")
    ingest_bundle(bundle, tmp_path / "work")
    shutil.move(tmp_path / "work", tmp_path / "moved")
    with Warehouse(tmp_path / "moved") as wh:
        assert wh.table("power_readings").height == 27
        assert wh.table("registrations").height == 2


def test_large_readings_stay_vectorised(tmp_path):
    """Not a timing test: a year of hourly readings for 200 meters goes through unharmed."""
    hours = pl.datetime_range(
        dt.datetime(2021, 1, 1), dt.datetime(2021, 12, 31, 23), "1h", eager=True
    )
    ids = [f"34{i:05d}" for i in range(200)]
    frame = pl.DataFrame(
        {
            "account_id": np.repeat(ids, len(hours)),
            "ts": np.tile(hours.to_numpy(), len(ids)),
            "kwh": np.random.default_rng(0).gamma(2.0, 5.0, len(ids) * len(hours)),
        }
    )
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    write_source(bundle, "power_readings", frame, fmt="parquet")
    report, wh = _ingest(bundle, tmp_path)
    with wh:
        n = wh.read("SELECT count(*) AS n FROM power_readings")["n"].item()
    assert n == len(ids) * len(hours) and report.quarantined.height == 0
