"""Throughput of the signal and site stages on a generated county, and stay points side by
side with movingpandas (an established implementation) on the same tracks.

    python bench/signals_bench.py --size medium --seed 11 --out /tmp/bench-medium \
        [--mp-python /tmp/mpvenv/bin/python] [--mp-plates 40]

The bundle is generated and ingested once (kept for re-runs). movingpandas is not a project
dependency: make a virtualenv with `pip install movingpandas pyarrow` and pass its python.
Agreement: a movingpandas stop is matched when one of ours for the same plate overlaps at
least half of the shorter of the two; reported both ways.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import tempfile
import time
from pathlib import Path

import polars as pl

from screening import features as feat
from screening import sites as site_mod
from screening.config import load_config
from screening.pipeline import ingest_bundle
from screening.sample import generate
from screening.signals import places as place_mod
from screening.signals import power as power_mod
from screening.signals import registry as reg_mod
from screening.signals import vehicles as veh_mod
from screening.warehouse import Warehouse


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-medium"))
    ap.add_argument("--mp-python", type=Path, default=None)
    ap.add_argument("--mp-plates", type=int, default=40)
    args = ap.parse_args()

    bundle, work = args.out / "bundle", args.out / "work"
    if not bundle.exists():
        generate(bundle, seed=args.seed, size=args.size, messy=True)
    if not (work / "warehouse.duckdb").exists():
        ingest_bundle(bundle, work)
    cfg = load_config()
    with Warehouse(work) as wh:
        as_of = dt.date.fromisoformat(wh.meta()["as_of"])
        tables = {
            n: wh.table(n)
            for n in (
                "registrations",
                "permits",
                "power_accounts",
                "vehicles",
                "idle_properties",
                "sanctioned_sites",
                "tips",
            )
        }
        townships = wh.table("townships")
        n_readings = wh.read("SELECT count(*) AS n FROM power_readings")["n"].item()
        readings_path, tracks_path = wh.bulk_path("power_readings"), wh.bulk_path("vehicle_tracks")
    tracks = pl.read_parquet(tracks_path)
    print(f"{args.size} seed {args.seed}: {n_readings:,} readings, {tracks.height:,} GPS points")

    power, _ = _timed(
        "power signals",
        n_readings,
        power_mod.power_features,
        pl.scan_parquet(readings_path),
        tables["power_accounts"].lazy(),
        as_of,
        cfg["power"],
    )
    stays, _ = _timed(
        "stay points",
        tracks.height,
        lambda: veh_mod.stay_points(tracks.lazy(), cfg["vehicles"]).collect(),
    )
    stays = place_mod.cluster(stays, cfg["vehicles"])
    places, _ = _timed(
        "places", stays.height, place_mod.place_features, stays, tables["vehicles"], cfg["vehicles"]
    )
    regs = reg_mod.registration_signals(tables["registrations"], as_of, cfg["registry"])
    regs = regs.with_columns(site_mod.registration_ids(regs).alias("record_id"))
    permits = reg_mod.permit_state(tables["permits"], as_of)
    recs = site_mod.records(tables, places, cfg["sites"])
    (links, sites), _ = _timed("site linking", recs.height, site_mod.link, recs, cfg["sites"])
    sites = site_mod.assign_townships(sites, townships)
    _timed(
        "site features",
        sites.height,
        feat.site_features,
        sites,
        links,
        tables,
        regs,
        permits,
        reg_mod.permits_by_holder(permits),
        power,
        places,
        as_of,
        cfg["features"],
    )

    if args.mp_python:
        plates = tracks["plate"].unique().sort().head(args.mp_plates)
        sub = tracks.filter(pl.col("plate").is_in(plates.implode()))
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
                    str(cfg["vehicles"]["stay_radius_m"]),
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
