"""Stay points on real GPS fixes against movingpandas, agreement both ways and speed, in one run.

    python bench/real_gps_bench.py --mp-python /tmp/mpvenv/bin/python [--gps FILE]
        [--repeat 5] [--write-fixture]

The fixes are the real Wuxi taxis in ``../shared/realdata/wx_taxi_gps.csv`` (475 taxis,
20,188 fixes, 55 s to hours apart). movingpandas is not a project dependency: make a
virtualenv with ``pip install movingpandas pyarrow`` and pass its python. Both run on the same
points with the same settings (``stay_diameter_m`` as movingpandas' max diameter,
``stay_min_minutes`` as its minimum duration). Agreement: a stop of one side is matched when
one of the other's for the same vehicle overlaps it by at least half of the shorter of the
two (``signals_bench._agreement``). Speed: movingpandas' compute time (measured inside its
process, without start-up) over ours (the best of ``--repeat`` runs).

``--write-fixture`` writes movingpandas' stops to ``tests/fixtures/wx_taxi_mp_stops.csv``
(taxi id, start, end), the reference tests/test_real_gps.py checks against without
movingpandas.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from screening.sample.realdata import taxi_tracks
from screening.settings import load_config
from screening.signals.vehicles import stay_points

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from signals_bench import _agreement  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "wx_taxi_mp_stops.csv"


def movingpandas_stops(
    python: Path, tracks: pl.DataFrame, cfg: dict[str, float]
) -> tuple[pl.DataFrame, float]:
    """movingpandas' stops (plate, start, end) and its compute seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "tracks.parquet", Path(tmp) / "stops.parquet"
        tracks.select("plate", "ts", "lon", "lat").to_pandas().to_parquet(src)
        res = subprocess.run(
            [
                str(python),
                str(REPO / "bench" / "mp_stops.py"),
                str(src),
                str(out),
                str(cfg["stay_diameter_m"]),
                str(cfg["stay_min_minutes"]),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = float(res.stdout.strip().splitlines()[-1])
        stops = pl.read_parquet(out).with_columns(pl.col("start", "end").cast(pl.Datetime("us")))
    return stops.sort("plate", "start"), seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mp-python", type=Path, required=True)
    ap.add_argument("--gps", type=Path, default=REPO.parent / "shared/realdata/wx_taxi_gps.csv")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write-fixture", action="store_true")
    args = ap.parse_args()

    cfg = load_config()["vehicles"]
    tracks = taxi_tracks(args.gps)
    print(
        f"{args.gps.name}: {tracks['plate'].n_unique()} vehicles, {tracks.height:,} fixes; "
        f"diameter {cfg['stay_diameter_m']:g} m, {cfg['stay_min_minutes']:g} min"
    )
    theirs, s_mp = movingpandas_stops(args.mp_python, tracks, cfg)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ours = stay_points(tracks.lazy(), cfg).collect()
        best = min(best, time.perf_counter() - t0)
    recall, precision = _agreement(ours, theirs)
    print(f"movingpandas {s_mp:.3f} s, ours {best * 1000:.1f} ms -> {s_mp / best:,.0f}x faster")
    print(
        f"stops: movingpandas {theirs.height}, ours {ours.height}; "
        f"theirs found by ours {recall:.1%}, ours found by theirs {precision:.1%}"
    )
    if args.write_fixture:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        theirs.select(
            pl.col("plate").alias("vehicle"),
            pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S"),
            pl.col("end").dt.strftime("%Y-%m-%d %H:%M:%S"),
        ).write_csv(FIXTURE)
        print(f"wrote {FIXTURE.relative_to(REPO)} ({theirs.height} stops)")


if __name__ == "__main__":
    main()
