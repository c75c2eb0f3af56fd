"""The whole screening, stage by stage, on generated counties up to a prefecture-level city,
against the hardware's limit.

    python bench/city_bench.py --sizes small medium city --out /tmp/bench-city

For each size: a plain (parquet) bundle is generated once (kept for re-runs) and laid out
as an agency folder holds it on the screening date: readings and tracks as the history and
that day's new files. One full run is timed stage by stage with the process's peak resident
memory after each stage; then a re-scoring after a rule change (signals unchanged), and a
nightly increment (the warehouse taken back to the night before, then the day's files
arrive; see nightly_bench.py). The limit is a plain DuckDB scan, in the same
process, that reads every reading and every GPS point once and aggregates per account and per
plate; each heavy stage is reported as a multiple of the scan of its input.

Run one size per process (the default does) so that peak memory is that size's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from screening.ingest import ingest_bundle
from screening.ledger.merge import merge_into_ledger
from screening.pipeline import build_sites, run_screening, score_run
from screening.pipeline.run import write_leads
from screening.sample import generate
from screening.settings import load_settings
from screening.store.warehouse import Warehouse


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _scan(work: Path, name: str, key: str) -> tuple[float, int]:
    """The limit: one DuckDB pass over a bulk series that reads every row's key, time and
    value and aggregates per key (count, sum, first and last time). Every aggregate is used
    by the outer query: DuckDB drops an unused one, and with it the column's read."""
    glob = str(work / "bulk" / name / "*.parquet")
    value = "kwh" if name == "power_readings" else "lon"
    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = con.execute(
        f"SELECT CAST(sum(n) AS BIGINT), sum(v), min(t0), max(t1) FROM (SELECT {key}, "
        f"count(*) AS n, sum({value}) AS v, min(ts) AS t0, max(ts) AS t1 "
        f"FROM read_parquet('{glob}') GROUP BY {key})"
    ).fetchall()[0][0]
    return time.perf_counter() - t0, int(rows or 0)


def _bundle(size: str, seed: int, out: Path) -> tuple[Path, dict[str, Path]]:
    """The generated county as an agency folder holds it on the screening date: readings
    and tracks as the history plus that day's new files (see nightly_bench.py). Returns the
    bundle and its last day's files."""
    sys.path.insert(0, str(Path(__file__).parent))  # bench/ is a folder of scripts
    from nightly_bench import _nights

    plain = out / size / "plain"
    if not (plain / "manifest.toml").exists():
        t0 = time.perf_counter()
        generate(plain, seed=seed, size=size, messy=False)
        print(f"{size}: generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    bundle, arriving, _ = _nights(plain, out / size)
    for name, path in arriving.items():
        arriving[name] = bundle / name / path.name
        shutil.move(path, arriving[name])
    return bundle, arriving


def one_size(size: str, seed: int, out: Path) -> dict[str, object]:
    bundle, last_day = _bundle(size, seed, out)
    work, run = out / size / "work", out / size / "run"
    for d in (work, run, out / size / "ledger.duckdb", out / size / "night"):
        shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
    row: dict[str, object] = {"size": size}
    peaks: dict[str, float] = {}

    def stage(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        row[label] = round(time.perf_counter() - t0, 2)
        peaks[label] = round(_peak_gb(), 2)
        print(f"{size} {label}: {row[label]} s, peak {peaks[label]} GB", file=sys.stderr)
        return result

    started = time.perf_counter()
    ingest = stage("ingest", ingest_bundle, bundle, work, incremental=True)
    sites = stage("signals and sites", build_sites, work)
    for k, v in sites.seconds.items():
        row[f"  {k}"] = v
    config = load_settings()
    leads, _ = stage("scoring", score_run, work)
    merged, *_ = stage(
        "ledger merge", merge_into_ledger, out / size / "ledger.duckdb", ingest, leads, config
    )
    stage("lead files", write_leads, merged, run)
    stage("exports", _exports, merged, work, out / size)
    row["total"] = round(time.perf_counter() - started, 2)
    row["peak GB"] = round(_peak_gb(), 2)

    readings_s, n_readings = _scan(work, "power_readings", "account_id")
    tracks_s, n_points = _scan(work, "vehicle_tracks", "plate")
    row["readings"] = n_readings
    row["gps points"] = n_points
    row["scan readings"] = round(readings_s, 2)
    row["scan tracks"] = round(tracks_s, 2)
    row["power / scan"] = round(float(row["  power signals"]) / readings_s, 2)  # type: ignore[arg-type]
    row["stays / scan"] = round(float(row["  stay points"]) / tracks_s, 2)  # type: ignore[arg-type]
    row["re-score"] = _timed(score_run, work)
    row["increment"] = _increment(bundle, last_day, work, out / size)
    row["peaks"] = peaks
    return row


def _increment(bundle: Path, last_day: dict[str, Path], work: Path, out: Path) -> float:
    """The nightly increment: the warehouse is taken back to the night before (the last
    day's files out of the bundle, an incremental ingest drops their parts; not timed), then
    the files arrive and ``run_screening`` on the kept warehouse is timed end to end."""
    from night_bench import back_one_night  # bench/ is on sys.path (see _bundle)

    back_one_night(bundle, work, out / "held", list(last_day.values()))
    report = run_screening(bundle, out / "night", work_dir=work)
    for k, v in report.steps.items():
        print(f"increment {k}: {v} s", file=sys.stderr)
    return round(report.seconds, 2)


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
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-city"))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one size, print JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed, args.out)))
        return
    rows = []
    for size in args.sizes:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                size,
                "--seed",
                str(args.seed),
                "--out",
                str(args.out),
            ],
            check=True,
            stdout=subprocess.PIPE,  # progress goes to stderr as it happens
            text=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{size}: {rows[-1]['total']} s, peak {rows[-1]['peak GB']} GB", file=sys.stderr)
    keys = [k for k in rows[0] if k not in ("size", "peaks")]
    table = pl.DataFrame({"stage": keys, **{r["size"]: [str(r[k]) for k in keys] for r in rows}})
    with pl.Config(tbl_rows=60, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(table)
    for r in rows:
        print(f"{r['size']} peak memory after each stage (GB): {r['peaks']}")


if __name__ == "__main__":
    main()
