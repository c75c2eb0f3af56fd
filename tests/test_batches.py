"""Bulk files bigger than one batch are staged a batch at a time (bounded memory) and give
the same series, problems and row numbers as one pass (but for which value of a clash is
kept); a file broken half-way is not read at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from screening.ingest import ingest_bundle
from screening.store.warehouse import Warehouse

from .conftest import make_bundle, write_source


def _config(tmp_path: Path, batch_rows: int) -> Path:
    path = tmp_path / f"config-{batch_rows}.toml"
    path.write_text(f"[ingest]\nbatch_rows = {batch_rows}\n", encoding="utf-8")
    return path


def _readings() -> list[dict]:
    rows = [
        {"account_id": f"34000{a:02d}", "ts": f"2021-08-0{d} {h:02d}:00:00", "kwh": 1.0 + h}
        for a in range(1, 4)
        for d in (1, 2)
        for h in range(24)
    ]
    rows[30]["kwh"] = -2.0  # negative: rejected, row 31 of the file
    rows.append(dict(rows[5]))  # the same reading again, at the end: collapses
    rows.append({**rows[60], "kwh": 99.0})  # another value for row 61's meter-hour
    return rows


def _ingest(tmp_path: Path, batch_rows: int):
    bundle = make_bundle(tmp_path / f"b{batch_rows}", skip=("power_readings",))
    write_source(bundle / "power_readings", "all", _readings(), fmt="parquet")
    work = tmp_path / f"w{batch_rows}"
    report = ingest_bundle(bundle, work, settings=_config(tmp_path, batch_rows))
    with Warehouse(work) as wh:
        series = wh.scan_bulk("power_readings").collect().sort("account_id", "ts")
    return report, series, work


def test_batches_equal_one_pass(tmp_path):
    whole_report, whole, _ = _ingest(tmp_path, 1_000_000)
    report, batched, work = _ingest(tmp_path, 40)
    parts = sorted(p.name for p in (work / "bulk" / "power_readings").glob("*.parquet"))
    assert len(parts) == 4 and all("-000" in p for p in parts)  # 146 rows, 40 a batch
    # the clash: within one batch neither value is trusted (one pass drops both); a batch
    # cannot rewrite the ones already staged, so across batches the earlier is kept, as
    # across files and nights
    clash_key = (pl.col("account_id") == "3400002") & (pl.col("ts").dt.day() == 1)
    clash_key = clash_key & (pl.col("ts").dt.hour() == 12)
    assert batched.filter(~clash_key).equals(whole)
    assert batched.height == 3 * 48 - 1  # only the negative reading is out
    for rep in (whole_report, report):
        stats = rep.summary.filter(pl.col("source") == "power_readings").row(0, named=True)
        assert stats["rows_read"] == 146 and stats["duplicates_collapsed"] == 1
        problems = rep.quarantined.filter(pl.col("source") == "power_readings")
        assert problems.filter(pl.col("reason").str.starts_with("negative"))["row"].to_list() == [
            31
        ]
    # the clash falls in a later batch than the reading it contradicts: the earlier is kept
    clash = report.quarantined.filter(pl.col("reason").str.contains("another value"))
    assert clash.height == 1
    assert batched.filter(pl.col("account_id") == "3400002")["kwh"].max() < 99


def test_file_broken_half_way_is_not_read(tmp_path):
    bundle = make_bundle(tmp_path / "b", skip=("power_readings",))
    write_source(bundle / "power_readings", "good", _readings()[:48], fmt="parquet")
    write_source(bundle / "power_readings", "broken", _readings()[48:], fmt="parquet")
    broken = bundle / "power_readings" / "broken.parquet"
    # rewritten in row groups of 10 rows; the fourth row group's bytes are garbled, so the
    # first batches read well and a later one fails
    pq.write_table(pq.read_table(broken), broken, row_group_size=10, compression="zstd")
    chunk = pq.ParquetFile(broken).metadata.row_group(3).column(0)
    data = bytearray(broken.read_bytes())
    start = chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\x13" * chunk.total_compressed_size
    broken.write_bytes(bytes(data))
    report = ingest_bundle(bundle, tmp_path / "w", settings=_config(tmp_path, 20))
    files = report.files.filter(pl.col("file") == "power_readings/broken.parquet")
    assert files["error"].item() is not None
    whole_file = report.quarantined.filter(pl.col("reason").str.starts_with("whole file"))
    assert whole_file["file"].to_list() == ["power_readings/broken.parquet"]
    with Warehouse(tmp_path / "w") as wh:
        series = wh.scan_bulk("power_readings").collect()
    assert series.height == 47 and series["account_id"].unique().to_list() == ["3400001"]


def test_rows_in_order_or_shuffled_give_the_same_series(tmp_path):
    """A file already in meter and time order skips the sort; shuffled, it is sorted."""
    rows = [r for r in _readings()[:-2] if r["kwh"] >= 0]  # no duplicates, no clash
    shuffled = [rows[i] for i in np.random.default_rng(5).permutation(len(rows))]
    series = []
    for name, order in (("ordered", rows), ("shuffled", shuffled)):
        bundle = make_bundle(tmp_path / name, skip=("power_readings",))
        write_source(bundle / "power_readings", "all", order, fmt="parquet")
        ingest_bundle(bundle, tmp_path / f"w-{name}")
        part = next((tmp_path / f"w-{name}" / "bulk" / "power_readings").glob("*.parquet"))
        series.append(pl.read_parquet(part))
    assert series[0].height == len(rows)
    assert series[0].equals(series[0].sort("account_id", "ts"))  # kept in its order
    # shuffled, rows are stored grouped by meter (in order of first appearance) and in time
    # order within each meter: the same rows
    assert series[1].sort("account_id", "ts").equals(series[0])
    assert series[1].group_by("account_id").agg(pl.col("ts").is_sorted())["ts"].all()


def _wide_rows() -> list[dict]:
    """Wide-hourly readings (one row a meter-day), with a Chinese header and a bad cell."""
    rows = []
    for a in range(1, 6):
        for d in range(1, 9):
            row: dict = {"户号": f"34000{a:02d}", "日期": f"2021/8/{d}"}
            row.update({f"h{h:02d}": f"{1.0 + h + a:.1f}" for h in range(24)})
            rows.append(row)
    rows[7]["h13"] = "坏"  # unreadable: one reading rejected, row 8 field h13
    return rows


def test_csv_in_any_encoding_is_read_in_batches_of_readings(tmp_path):
    """A GB18030 wide-hourly .csv.gz is streamed (never read whole) and staged in batches
    sized in readings: 5 meters × 8 days × 24 h = 960 readings in batches of 240 are 4 parts
    of 10 wide rows each, and the series, problems and row numbers equal one pass."""
    results = []
    for batch_rows in (1_000_000, 240):
        bundle = make_bundle(tmp_path / f"b{batch_rows}", skip=("power_readings",))
        write_source(bundle / "power_readings", "wide", _wide_rows(), "csv.gz", "gb18030")
        work = tmp_path / f"w{batch_rows}"
        report = ingest_bundle(bundle, work, settings=_config(tmp_path, batch_rows))
        with Warehouse(work) as wh:
            series = wh.scan_bulk("power_readings").collect().sort("account_id", "ts")
        parts = sorted((work / "bulk" / "power_readings").glob("*.parquet"))
        results.append((report, series, parts))
    (whole_report, whole, whole_parts), (report, batched, parts) = results
    assert len(whole_parts) == 1 and len(parts) == 4
    assert batched.equals(whole) and whole.height == 5 * 8 * 24 - 1
    for rep in (whole_report, report):
        files = rep.files.filter(pl.col("source") == "power_readings")
        assert files["encoding"].to_list() == ["gb18030"]
        bad = rep.quarantined.filter(pl.col("source") == "power_readings")
        assert bad.select("row", "field").rows() == [(8, "h13")]
        stats = rep.summary.filter(pl.col("source") == "power_readings").row(0, named=True)
        assert stats["rows_kept"] == 5 * 8 * 24 - 1


def test_a_workbook_above_the_size_limit_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from screening.cli import app

    from .conftest import SAMPLE

    config = tmp_path / "small.toml"
    config.write_text("[ingest]\nmax_workbook_mb = 0.001\n", encoding="utf-8")
    args = ["run", "--input", str(SAMPLE), "--out", str(tmp_path / "run"), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    # the idle-premises list is optional: refused, it is lost with its reason, the rest is
    # screened and the summary names the line of evidence the list would have given
    assert result.exit_code == 0, result.output
    assert "idle_properties" in result.output and "max_workbook_mb" in result.output
    summary = (tmp_path / "run" / "run_summary.md").read_text(encoding="utf-8")
    assert "max_workbook_mb" in summary
    assert "Lines of evidence missing: place (the idle-premises list)" in summary
