"""The nightly increment alone, stage by stage, on a warehouse city_bench.py left behind.

    python bench/night_bench.py --out /work/bench --size city [--profile] [--rebuild]

city_bench.py keeps ``<out>/<size>/bundle`` (the history and the last day's files) and
``<out>/<size>/work`` (the warehouse after its runs). Each night here takes the warehouse back
to the night before (the last day's files out, an incremental ingest drops their parts; not
timed), puts the files back and times ``run_screening`` on the kept warehouse, with the
seconds of every step and of the site stages. ``--profile`` writes a pyinstrument profile
of the night (needs pyinstrument). ``--rebuild`` then screens the same bundle into a fresh
warehouse and checks that both lead lists are byte for byte the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from pathlib import Path

from screening.ingest import ingest_bundle
from screening.pipeline import run_screening

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


def back_one_night(bundle: Path, work: Path, held: Path, files: list[Path]) -> None:
    """The warehouse as it stood the night before: the last day's files taken out of the
    bundle and an incremental ingest (which drops their parts), then the files put back."""
    for path in files:
        (held / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.move(path, held / path.parent.name / path.name)
    ingest_bundle(bundle, work, incremental=True)
    put_back(bundle, held)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/work/bench"))
    ap.add_argument("--size", default="city")
    ap.add_argument("--nights", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--rebuild", action="store_true", help="also a full rebuild, leads compared")
    args = ap.parse_args()
    root = args.out / args.size
    bundle, work = root / "bundle", root / "work"
    put_back(bundle, root / "held")
    if not last_day_files(bundle):
        sys.exit(f"{bundle}: no last day's files; run bench/city_bench.py first")
    for i in range(args.nights):
        t0 = time.perf_counter()
        back_one_night(bundle, work, root / "held", last_day_files(bundle))
        print(f"taken back one night in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        night = root / "night"
        shutil.rmtree(night, ignore_errors=True)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        report = run_screening(bundle, night, work_dir=work)
        if profiler is not None:
            profiler.stop()
            (root / "night-profile.txt").write_text(profiler.output_text(show_all=False))
        print(f"night {i + 1}: {report.seconds:.1f} s end to end")
        for k, v in report.steps.items():
            print(f"  {k}: {v} s")
        for k, v in report.sites.seconds.items():
            print(f"    {k}: {v} s")
        print(f"  leads.csv {sha(night / 'leads.csv')}, {report.leads.height} leads")
    if args.rebuild:
        full = root / "rebuild"
        shutil.rmtree(full, ignore_errors=True)
        t0 = time.perf_counter()
        run_screening(bundle, full)
        same = (full / "leads.csv").read_bytes() == (root / "night" / "leads.csv").read_bytes()
        print(f"full rebuild {time.perf_counter() - t0:.1f} s, leads.csv {sha(full / 'leads.csv')}")
        print(f"same leads.csv as the night: {'yes' if same else 'NO'}")
        shutil.rmtree(full, ignore_errors=True)


if __name__ == "__main__":
    main()
