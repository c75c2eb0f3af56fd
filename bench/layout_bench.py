"""The heavy stages' cost against the way an agency cut its bulk files (issue 17).

    python bench/layout_bench.py --size medium --seed 11 --out /tmp/bench-layout

One generated world (plain, kept for re-runs) has its readings and GPS tracks rewritten in
three layouts, as agencies send them (``screening/sample/layouts.py``): by ``day``, in
account ``batch`` es (``--batch-files`` files of random meters, in random order), and as
``one`` file.

Each layout is ingested into a fresh work directory in its own process (peak memory is the
process's own), then the power signals and the stay points run over key-range partitions as
the nightly flow runs them (``--partitions``, default ``scale.flow_partitions``), one after
another. Printed per layout: ingest, signals and stay-point seconds; the row groups (and
their rows) that each partition's key-range filter cannot skip, read from the stored parts'
Parquet footers; the peak resident memory; and the signals and stay points as a multiple of
one DuckDB pass over the same input files grouping every row by meter (plate).

The world and the cut bundles are kept under ``--out`` for re-runs; ``--layouts`` picks some.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from measure import parquet_scan, peak_gb

from screening.pipeline import partitions
from screening.sample import generate
from screening.sample.layouts import LAYOUTS, write_layout
from screening.settings import load_settings
from screening.store import catalog
from screening.store.warehouse import Warehouse

BULK = {"power_readings": "account_id", "vehicle_tracks": "plate"}


def _unskipped(work: Path, name: str, bounds: list[partitions.Bounds]) -> dict[str, float]:
    """Per partition, the row groups of the stored parts whose key min/max overlap the
    partition's range (what statistics cannot skip), and their rows; mean over partitions."""
    key = BULK[name]
    groups = []
    for path in sorted(catalog.bulk_dir(work, name).glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        col = [meta.schema.column(i).name for i in range(meta.num_columns)].index(key)
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(col).statistics
            groups.append((st.min, st.max, meta.row_group(g).num_rows))
    total = sum(r for _, _, r in groups)
    read_groups, read_rows = [], []
    for b in bounds:
        hit = [r for lo, hi, r in groups if b is None or not (hi < b[0] or lo > b[1])]
        read_groups.append(len(hit))
        read_rows.append(sum(hit))
    return {
        "row groups": len(groups),
        "row groups read / partition": round(sum(read_groups) / len(bounds), 1),
        "rows read / partition (M)": round(sum(read_rows) / len(bounds) / 1e6, 2),
        "rows read ÷ rows": round(sum(read_rows) / max(total, 1), 2),
    }


def one_layout(bundle: Path, work: Path, parts: int) -> dict[str, object]:
    """Ingest, power signals and stay points over ``parts`` partitions, in this process."""
    from screening.ingest import ingest_bundle

    shutil.rmtree(work, ignore_errors=True)
    cfg = load_settings()
    row: dict[str, object] = {}
    t0 = time.perf_counter()
    ingest_bundle(bundle, work, incremental=True)
    row["ingest s"] = round(time.perf_counter() - t0, 1)
    with Warehouse(work, read_only=True) as wh:
        as_of = dt.date.fromisoformat(wh.meta()["as_of"])
    seconds: dict[str, float] = {}
    for name, label, fn in (
        ("power_readings", "signals", partitions.meter_part),
        ("vehicle_tracks", "stay points", partitions.stay_part),
    ):
        t0 = time.perf_counter()
        bounds = partitions.ranges(work, name, cfg["scale"], wanted=parts)
        out = partitions.concat([fn(work, as_of, cfg, b) for b in bounds])
        seconds[name] = time.perf_counter() - t0
        row[f"{label} s"] = round(seconds[name], 1)
        row[f"{label} rows"] = out.height
        row[f"{label} partitions"] = len(bounds)
        out.write_parquet(work / f"bench-{name}.parquet")  # for comparing layouts
        row.update({f"{label}: {k}": v for k, v in _unskipped(work, name, bounds).items()})
    row["peak GB"] = round(peak_gb(), 2)
    for name, key in BULK.items():
        value = "kwh" if name == "power_readings" else "lon"
        scan, _ = parquet_scan(str(bundle / name / "*.parquet"), key, value)
        row[f"scan {name} s"] = round(scan, 2)
        row[f"{'signals' if name == 'power_readings' else 'stays'} ÷ scan"] = round(
            seconds[name] / scan, 1
        )
    return row


def _same(out: Path, layouts: list[str]) -> dict[str, bool]:
    """Whether every layout's signals and stay points equal the first layout's (in key order:
    a partition's meters come in the order its readings were read)."""
    same = {}
    for name, key in BULK.items():
        got = [
            pl.read_parquet(out / lay / "work" / f"bench-{name}.parquet").sort(
                key, maintain_order=True
            )
            for lay in layouts
        ]
        same[name] = all(g.equals(got[0]) for g in got[1:])
    return same


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-layout"))
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--batch-files", type=int, default=47, help="files of the batch layout")
    ap.add_argument("--partitions", type=int, default=None, help="default scale.flow_partitions")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a layout, in this process
    args = ap.parse_args()
    parts = args.partitions or load_settings()["scale"]["flow_partitions"]
    out = args.out / args.size
    if args.one:
        row = one_layout(out / args.one / "bundle", out / args.one / "work", parts)
        print(json.dumps(row))
        return

    plain = out / "plain"
    if not (plain / "manifest.toml").exists():
        t0 = time.perf_counter()
        generate(plain, seed=args.seed, size=args.size, messy=False)
        print(f"generated {args.size} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows = pl.scan_parquet(plain / "power_readings.parquet").select(pl.len()).collect().item()
    points = pl.scan_parquet(plain / "vehicle_tracks.parquet").select(pl.len()).collect().item()
    print(
        f"world: {args.size} seed {args.seed}, {rows:,} readings, {points:,} GPS points; "
        f"{parts} partitions; batch layout in {args.batch_files} files"
    )
    table: dict[str, dict[str, object]] = {}
    for layout in args.layouts:
        bundle, cut = out / layout / "bundle", f"{layout} {args.batch_files} {args.seed}"
        done = out / layout / "cut.txt"  # the bundle is kept for re-runs
        if not done.exists() or done.read_text() != cut:
            write_layout(plain, bundle, layout, args.batch_files, args.seed)
            done.write_text(cut)
        n = len(list((out / layout / "bundle" / "power_readings").glob("*.parquet")))
        cmd = [sys.executable, __file__, "--size", args.size, "--out", str(args.out)]
        cmd += ["--partitions", str(parts), "--one", layout]
        got = subprocess.run(cmd, check=True, capture_output=True, text=True)
        table[layout] = {"reading files": n, **json.loads(got.stdout.strip().splitlines()[-1])}
        print(f"{layout}: {table[layout]}", file=sys.stderr)
    keys = list(next(iter(table.values())))
    width = max(len(k) for k in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{lay:>10}" for lay in table))
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{r.get(k)!s:>10}" for r in table.values()))
    if len(args.layouts) > 1:
        print("same signals and stay points in every layout:", _same(out, args.layouts))


if __name__ == "__main__":
    main()
