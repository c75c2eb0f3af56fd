"""The nightly increment alone, stage by stage, on a warehouse city_bench.py left behind.

    python bench/night_bench.py --out /work/bench --size city [--profile] [--rebuild]
        [--no-series-cache]

city_bench.py keeps ``<out>/<size>/bundle`` (the history and the last day's files) and
``<out>/<size>/work`` (the warehouse after its runs). Each night here takes the warehouse back
to the night before (the last day's files out, an incremental ingest drops their parts; not
timed), puts the files back and times ``run_screening`` on the kept warehouse, with the
seconds of every step and of the site stages. ``--profile`` writes a pyinstrument profile
of the night (needs pyinstrument). ``--rebuild`` then screens the same bundle into a fresh
warehouse and checks that both lead lists are byte for byte the same file (the rebuild keeps
no series: nothing carried over). ``--no-series-cache`` times the night with
``scale.series_cache`` off (every partition sums its meters' whole window again); with it on,
the line after the steps says how each partition's kept series was brought up to date.
Taken back, the warehouse still holds the series kept by the last bench night, which already
counts the last day's files: ``--prime-series`` brings it back to the night before as well
(not timed), so that the timed night adds the last day as a real one does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from screening.ingest import IngestReport, ingest_bundle
from screening.pipeline import partitions, run_screening
from screening.settings import Settings, load_settings
from screening.signals import cache
from screening.store import catalog

BULK = ("power_readings", "vehicle_tracks")


def last_day_files(bundle: Path) -> list[Path]:
    """The files city_bench moved into the bundle as the screening day's (not history): in a
    Parquet bundle ``<series>-<day>.parquet``, in a CSV one also the readings' exports of that
    file (``power_readings-<day>_wide_hourly_1.csv.gz``, ...)."""
    return [
        p
        for n in BULK
        for p in sorted((bundle / n).glob("*"))
        if p.is_file() and not p.name.startswith("history")
    ]


def put_back(bundle: Path, held: Path) -> None:
    """Files a night held back (``held/<series>/``) and did not return, because its process
    was stopped, put back into the bundle: the bundle is whole again before it is used."""
    for path in sorted(held.glob("*/*")):
        shutil.move(path, bundle / path.parent.name / path.name)


def back_one_night(bundle: Path, work: Path, held: Path, files: list[Path]) -> IngestReport:
    """The warehouse as it stood the night before: the last day's files taken out of the
    bundle and an incremental ingest (which drops their parts), then the files put back.
    Returns that ingest's report (the night before's as_of)."""
    for path in files:
        (held / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.move(path, held / path.parent.name / path.name)
    report = ingest_bundle(bundle, work, incremental=True)
    put_back(bundle, held)
    return report


def prime_series(work: Path, as_of: dt.date, settings: Settings) -> None:
    """Each partition's kept series as the night before left it (the warehouse taken back):
    without it, the series a bench night finds already holds the last day's files, which a
    real night's never does, since that night brings them."""
    bounds = partitions.ranges(work, "power_readings", settings.scale)
    partitions.keep_series(work, as_of, settings, bounds)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def series_cache_line(work: Path, settings: Settings) -> str:
    """How tonight's kept series was made (its manifest, signals/cache.py)."""
    folder = catalog.series_cache_dir(work) / cache.shape_key(settings.power)
    m = json.loads((folder / partitions.MANIFEST).read_text(encoding="utf-8"))
    how = f"extended by {len(m['added'])} new files" if m["how"] == "extend" else "summed whole"
    why = f" ({m['reason']})" if m["reason"] else ""
    return f"  kept series: {how}{why}, {len(m['segments'])} segments"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/work/bench"))
    ap.add_argument("--size", default="city")
    ap.add_argument("--nights", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--rebuild", action="store_true", help="also a full rebuild, leads compared")
    ap.add_argument(
        "--no-series-cache", action="store_true", help="the night with scale.series_cache off"
    )
    ap.add_argument(
        "--prime-series",
        action="store_true",
        help="the kept series taken back to the night before too (not timed)",
    )
    args = ap.parse_args()
    settings = load_settings().replace(scale={"series_cache": not args.no_series_cache})
    root = args.out / args.size
    bundle, work = root / "bundle", root / "work"
    put_back(bundle, root / "held")
    if not last_day_files(bundle):
        sys.exit(f"{bundle}: no last day's files; run bench/city_bench.py first")
    for i in range(args.nights):
        t0 = time.perf_counter()
        before = back_one_night(bundle, work, root / "held", last_day_files(bundle))
        print(f"taken back one night in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.prime_series and not args.no_series_cache and before.as_of is not None:
            t0 = time.perf_counter()
            prime_series(work, before.as_of, settings)
            print(f"series kept as of {before.as_of} in {time.perf_counter() - t0:.1f} s")
        night = root / "night"
        shutil.rmtree(night, ignore_errors=True)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        report = run_screening(bundle, night, settings, work_dir=work)
        if profiler is not None:
            profiler.stop()
            (root / "night-profile.txt").write_text(profiler.output_text(show_all=False))
        print(f"night {i + 1}: {report.seconds:.1f} s end to end")
        for k, v in report.steps.items():
            print(f"  {k}: {v} s")
        for k, v in report.sites.seconds.items():
            print(f"    {k}: {v} s")
        if not args.no_series_cache:
            print(series_cache_line(work, settings))
        print(f"  leads.csv {sha(night / 'leads.csv')}, {report.leads.height} leads")
    if args.rebuild:
        full = root / "rebuild"
        shutil.rmtree(full, ignore_errors=True)
        t0 = time.perf_counter()
        run_screening(bundle, full, settings.replace(scale={"series_cache": False}))
        same = (full / "leads.csv").read_bytes() == (root / "night" / "leads.csv").read_bytes()
        print(f"full rebuild {time.perf_counter() - t0:.1f} s, leads.csv {sha(full / 'leads.csv')}")
        print(f"same leads.csv as the night: {'yes' if same else 'NO'}")
        shutil.rmtree(full, ignore_errors=True)


if __name__ == "__main__":
    main()
