"""Throughput of the signal and site stages on a generated county, and stay points side by
side with movingpandas (an established implementation) on the same tracks.

    python bench/signals_bench.py --size medium --seed 11 --out /tmp/bench-medium \
        [--mp-python /tmp/mpvenv/bin/python] [--mp-plates 40] [--reflections 0.01]

The bundle is generated and ingested once (kept for re-runs). movingpandas is not a project
dependency: make a virtualenv with `pip install movingpandas pyarrow` and pass its python.
Agreement: a movingpandas stop is matched when one of ours for the same plate overlaps at
least half of the shorter of the two; reported both ways. ``--reflections RATE`` roughens the
compared tracks first, the same for both: 10 m more jitter, that share of fixes 100-400 m off
and 30 % of fixes dropped (a stress test of where the two definitions part: see
signals/vehicles.py).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from screening.ingest import ingest_bundle
from screening.pipeline import build_sites
from screening.sample import generate
from screening.settings import load_config
from screening.signals import vehicles as veh_mod
from screening.store.warehouse import Warehouse


def _timed(label: str, rows: int, fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    s = time.perf_counter() - t0
    print(f"{label:<22} {s:8.2f} s  {rows:>12,} rows  {rows / s:>12,.0f} rows/s")
    return out, s


def _agreement(ours: pl.DataFrame, theirs: pl.DataFrame) -> tuple[float, float]:
    def matched(a: pl.DataFrame, b: pl.DataFrame) -> float:
        if a.height == 0:
            return float("nan")
        j = a.with_row_index("_i").join(b, on="plate", suffix="_b")
        overlap = pl.min_horizontal("end", "end_b") - pl.max_horizontal("start", "start_b")
        shorter = pl.min_horizontal(
            pl.col("end") - pl.col("start"), pl.col("end_b") - pl.col("start_b")
        )
        ok = j.filter(overlap.dt.total_seconds() >= 0.5 * shorter.dt.total_seconds())
        return ok["_i"].n_unique() / a.height

    return matched(theirs, ours), matched(ours, theirs)


def _roughen(tracks: pl.DataFrame, rate: float, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = tracks.height
    lat = tracks["lat"].to_numpy()
    dx, dy = rng.normal(0, 10, n), rng.normal(0, 10, n)
    off = rng.random(n) < rate
    r, a = rng.uniform(100, 400, n), rng.uniform(0, 2 * np.pi, n)
    dx, dy = np.where(off, dx + r * np.cos(a), dx), np.where(off, dy + r * np.sin(a), dy)
    return tracks.with_columns(
        pl.col("lon") + pl.Series(dx / (111_320 * np.cos(np.radians(lat)))),
        pl.col("lat") + pl.Series(dy / 110_574),
    ).filter(pl.Series(rng.random(n) > 0.3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-medium"))
    ap.add_argument("--mp-python", type=Path, default=None)
    ap.add_argument("--mp-plates", type=int, default=40)
    ap.add_argument("--reflections", type=float, default=0.0)
    args = ap.parse_args()

    bundle, work = args.out / "bundle", args.out / "work"
    if not bundle.exists():
        generate(bundle, seed=args.seed, size=args.size, messy=True)
    if not (work / "warehouse.duckdb").exists():
        ingest_bundle(bundle, work)
    cfg = load_config()
    with Warehouse(work) as wh:
        n_readings = wh.read("SELECT count(*) AS n FROM power_readings")["n"].item()
        tracks = wh.scan_bulk("vehicle_tracks").collect()
    print(f"{args.size} seed {args.seed}: {n_readings:,} readings, {tracks.height:,} GPS points")
    # the pipeline's own stage timings: the benchmark measures the code that runs at night
    report = build_sites(work)
    rows = {
        "power signals": n_readings,
        "stay points": tracks.height,
        "places": report.counts["stays"],
        "site linking": report.counts["records"],
        "site features": report.counts["sites"],
    }
    for stage, seconds in report.seconds.items():
        n = rows[stage]
        print(
            f"{stage:<22} {seconds:8.2f} s  {n:>12,} rows  {n / max(seconds, 1e-9):>12,.0f} rows/s"
        )

    if args.mp_python:
        plates = tracks["plate"].unique().sort().head(args.mp_plates)
        sub = tracks.filter(pl.col("plate").is_in(plates.implode()))
        if args.reflections:
            sub = _roughen(sub, args.reflections)
        ours_sub, s_sub = _timed(
            "stay points (subset)",
            sub.height,
            lambda: veh_mod.stay_points(sub.lazy(), cfg["vehicles"]).collect(),
        )
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "tracks.parquet", Path(tmp) / "stops.parquet"
            sub.select("plate", "ts", "lon", "lat").to_pandas().to_parquet(src)
            t0 = time.perf_counter()
            res = subprocess.run(
                [
                    str(args.mp_python),
                    str(Path(__file__).with_name("mp_stops.py")),
                    str(src),
                    str(out),
                    str(cfg["vehicles"]["stay_diameter_m"]),
                    str(cfg["vehicles"]["stay_min_minutes"]),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            s_mp = float(res.stdout.strip().splitlines()[-1])
            wall = time.perf_counter() - t0
            theirs = pl.read_parquet(out).with_columns(
                pl.col("start", "end").cast(pl.Datetime("us"))
            )
        recall, precision = _agreement(ours_sub, theirs)
        print(
            f"movingpandas on {len(plates)} plates, {sub.height:,} points: {s_mp:.2f} s "
            f"compute ({wall:.1f} s with start-up); ours {s_sub:.3f} s -> "
            f"{s_mp / s_sub:,.0f}x faster"
        )
        print(
            f"stops: movingpandas {theirs.height}, ours {ours_sub.height}; "
            f"theirs found by ours {recall:.1%}, ours found by theirs {precision:.1%}"
        )


if __name__ == "__main__":
    main()
