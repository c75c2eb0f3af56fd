"""A nightly increment against a full rebuild on a generated county.

    python bench/nightly_bench.py --size medium --seed 11 --out /tmp/bench-nightly

The county is generated once (plain parquet). Its readings and tracks are split into the
history up to the day before the screening date and that last day, as two files each: the
shape of an agency folder that receives one new file per source every night.

- full rebuild: `run_screening` into a fresh warehouse, reading every file;
- increment: night 1 ingests the history into a kept warehouse (not timed), then the last
  day's files arrive and night 2 (`run_screening(..., work_dir=...)`) reads only those and
  recomputes the rolling windows from the warehouse.

Prints seconds per step for both and checks that both give the same lead list.

With ``--flow`` it also times the Prefect flow on the whole bundle (fresh work directory and
ledger each): tasks in Prefect's thread pool, and on a temporary local Dask cluster (worker
processes), both with ``--partitions`` partitions, and checks their leads against the plain
run's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import polars as pl

from screening.pipeline import RunReport, run_screening
from screening.sample import generate

BULK = ("power_readings", "vehicle_tracks")
SAME = ["site_id", "rank", "score", "category", "reasons"]


def _nights(plain: Path, out: Path) -> tuple[Path, dict[str, Path], dt.date]:
    """The bundle for night 1 (history only) and the files night 2 adds."""
    bundle, held = out / "bundle", out / "held"
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.rmtree(held, ignore_errors=True)
    held.mkdir(parents=True)
    shutil.copytree(plain, bundle, ignore=shutil.ignore_patterns(*(f"{n}.*" for n in BULK)))
    last_ts = pl.scan_parquet(plain / "power_readings.parquet").select(pl.col("ts").max())
    last = last_ts.collect().item().date()
    cut = dt.datetime.combine(last, dt.time())
    arriving: dict[str, Path] = {}
    for name in BULK:
        (bundle / name).mkdir()
        frame = pl.scan_parquet(plain / f"{name}.parquet")
        frame.filter(pl.col("ts") < cut).sink_parquet(bundle / name / "history.parquet")
        arriving[name] = held / f"{name}-{last}.parquet"
        frame.filter(pl.col("ts") >= cut).sink_parquet(arriving[name])
    return bundle, arriving, last


def _row(label: str, report: RunReport) -> dict[str, object]:
    read = int(report.ingest.summary["rows_read"].sum())
    return {"run": label, "rows read": read, **report.steps, "total": round(report.seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-nightly"))
    ap.add_argument("--flow", action="store_true", help="also time the Prefect flow")
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args()

    plain = args.out / "plain"
    if not (plain / "manifest.toml").exists():
        generate(plain, seed=args.seed, size=args.size, messy=False)
    bundle, arriving, last = _nights(plain, args.out)
    for d in ("work", "night1", "night2", "full"):
        shutil.rmtree(args.out / d, ignore_errors=True)

    first = run_screening(bundle, args.out / "night1", work_dir=args.out / "work")
    print(f"night 1 (history up to {last - dt.timedelta(days=1)}): {first.seconds:.1f} s")
    for name, path in arriving.items():
        shutil.move(path, bundle / name / path.name)
    night = run_screening(bundle, args.out / "night2", work_dir=args.out / "work")
    full = run_screening(bundle, args.out / "full")

    table = pl.DataFrame([_row("full rebuild", full), _row(f"increment ({last})", night)])
    with pl.Config(tbl_rows=10, tbl_cols=20, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(f"{args.size} seed {args.seed}: seconds per step")
        print(table)
    ratio = full.steps["ingest"] / max(night.steps["ingest"], 1e-9)
    print(f"ingest: increment {ratio:.1f}x faster; total {full.seconds / night.seconds:.2f}x")
    same = night.leads.select(SAME).equals(full.leads.select(SAME))
    print(f"same lead list: {'yes' if same else 'NO'}")
    if args.flow:
        _flows(bundle, args.out, args.partitions, full.leads.select(SAME))


def _flows(bundle: Path, out: Path, parts: int, reference: pl.DataFrame) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from flows.nightly import configured

    for label, dask in (("threads", ""), ("local Dask cluster", "local")):
        root = out / f"flow-{dask or 'threads'}"
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        configured(dask)(
            bundle=str(bundle),
            run_root=str(root / "runs"),
            work_dir=str(root / "work"),
            ledger=str(root / "ledger.duckdb"),
            night="bench",
            n_partitions=parts,
        )
        seconds = time.perf_counter() - t0
        leads = pl.read_parquet(root / "runs" / "bench" / "leads.parquet")
        same = leads.select(pl.col("run_site_id").alias("site_id"), *SAME[1:]).equals(reference)
        print(f"flow, {parts} partitions, {label}: {seconds:.1f} s; same leads: {same}")


if __name__ == "__main__":
    main()
