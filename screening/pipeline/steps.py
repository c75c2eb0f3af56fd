"""The one list of steps of a screening, walked by ``screening run`` (``run_screening``, in
this process) and by the nightly Prefect flow (one task per step, ``flows/nightly.py``), so
that the two cannot drift apart.

A step is a function of the job and of earlier steps' results, named in ``needs``; its
result is stored under ``out``. A step with ``over`` is mapped: called once per item of an
earlier result (a partition of meters or plates), here one after another, in the flow as
parallel tasks, possibly on a Dask cluster. Steps that only apply with a ledger or an export
folder decide that themselves and pass their input through, so that the list has no
branches.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from screening.ingest import IngestError, IngestReport, ingest_bundle
from screening.ledger.locking import run_lock, work_lock
from screening.ledger.merge import Feedback, describe_merge, ledger_feedback, merge_into_ledger
from screening.pipeline import partitions
from screening.pipeline.report import RunReport, SitesReport
from screening.pipeline.run import build_sites, export_run, finish_run, score_run, timer
from screening.settings import Settings, settings_of
from screening.signals.cache import KeptSeries
from screening.store.warehouse import ensure_writable


@dataclass(frozen=True)
class Job:
    """What one screening is asked to do. ``work_dir`` holds the warehouse (the run folder
    itself for a one-off run); ``incremental`` reads only files not ingested there before;
    ``partitions`` overrides ``scale.partitions`` (the flow passes ``scale.flow_partitions``)."""

    bundle: Path
    run_dir: Path
    work_dir: Path
    settings: Settings
    ledger: Path | None = None
    incremental: bool = False
    export_dir: Path | None = None
    partitions: int | None = None
    force_as_of: bool = False  # screen a manifest as_of beyond the data's end or today
    started: float = field(default_factory=time.time)  # wall clock: steps may run elsewhere
    # seconds per step, filled by whoever walks the steps in this process
    timings: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[..., Any]
    out: str
    needs: tuple[str, ...] = ()
    over: str | None = None  # map over the items of this result
    retries: int = 0
    # what the flow logs when the step is done, one line per item
    describe: Callable[[Any], list[str]] | None = None


# ------------------------------------------------------------------------------- the steps


def ingest(job: Job) -> IngestReport:
    """The bundle into the warehouse; a bundle unfit to screen (a required source with no
    usable rows, an as_of out of bounds) stops here, in one line, after its problems are
    stored for the agency to see."""
    report = ingest_bundle(
        job.bundle,
        job.work_dir,
        job.settings,
        incremental=job.incremental,
        force_as_of=job.force_as_of,
    )
    if report.blocking:
        more = len(report.blocking) - 1
        raise IngestError(report.blocking[0] + (f" (and {more} more)" if more else ""))
    return report


def feedback(job: Job) -> Feedback:
    return ledger_feedback(job.work_dir, job.ledger, job.settings)


def _meter_settings(job: Job) -> Settings:
    """The settings the meters' partitions run with: a warehouse built from scratch for one
    run (no ``work_dir`` kept) keeps no daily series, since no later night would read it."""
    if job.incremental:
        return job.settings
    return job.settings.replace(scale={"series_cache": False})


def meter_ranges(job: Job) -> list[partitions.Bounds]:
    return partitions.ranges(job.work_dir, "power_readings", job.settings.scale, job.partitions)


def daily_series(
    job: Job, ingest: IngestReport, bounds: list[partitions.Bounds]
) -> KeptSeries | None:
    return partitions.keep_series(job.work_dir, _as_of(ingest), _meter_settings(job), bounds)


def plate_ranges(job: Job) -> list[partitions.Bounds]:
    return partitions.ranges(job.work_dir, "vehicle_tracks", job.settings.scale, job.partitions)


def _as_of(ingest: IngestReport) -> dt.date:
    if ingest.as_of is None:
        raise IngestError("no screening date: the bundle has no readings and no as_of")
    return ingest.as_of


def meter_part(
    job: Job, ingest: IngestReport, kept: KeptSeries | None, bounds: partitions.Bounds
) -> pl.DataFrame:
    return partitions.meter_part(job.work_dir, _as_of(ingest), job.settings, bounds, kept)


def stay_part(job: Job, ingest: IngestReport, bounds: partitions.Bounds) -> pl.DataFrame:
    return partitions.stay_part(job.work_dir, _as_of(ingest), job.settings, bounds)


def sites(job: Job, meters: list[pl.DataFrame], stays: list[pl.DataFrame]) -> SitesReport:
    return build_sites(
        job.work_dir,
        job.settings,
        meters=partitions.concat(list(meters)),
        stays=partitions.concat(list(stays)),
    )


def score(job: Job, learnt: Feedback) -> pl.DataFrame:
    return score_run(job.work_dir, job.settings, learnt.weights, learnt.labels, learnt.held)[0]


def merge(
    job: Job, ingest: IngestReport, leads: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, int], pl.DataFrame | None]:
    # the run's outputs must be writable before the ledger records it: a ledger that holds a
    # run whose lead files were never written lies to the next night
    ensure_writable(job.run_dir, job.export_dir)
    if job.ledger is None:
        return leads, {}, None
    return merge_into_ledger(job.ledger, ingest, leads, job.settings)


def lead_list(
    job: Job,
    ingest: IngestReport,
    sites: SitesReport,
    merged: tuple[pl.DataFrame, dict[str, int], pl.DataFrame | None],
    learnt: Feedback,
) -> RunReport:
    leads, counts, changes = merged
    return finish_run(
        job.run_dir,
        ingest,
        sites,
        leads,
        time.time() - job.started,
        counts,
        learnt.weights,
        dict(job.timings),
        job.work_dir,
        learnt.labels.height,
        changes,
    )


def forms(job: Job, report: RunReport) -> list[str]:
    if job.export_dir is None or job.ledger is None:
        return []
    written = export_run(job.run_dir, job.ledger, job.export_dir, settings=job.settings)
    return [str(p) for p in written.files]


def _ingest_lines(report: IngestReport) -> list[str]:
    return [
        f"{r['source']}: {r['rows_read']} rows in, {r['rows_kept']} kept, {r['quarantined']} "
        f"quarantined, {r['duplicates_collapsed']} duplicates collapsed, {r['files_reused']} "
        "files unchanged since last night"
        for r in report.summary.iter_rows(named=True)
    ]


STEPS: tuple[Step, ...] = (
    Step("ingest", ingest, "ingest", retries=2, describe=_ingest_lines),
    Step(
        "ledger feedback",
        feedback,
        "feedback",
        describe=lambda f: [
            f"rule weights from outcomes: {f.weights or 'unchanged'}",
            f"labelled sites for the ranker: {f.labels.height}",
        ],
    ),
    Step("plan meter partitions", meter_ranges, "meter_ranges"),
    Step("plan plate partitions", plate_ranges, "plate_ranges"),
    Step(
        "daily series",
        daily_series,
        "series",
        ("ingest", "meter_ranges"),
        describe=lambda kept: [kept.describe() if kept else "daily series: none kept"],
    ),
    Step("power signals", meter_part, "meters", ("ingest", "series"), over="meter_ranges"),
    Step("stay points", stay_part, "stays", ("ingest",), over="plate_ranges"),
    Step(
        "places and sites",
        sites,
        "sites",
        ("meters", "stays"),
        describe=lambda r: [f"sites: {r.counts}"],
    ),
    Step(
        "scoring",
        score,
        "leads",
        ("feedback",),
        describe=lambda leads: [f"{leads.height} leads above the listing threshold"],
    ),
    Step(
        "ledger merge",
        merge,
        "merged",
        ("ingest", "leads"),
        describe=lambda m: [describe_merge(m[1]) if m[1] else "ledger: no ledger"],
    ),
    Step("lead list", lead_list, "report", ("ingest", "sites", "merged", "feedback")),
    Step(
        "forms and maps",
        forms,
        "files",
        ("report",),
        describe=lambda files: [f"{len(files)} forms and maps written"],
    ),
)


# ------------------------------------------------------------------------------ walking


@contextmanager
def locked(job: Job) -> Iterator[None]:
    """One run at a time on a ledger and on a work directory: a second one refuses
    (RunLocked) instead of racing. The run's folders are checked writable first, so that a
    read-only or full disk stops the run in one line before any work."""
    with run_lock(job.ledger):
        ensure_writable(job.work_dir, job.run_dir, job.export_dir)
        with work_lock(job.work_dir):
            yield


# told before each step (and each item of a mapped step): name, step number, steps, item
# number and items (1, 1 for an unmapped step) — what a progress bar or a log line shows
Progress = Callable[[str, int, int, int, int], None]


def walk(
    job: Job, steps: tuple[Step, ...] = STEPS, progress: Progress | None = None
) -> dict[str, Any]:
    """Every step in this process, in order, timed into ``job.timings``."""
    results: dict[str, Any] = {}
    tell = progress or (lambda *_: None)
    for i, step in enumerate(steps, start=1):
        args = [results[n] for n in step.needs]
        with timer(job.timings, step.name):
            if step.over is None:
                tell(step.name, i, len(steps), 1, 1)
                results[step.out] = step.fn(job, *args)
            else:
                items = results[step.over]
                out = []
                for k, item in enumerate(items, start=1):
                    tell(step.name, i, len(steps), k, len(items))
                    out.append(step.fn(job, *args, item))
                results[step.out] = out
    return results


def run_screening(
    bundle: Path,
    run_dir: Path,
    settings: Settings | Path | None = None,
    ledger_path: Path | None = None,
    work_dir: Path | None = None,
    export_dir: Path | None = None,
    progress: Progress | None = None,
    force_as_of: bool = False,
) -> RunReport:
    """One screening of a bundle: ingest, signals, sites, scoring, lead list, summary; with
    a ledger, the run is merged into it and the lead list reflects its outcomes.

    The warehouse is built in ``run_dir``, from scratch; with ``work_dir`` it is kept there
    from run to run instead and only files not ingested before are read (the nightly way)."""
    job = Job(
        bundle=Path(bundle),
        run_dir=Path(run_dir),
        work_dir=Path(work_dir) if work_dir is not None else Path(run_dir),
        settings=settings_of(settings),
        ledger=Path(ledger_path) if ledger_path is not None else None,
        incremental=work_dir is not None,
        export_dir=Path(export_dir) if export_dir is not None else None,
        force_as_of=force_as_of,
    )
    with locked(job):
        report: RunReport = walk(job, progress=progress)["report"]
    return report
