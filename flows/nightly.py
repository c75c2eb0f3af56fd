"""The nightly screening as a Prefect flow: one task per step, each one call into
screening.pipeline, so that everything also runs without Prefect (``screening run``).

The warehouse lives in one work directory kept from night to night: the ingest reads only
the files it has not seen (by content hash) and the rolling windows are recomputed from the
stored series. Each night's lead list and summary go to their own run folder. The heavy
stages map one task over each partition of meters and of plates; with a Dask scheduler
address (config ``scale.dask_address`` or ``dask=``) they run on that cluster through
prefect-dask, otherwise in Prefect's local thread pool.

The run lock spans the night (a second run refuses instead of racing); the ledger merge is
one transaction (a crash or kill leaves the ledger as it was); merging the same inputs twice
changes nothing. Reading sources is retried; every step logs what it did in numbers; the
summary and the top leads are published as artifacts for the Prefect UI.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from screening import partitions, pipeline
from screening.config import load_config
from screening.locking import run_lock

TZ = ZoneInfo("Asia/Shanghai")


@task(name="ingest sources", retries=2, retry_delay_seconds=30, cache_policy=NONE)
def ingest(bundle: Path, work_dir: Path, config: Path | None) -> pipeline.IngestReport:
    report = pipeline.ingest_bundle(bundle, work_dir, config, incremental=True)
    log = get_run_logger()
    for r in report.summary.iter_rows(named=True):
        log.info(
            "%s: %s rows in, %s kept, %s quarantined, %s duplicates collapsed, "
            "%s files unchanged since last night",
            r["source"],
            r["rows_read"],
            r["rows_kept"],
            r["quarantined"],
            r["duplicates_collapsed"],
            r["files_reused"],
        )
    return report


@task(name="plan partitions", cache_policy=NONE)
def plan(
    work_dir: Path, scale: dict[str, Any], parts: int
) -> tuple[list[partitions.Bounds], list[partitions.Bounds]]:
    meters = partitions.ranges(work_dir, "power_readings", scale, parts)
    plates = partitions.ranges(work_dir, "vehicle_tracks", scale, parts)
    get_run_logger().info("%d meter and %d plate partitions", len(meters), len(plates))
    return meters, plates


@task(name="power signals", task_run_name="power signals {bounds}", cache_policy=NONE)
def meter_part(
    work_dir: Path, as_of: dt.date, config: Path | None, bounds: partitions.Bounds
) -> pl.DataFrame:
    return partitions.meter_part(work_dir, as_of, load_config(config), bounds)


@task(name="stay points", task_run_name="stay points {bounds}", cache_policy=NONE)
def stay_part(
    work_dir: Path, as_of: dt.date, config: Path | None, bounds: partitions.Bounds
) -> pl.DataFrame:
    return partitions.stay_part(work_dir, as_of, load_config(config), bounds)


@task(name="ledger feedback", cache_policy=NONE)
def feedback(run_dir: Path, ledger: Path, config: Path | None) -> dict[str, float]:
    weights = pipeline.ledger_feedback(run_dir, ledger, load_config(config))
    get_run_logger().info("rule weights from outcomes: %s", weights or "unchanged")
    return weights


@task(name="places and sites", cache_policy=NONE)
def sites(
    work_dir: Path,
    config: Path | None,
    meters: list[pl.DataFrame],
    stays: list[pl.DataFrame],
) -> pipeline.SitesReport:
    report = pipeline.build_sites(
        work_dir, config, meters=partitions.concat(meters), stays=partitions.concat(stays)
    )
    get_run_logger().info("sites: %s", report.counts)
    return report


@task(name="score sites", cache_policy=NONE)
def score(run_dir: Path, config: Path | None, weights: dict[str, float]) -> pl.DataFrame:
    leads, _ = pipeline.score_run(run_dir, config, weights)
    get_run_logger().info("%d leads above the listing threshold", leads.height)
    return leads


@task(name="merge into ledger", cache_policy=NONE)
def merge(
    ledger: Path, ingest_report: pipeline.IngestReport, leads: pl.DataFrame, config: Path | None
) -> tuple[pl.DataFrame, dict[str, int]]:
    out, counts = pipeline.merge_into_ledger(ledger, ingest_report, leads, load_config(config))
    get_run_logger().info("ledger: %s", counts)
    return out, counts


@task(name="write lead list", cache_policy=NONE)
def finish(
    run_dir: Path,
    ingest_report: pipeline.IngestReport,
    sites_report: pipeline.SitesReport,
    leads: pl.DataFrame,
    started: float,
    counts: dict[str, int],
    weights: dict[str, float],
    work_dir: Path,
) -> pipeline.RunReport:
    return pipeline.finish_run(
        run_dir, ingest_report, sites_report, leads, started, counts, weights, None, work_dir
    )


@task(name="export forms and maps", cache_policy=NONE)
def export(run_dir: Path, work_dir: Path, ledger: Path, out: Path) -> list[str]:
    from screening.export import export_all
    from screening.ledger import Ledger
    from screening.warehouse import Warehouse

    today = dt.datetime.now(TZ).date()
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    leads = pl.read_parquet(run_dir / "leads.parquet")
    with Warehouse(work_dir, read_only=True) as wh:
        townships = wh.table("townships")
    with Ledger(ledger) as lg:
        written = export_all(leads, lg.history(), lg.status(), out, month_end, today, townships)
    get_run_logger().info("%d forms and maps written to %s", len(written), out)
    return [str(p) for p in written]


@task(name="publish artifacts", cache_policy=NONE)
def publish(report: pipeline.RunReport) -> None:
    create_markdown_artifact(
        pipeline.summary_markdown(report),
        key="screening-summary",
        description="the night's screening in numbers",
    )
    top = report.leads.head(20).select(
        "rank", "score", "category_zh", "township", "address", "reasons"
    )
    create_table_artifact(top.to_dicts(), key="screening-top-leads", description="top 20 leads")


# bounded by the shipped scale.flow_threads (configured() applies a settings file's own):
# Prefect's default thread pool is unbounded
@flow(
    name="nightly-screening",
    log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=load_config()["scale"]["flow_threads"]),
)
def nightly(
    bundle: str,
    run_root: str = "runs",
    work_dir: str = "work",
    ledger: str = "ledger/ledger.duckdb",
    config: str | None = None,
    export_dir: str | None = None,
    night: str | None = None,
    n_partitions: int | None = None,
) -> dict[str, object]:
    """One night: ingest the new files → ledger feedback → power signals and stay points per
    partition → places and sites → scores → ledger merge → lead list → forms and maps →
    artifacts. ``night`` names the run folder (default: today in Asia/Shanghai);
    ``n_partitions`` overrides ``scale.flow_partitions``."""
    started = time.perf_counter()
    name = night or dt.datetime.now(TZ).strftime("%Y-%m-%d")
    run_dir = Path(run_root) / name
    work = Path(work_dir)
    cfg = Path(config) if config else None
    scale = load_config(cfg)["scale"]
    parts = n_partitions or scale["flow_partitions"]
    ledger_path = Path(ledger)
    with run_lock(ledger_path):
        ing = ingest(Path(bundle), work, cfg)
        weights = feedback(work, ledger_path, cfg)
        meter_ranges, plate_ranges = plan(work, scale, parts)
        meters = meter_part.map(unmapped(work), unmapped(ing.as_of), unmapped(cfg), meter_ranges)
        stays = stay_part.map(unmapped(work), unmapped(ing.as_of), unmapped(cfg), plate_ranges)
        site_report = sites(work, cfg, meters, stays)
        leads = score(work, cfg, weights)
        merged, counts = merge(ledger_path, ing, leads, cfg)
        report = finish(run_dir, ing, site_report, merged, started, counts, weights, work)
        files = export(run_dir, work, ledger_path, Path(export_dir)) if export_dir else []
    publish(report)
    return {
        "run_dir": str(run_dir),
        "leads": report.leads.height,
        "ledger": counts,
        "files": len(files),
        "files_reused": int(ing.summary["files_reused"].sum()),
    }


def task_runner(dask: str | None, threads: int):  # type: ignore[no-untyped-def]
    """The task runner for ``dask``: a scheduler address ("tcp://host:8786") runs the tasks on
    that cluster; "local" starts a Dask cluster on this machine for the run (worker
    processes, one per core); empty runs them in Prefect's thread pool, ``threads`` tasks at
    once (Prefect's default is unbounded: every partition of a city at once, 4 GB each)."""
    if not dask:
        return ThreadPoolTaskRunner(max_workers=threads)
    from prefect_dask import DaskTaskRunner

    if dask == "local":
        return DaskTaskRunner(cluster_kwargs={"processes": True, "threads_per_worker": 1})
    return DaskTaskRunner(address=dask)


def configured(dask: str | None = None, config: str | None = None):  # type: ignore[no-untyped-def]
    """The nightly flow with its task runner: ``dask`` if given, else the config's
    ``scale.dask_address``, else local threads."""
    scale = load_config(Path(config) if config else None)["scale"]
    address = dask if dask is not None else scale["dask_address"]
    return nightly.with_options(task_runner=task_runner(address, scale["flow_threads"]))


def deployment(
    bundle: str,
    cron: str = "0 2 * * *",
    timezone: str = "Asia/Shanghai",
    dask: str | None = None,
    **parameters: object,
):  # type: ignore[no-untyped-def]
    """The nightly deployment: a cron in the campaign's timezone (a bare cron means UTC)."""
    from prefect.schedules import Cron

    config = parameters.get("config")
    return configured(dask, str(config) if config else None).to_deployment(
        name="nightly",
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"bundle": bundle, **parameters},
    )
