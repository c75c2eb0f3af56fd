"""Ingest throughput on a generated county: prints rows/s per source.

    python bench/ingest_bench.py --size medium --seed 11 --out /tmp/bench-medium

Generates the bundle once (kept for re-runs; pass --regenerate to force), then times the
ingest. Not part of the test suite: timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import polars as pl

from screening.ingest import ingest_bundle
from screening.sample import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-ingest"))
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args()

    bundle = args.out / "bundle"
    if args.regenerate or not bundle.exists():
        shutil.rmtree(args.out, ignore_errors=True)
        t0 = time.perf_counter()
        generate(bundle, seed=args.seed, size=args.size, messy=not args.plain)
        print(f"generated {args.size} seed {args.seed} in {time.perf_counter() - t0:.1f} s")
    size_mb = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / 1e6
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest_bundle(bundle, work)
    total = time.perf_counter() - t0
    rows = int(report.summary["rows_read"].sum())
    print(
        f"bundle {size_mb:.0f} MB; ingest {total:.1f} s for {rows:,} rows "
        f"({rows / total:,.0f} rows/s overall, including writing the warehouse)"
    )
    with pl.Config(
        tbl_rows=50,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_width_chars=200,
    ):
        print(
            report.summary.select(
                "source",
                "files",
                "rows_read",
                "rows_kept",
                "quarantined",
                "duplicates_collapsed",
                "warnings",
                "seconds",
                "rows_per_s",
            )
        )


if __name__ == "__main__":
    main()
