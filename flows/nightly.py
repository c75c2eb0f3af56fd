"""The nightly screening as a Prefect flow: the steps of ``screening.pipeline.STEPS``, each
one task, so that everything also runs without Prefect (``screening run`` walks the same
list) and the two cannot drift.

The warehouse lives in one work directory kept from night to night: the ingest reads only
the files it has not seen (by content hash) and the rolling windows are recomputed from the
stored series. Each night's lead list and summary go to their own run folder. The heavy
steps map one task over each partition of meters and of plates; with a Dask scheduler
address (config ``scale.dask_address`` or ``dask=``) they run on that cluster through
prefect-dask, otherwise in Prefect's local thread pool.

The run lock spans the night (a second run refuses instead of racing); the ledger merge is
one transaction (a crash or kill leaves the ledger as it was); merging the same inputs twice
changes nothing. Reading sources is retried; every step logs what it did in numbers; the
summary and the top leads are published as artifacts for the Prefect UI.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from screening.settings import prefect_environment

prefect_environment()  # before Prefect reads its settings: no telemetry, a local home

from prefect import flow, get_run_logger, task, unmapped  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from screening.ingest import IngestError  # noqa: E402
from screening.pipeline import STEPS, Job, RunReport, Step, locked, summary_markdown, today  # noqa: E402
from screening.schema import TIMEZONE  # noqa: E402
from screening.settings import Settings, load_settings  # noqa: E402
from screening.store import catalog  # noqa: E402


def _settings(config: str | Path | None) -> Settings:
    """The flow's one place that loads settings (its tasks get the object, never a path)."""
    return load_settings(Path(config) if config else None)


def _as_task(step: Step) -> Any:
    """A pipeline step as a Prefect task that logs what it did."""

    @functools.wraps(step.fn)  # Prefect reads the step's own parameters (task run names)
    def call(*args: Any, **kwargs: Any) -> Any:
        out = step.fn(*args, **kwargs)
        if step.describe is not None:
            log = get_run_logger()
            for line in step.describe(out):
                log.info("%s", line)
        return out

    return task(  # type: ignore[call-overload]
        call,
        name=step.name,
        retries=step.retries,
        retry_delay_seconds=30 if step.retries else 0,
        retry_condition_fn=_worth_retrying,
        task_run_name=f"{step.name} {{bounds}}" if step.over else None,
        cache_policy=NONE,
    )


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """A bundle refused for what it holds (a required source with no usable rows, an as_of
    out of bounds) is refused again: only a failure to read (a file still being copied, a
    share that dropped) is worth another try."""
    try:
        state.result()
    except IngestError:
        return False
    except Exception:  # any other failure may pass on a second try
        return True
    return True


TASKS = {step.out: _as_task(step) for step in STEPS}


@task(name="publish artifacts", cache_policy=NONE)
def publish(report: RunReport) -> None:
    create_markdown_artifact(
        summary_markdown(report),
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
    task_runner=ThreadPoolTaskRunner(max_workers=_settings(None).scale.flow_threads),  # type: ignore[arg-type]
)
def nightly(
    bundle: str,
    run_root: str = str(catalog.DEFAULT_RUNS),
    work_dir: str = str(catalog.DEFAULT_WORK),
    ledger: str = str(catalog.DEFAULT_LEDGER),
    config: str | None = None,
    export_dir: str | None = None,
    night: str | None = None,
    n_partitions: int | None = None,
    force_as_of: bool = False,
) -> dict[str, object]:
    """One night: the pipeline's steps, each a task (ingest → ledger feedback → power signals
    and stay points per partition → places and sites → scores → ledger merge → lead list →
    forms and maps), then the artifacts. ``night`` names the run folder (default: today in
    the campaign's timezone); ``n_partitions`` overrides ``scale.flow_partitions``."""
    settings = _settings(config)
    name = night or today(TIMEZONE).isoformat()
    job = Job(
        bundle=Path(bundle),
        run_dir=Path(run_root) / name,
        work_dir=Path(work_dir),
        settings=settings,
        ledger=Path(ledger),
        incremental=True,
        export_dir=Path(export_dir) if export_dir else None,
        partitions=n_partitions or settings.scale.flow_partitions,
        force_as_of=force_as_of,
    )
    results: dict[str, Any] = {}
    with locked(job):
        for step in STEPS:
            args = [results[n] for n in step.needs]
            run = TASKS[step.out]
            if step.over is None:
                results[step.out] = run(job, *args)
            else:  # one task per partition, all submitted at once
                fixed = [unmapped(job), *(unmapped(a) for a in args)]
                results[step.out] = run.map(*fixed, results[step.over])
    report: RunReport = results["report"]
    publish(report)
    ingest = results["ingest"]
    return {
        "run_dir": str(job.run_dir),
        "leads": report.leads.height,
        "ledger": results["merged"][1],
        "files": len(results["files"]),
        "files_reused": int(ingest.summary["files_reused"].sum()),
    }


def task_runner(dask: str | None, threads: int) -> Any:
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


def configured(dask: str | None = None, config: str | None = None) -> Any:
    """The nightly flow with its task runner: ``dask`` if given, else the config's
    ``scale.dask_address``, else local threads."""
    scale = _settings(config).scale
    address = dask if dask is not None else scale.dask_address
    return nightly.with_options(task_runner=task_runner(address, scale.flow_threads))


def deployment(
    bundle: str,
    cron: str = "0 2 * * *",
    timezone: str = TIMEZONE,
    dask: str | None = None,
    **parameters: object,
) -> Any:
    """The nightly deployment: a cron in the campaign's timezone (a bare cron means UTC)."""
    from prefect.schedules import Cron

    config = parameters.get("config")
    return configured(dask, str(config) if config else None).to_deployment(
        name="nightly",
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"bundle": bundle, **parameters},
    )
