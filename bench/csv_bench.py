"""Ingest of readings sent as agencies send them: GB18030 wide-hourly ``.csv.gz`` (one row a
meter-day, Chinese headers), against the same county's readings as Parquet and against a
plain DuckDB scan of the same CSV text.

    python bench/csv_bench.py --size medium --seed 11 --out /tmp/bench-csv

The county is generated once (``--plain``, kept for re-runs); its readings are rewritten as
two GB18030 wide-hourly ``.csv.gz`` files (hourly meters) and one long ``.csv.gz`` (daily
meters). Each ingest runs in its own process, so that its peak resident memory is its own.
DuckDB reads only UTF-8, so its scan reads UTF-8 copies of the same files (gzip too).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from measure import csv_scan, peak_gb

from screening.sample.layouts import write_csv_bundle


def child(bundle: Path, work: Path) -> None:
    from screening.ingest import ingest_bundle

    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest_bundle(bundle, work)
    seconds = time.perf_counter() - t0
    readings = report.summary.filter(pl.col("source") == "power_readings").row(0, named=True)
    peak = peak_gb()
    print(json.dumps({"seconds": seconds, "peak_gb": peak, "readings": readings["rows_kept"]}))


def _ingest(bundle: Path, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(bundle), str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-csv"))
    ap.add_argument("--child", nargs=2, type=Path)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from screening.sample import generate

    base = args.out / f"{args.size}-{args.seed}"
    parquet = base / "parquet"
    if not parquet.exists():
        generate(parquet, seed=args.seed, size=args.size, messy=False)
    # readings: two wide-hourly files (hourly meters, as two export runs) and one long one
    csv = write_csv_bundle(parquet, base / "csv", twin=base / "utf8")
    files = sorted((csv / "power_readings").glob("*"))
    mb = sum(f.stat().st_size for f in files) / 2**20
    print(f"readings as CSV: {len(files)} files, {mb:.0f} MB gzipped GB18030")
    scan = csv_scan(sorted((base / "utf8").glob("*.csv.gz")))
    rows = []
    for label, bundle in (("parquet", parquet), ("csv (GB18030 wide .csv.gz)", csv)):
        got = _ingest(bundle, base / f"work-{label.split()[0]}")
        rows.append({"readings from": label, **got})
    print(f"DuckDB scan of the CSV text (UTF-8 copies): {scan:.1f} s")
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        table = pl.DataFrame(rows).with_columns(
            (pl.col("seconds") / scan).round(1).alias("÷ DuckDB scan"),
            pl.col("seconds").round(1),
            pl.col("peak_gb").round(2),
        )
        print(table)


if __name__ == "__main__":
    main()
