"""The whole screening, stage by stage, on generated counties up to a prefecture-level city,
against the hardware's limit, with the readings as Parquet or as the CSV agencies send.

    python bench/city_bench.py --sizes small medium city --out /tmp/bench-city
    python bench/city_bench.py --sizes city --formats parquet csv --out /tmp/bench-city

For each size: a plain (parquet) bundle is generated once and laid out as an agency folder
holds it on the screening date, readings and tracks as the history and that day's new files
(``<out>/<size>/bundle``, kept for re-runs). ``--formats csv`` adds the same bundle with its
readings as the grid company's GB18030 wide-hourly ``.csv.gz`` export, the history's and the
last day's apart (``<out>/<size>/csv``, registers hard-linked, GPS tracks left as Parquet), with
UTF-8 twins of the readings for DuckDB (``<out>/<size>/csv-utf8``); also made once and kept.
Both are prepared in a process of their own, not timed.

Each size and format then runs in its own process, so that peak memory (VmHWM) is its own:
one full run timed stage by stage with the peak after each stage; a re-scoring after a rule
change (signals unchanged); and a nightly increment (the warehouse taken back to the night
before, then the day's files arrive; see night_bench.py), timed end to end with its own
peak, its ``leads.csv`` compared with the full run's (the list a ``screening run`` without a
ledger writes: the full run's scoring, before its ledger merge).

The limit is a plain DuckDB scan, in the same process after the run: of the input files
(the readings as Parquet, or as CSV text from the UTF-8 twins; the GPS tracks), against which
the ingest is set, and of the warehouse's stored readings and points, against which each heavy
stage is set (those are its input; they are the same for both formats).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))  # bench/ is a folder of scripts
from measure import csv_scan, parquet_scan, peak_gb, reset_peak
from night_bench import back_one_night, last_day_files, prime_series, put_back, sha

from screening.ingest import ingest_bundle
from screening.ledger.merge import merge_into_ledger
from screening.pipeline import build_sites, run_screening, score_run
from screening.pipeline.run import write_leads
from screening.sample import generate
from screening.sample.layouts import write_csv_bundle
from screening.settings import load_settings
from screening.store.warehouse import Warehouse

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class Layout:
    """Where one size's run in one format reads and writes under ``--out``: the Parquet run
    in ``<out>/<size>`` (as night_bench.py expects it), the CSV run in ``<out>/<size>/from-csv``."""

    bundle: Path
    root: Path  # forms and the ledger go here
    work: Path
    run: Path  # the full run's lead files (after its ledger merge)
    rebuild: Path  # the full run's lead list as `screening run` without a ledger writes it
    night: Path  # the nightly increment's run folder
    held: Path  # the last day's files while the warehouse is taken back a night
    twin: Path | None  # the CSV readings in UTF-8, for DuckDB

    @staticmethod
    def of(out: Path, size: str, fmt: str) -> Layout:
        base = out / size
        bundle, root, twin = (
            (base / "bundle", base, None)
            if fmt == "parquet"
            else (base / "csv", base / "from-csv", base / "csv-utf8")
        )
        dirs = (root / d for d in ("work", "run", "rebuild", "night", "held"))
        return Layout(bundle, root, *dirs, twin=twin)


def prepare(size: str, seed: int, out: Path, formats: list[str]) -> None:
    """The bundles, made once and kept: the Parquet one (generated, then laid out as history
    and last day, see nightly_bench.py) and, if asked, the CSV one made from it."""
    from nightly_bench import _nights

    parquet = Layout.of(out, size, "parquet")
    put_back(parquet.bundle, parquet.held)
    if not ((parquet.bundle / "manifest.toml").exists() and last_day_files(parquet.bundle)):
        plain = out / size / "plain"
        if not (plain / "manifest.toml").exists():
            t0 = time.perf_counter()
            generate(plain, seed=seed, size=size, messy=False)
            print(f"{size}: generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        bundle, arriving, _ = _nights(plain, out / size)
        for name, path in arriving.items():
            shutil.move(path, bundle / name / path.name)
    if "csv" in formats:
        csv = Layout.of(out, size, "csv")
        put_back(csv.bundle, csv.held)
        t0 = time.perf_counter()
        if not csv.bundle.exists() or csv.twin is None or not csv.twin.exists():
            write_csv_bundle(parquet.bundle, csv.bundle, twin=csv.twin, by_file=True)
            print(f"{size}: CSV bundle in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def one_size(size: str, fmt: str, out: Path) -> dict[str, object]:
    lay = Layout.of(out, size, fmt)
    bundle, work = lay.bundle, lay.work
    ledger = lay.root / "ledger.duckdb"
    for d in (work, lay.run, ledger, lay.night, lay.rebuild, lay.root / "forms"):
        shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
    row: dict[str, object] = {"size": f"{size} {fmt}"}
    readings_in = sorted((bundle / "power_readings").glob("*"))
    row["readings files"] = (
        f"{len(readings_in)}, {sum(p.stat().st_size for p in readings_in) / 2**20:.0f} MB"
    )
    peaks: dict[str, float] = {}

    def stage(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        row[label] = round(time.perf_counter() - t0, 2)
        peaks[label] = round(peak_gb(), 2)
        print(f"{row['size']} {label}: {row[label]} s, peak {peaks[label]} GB", file=sys.stderr)
        return result

    started = time.perf_counter()
    ingest = stage("ingest", ingest_bundle, bundle, work, incremental=True)
    sites = stage("signals and sites", build_sites, work)
    for k, v in sites.seconds.items():
        row[f"  {k}"] = v
    config = load_settings()
    leads, _ = stage("scoring", score_run, work)
    merged, *_ = stage("ledger merge", merge_into_ledger, ledger, ingest, leads, config)
    stage("lead files", write_leads, merged, lay.run)
    stage("exports", _exports, merged, work, lay.root)
    row["total"] = round(time.perf_counter() - started, 2)
    row["peak GB"] = round(peak_gb(), 2)
    write_leads(leads, lay.rebuild)  # what `screening run` without a ledger lists

    if lay.twin is None:
        scan_in, _ = parquet_scan(str(bundle / "power_readings" / "*.parquet"), "account_id", "kwh")
    else:
        scan_in = csv_scan(sorted(lay.twin.glob("*.csv.gz")))
    tracks_in, _ = parquet_scan(str(bundle / "vehicle_tracks" / "*.parquet"), "plate", "lon")
    readings_s, n_readings = parquet_scan(_stored(work, "power_readings"), "account_id", "kwh")
    tracks_s, n_points = parquet_scan(_stored(work, "vehicle_tracks"), "plate", "lon")
    row["readings"] = n_readings
    row["gps points"] = n_points
    row["scan input readings"] = round(scan_in, 2)
    row["scan input tracks"] = round(tracks_in, 2)
    row["ingest / input scan"] = round(float(row["ingest"]) / (scan_in + tracks_in), 1)  # type: ignore[arg-type]
    row["scan stored readings"] = round(readings_s, 2)
    row["scan stored tracks"] = round(tracks_s, 2)
    power, stays = float(row["  power signals"]), float(row["  stay points"])  # type: ignore[arg-type]
    row["power / stored scan"] = round(power / readings_s, 1)
    row["stays / stored scan"] = round(stays / tracks_s, 1)
    row["power / input scan"] = round(power / scan_in, 1)
    row["stays / input scan"] = round(stays / tracks_in, 1)
    row["re-score"] = _timed(score_run, work)
    row["increment"], row["increment peak GB"] = _increment(lay)
    row["night leads.csv"] = sha(lay.night / "leads.csv")
    row["full run leads.csv"] = sha(lay.rebuild / "leads.csv")
    same = (lay.night / "leads.csv").read_bytes() == (lay.rebuild / "leads.csv").read_bytes()
    row["same leads"] = "yes" if same else "NO"
    row["peaks"] = peaks
    return row


def _stored(work: Path, name: str) -> str:
    return str(work / "bulk" / name / "*.parquet")


def _increment(lay: Layout) -> tuple[float, float]:
    """The nightly increment: the warehouse is taken back to the night before (the last
    day's files out of the bundle, an incremental ingest drops their parts; not timed), then
    the files arrive and ``run_screening`` on the kept warehouse is timed end to end, with
    the peak memory from the night's start (where the process's peak can be reset). The kept
    daily series (scale.series_cache) are taken back too, as a real night finds them."""
    before = back_one_night(lay.bundle, lay.work, lay.held, last_day_files(lay.bundle))
    settings = load_settings()
    if settings.scale["series_cache"] and before.as_of is not None:
        prime_series(lay.work, before.as_of, settings)
    own = reset_peak()
    report = run_screening(lay.bundle, lay.night, work_dir=lay.work)
    for k, v in report.steps.items():
        print(f"increment {k}: {v} s", file=sys.stderr)
    return round(report.seconds, 2), round(peak_gb(), 2) if own else float("nan")


def _timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args)
    return round(time.perf_counter() - t0, 2)


def _exports(leads: pl.DataFrame, work: Path, out: Path) -> None:
    from screening.export.exporter import LedgerView, export_all
    from screening.ledger.ledger import Ledger

    with Warehouse(work, read_only=True) as wh:
        townships = wh.table("townships")
        as_of = dt.date.fromisoformat(wh.meta()["as_of"])
    with Ledger(out / "ledger.duckdb", read_only=True) as lg:
        view = LedgerView(lg.history(), lg.sites(), lg.latest_leads())
    export_all(leads, view, out / "forms", as_of, as_of, townships)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["small", "medium", "city"])
    ap.add_argument("--formats", nargs="+", choices=FORMATS, default=["parquet"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-city"))
    # internal: prepare one size's bundles; run one size in one format, print JSON
    ap.add_argument("--prepare", help=argparse.SUPPRESS)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--format", default="parquet", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare(args.prepare, args.seed, args.out, args.formats)
        return
    if args.one:
        print(json.dumps(one_size(args.one, args.format, args.out)))
        return
    rows = []
    me = [sys.executable, __file__, "--seed", str(args.seed), "--out", str(args.out)]
    for size in args.sizes:
        subprocess.run([*me, "--prepare", size, "--formats", *args.formats], check=True)
        for fmt in args.formats:
            proc = subprocess.run(
                [*me, "--one", size, "--format", fmt],
                check=True,
                stdout=subprocess.PIPE,  # progress goes to stderr as it happens
                text=True,
            )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{r['size']}: {r['total']} s, peak {r['peak GB']} GB", file=sys.stderr)
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("size", "peaks")))
    table = pl.DataFrame(
        {"stage": keys, **{str(r["size"]): [str(r.get(k, "")) for k in keys] for r in rows}}
    )
    with pl.Config(tbl_rows=80, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(table)
    if "csv" in args.formats:
        print(
            "csv: the readings as GB18030 wide-hourly .csv.gz (hourly meters; daily meters long),"
            " history and last day apart; registers and GPS tracks as in the Parquet bundle"
            " (tracks stay Parquet); DuckDB's input scan reads UTF-8 twins of the same files"
        )
    for r in rows:
        print(f"{r['size']} peak memory after each stage (GB): {r['peaks']}")


if __name__ == "__main__":
    main()
