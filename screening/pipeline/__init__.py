"""The wiring, and the only place where stages meet: ``steps`` (the one list of steps that
``screening run`` and the nightly flow both walk), ``run`` (the stages that read and write
the warehouse and the run folder), ``partitions`` (the heavy stages over key ranges) and
``report`` (what a run did, in numbers)."""

from screening.pipeline.report import RunReport, SitesReport, summary_markdown
from screening.pipeline.run import (
    RescoreReport,
    build_sites,
    export_run,
    rescore,
    rescore_run,
    score_run,
    today,
)
from screening.pipeline.steps import STEPS, Job, Step, locked, run_screening, walk

__all__ = [
    "STEPS",
    "Job",
    "RescoreReport",
    "RunReport",
    "SitesReport",
    "Step",
    "build_sites",
    "export_run",
    "locked",
    "rescore",
    "rescore_run",
    "run_screening",
    "score_run",
    "summary_markdown",
    "today",
    "walk",
]
