"""The run and the ledger: tonight's leads merged into the system of record, and what the
ledger teaches tonight's run (watched closed cases, rule weights from outcomes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from screening.ingest import IngestReport
from screening.ledger.changes import lead_changes
from screening.scoring import hold
from screening.scoring.ranker import LABELS_SCHEMA
from screening.settings import Settings
from screening.store.warehouse import Warehouse

if TYPE_CHECKING:
    from screening.ledger.ledger import Ledger

WATCHED_TABLE = "watched_cases"
# what Ledger.watched() returns
WATCHED_INPUT = {
    "site_id": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "address": pl.String,
    "names": pl.String,
    "closed_on": pl.Date,
}


def watched_as_cases(work_dir: Path, watched: pl.DataFrame) -> int:
    """Closed cases the ledger watches, kept as earlier cases beside the ingested ones (table
    ``watched_cases``; the ingested ``sanctioned_sites`` stays as the agency sent it):
    renewed activity at one of them then fires the recurrence (死灰复燃) rule like any
    sanctioned site."""
    extra = watched.select(
        pl.format("台账:{}", "site_id").alias("case_id"),
        pl.col("names").alias("name"),
        "address",
        "lon",
        "lat",
        "closed_on",
        pl.lit("台账记录已关闭，纳入监控").alias("measures"),
        pl.lit("ledger").alias("source_file"),
        pl.lit(None, dtype=pl.Int64).alias("source_row"),
    )
    with Warehouse(work_dir) as wh:
        wh.write_table(WATCHED_TABLE, extra)
    return extra.height


def merge_into_ledger(
    ledger_path: Path, ingest: IngestReport, lead_list: pl.DataFrame, settings: Settings
) -> tuple[pl.DataFrame, dict[str, int], pl.DataFrame]:
    """Record the run in the ledger and return the lead list as the ledger sees it (cleared
    sites with nothing new are left out, the rest carry their merge kind, status and note,
    under the ledger's site id), the merge's counts, and what rose and fell since the last
    run's list (``changes.lead_changes``, kept in the ledger's ``lead_changes``)."""
    from screening.ledger.ledger import STATUS_ZH, Ledger, run_key
    from screening.ledger.outcomes import outcome_summary, recorded

    config = settings.as_dict()
    rid = run_key(ingest.files, config, ingest.as_of)
    with Ledger(ledger_path) as lg:
        stored = lg.stored_leads(rid)
        if stored is not None:
            # the same list again, with what the teams have recorded since
            return with_outcomes(stored, lg), {"already_merged": 1}, lg.changes(rid)
        runs = lg.runs()
        last = lg.stored_leads(runs["run_id"][-1]) if runs.height else None
    meta = {
        "as_of": ingest.as_of,
        "region": ingest.manifest.region,
        "inputs": ingest.files.select("file", "sha256").to_dicts(),
        "config_hash": run_key(ingest.files.head(0), config, None),
    }
    with Ledger(ledger_path) as lg:
        report = lg.merge_run(rid, lead_list, meta, settings.ledger)
        status = lg.status().select("site_id", pl.col("status").alias("ledger_status"))
        facts = recorded(lg.history()).select("site_id", outcome_summary().alias("ledger_outcome"))
    merged = report.leads.select(
        "run_site_id", "site_id", "merge", pl.col("note").alias("ledger_note")
    )
    out = (
        lead_list.rename({"site_id": "run_site_id"})
        .join(merged, on="run_site_id", how="left")
        .join(status, on="site_id", how="left")
        .join(facts, on="site_id", how="left")
        .filter(pl.col("merge") != "suppressed")
        # activity at a closed case under watch is a recurrence, whatever else it shows
        .with_columns(
            pl.when(pl.col("merge") == "recurrence")
            .then(pl.lit("recurrence"))
            .otherwise(pl.col("category"))
            .alias("category"),
            pl.when(pl.col("merge") == "recurrence")
            .then(pl.lit("死灰复燃"))
            .otherwise(pl.col("category_zh"))
            .alias("category_zh"),
        )
        .with_columns(
            pl.col("ledger_status")
            .replace_strict(STATUS_ZH, default=None)
            .alias("ledger_status_zh"),
            pl.lit(rid).alias("run_id"),
        )
        .sort("rank")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"))
    )
    cols = [
        "rank",
        "site_id",
        *[c for c in lead_list.columns if c not in ("rank", "site_id")],
        "merge",
        "ledger_status",
        "ledger_status_zh",
        "ledger_outcome",
        "ledger_note",
        "run_id",
        "run_site_id",
    ]
    counts = {**report.counts, "already_merged": int(report.already_merged)}
    out = out.select(cols)
    moved = lead_changes(
        out,
        last if last is not None else out.head(0),
        settings.ledger,
        rid,
        merged.filter(pl.col("merge") == "suppressed")["site_id"],
    )
    with Ledger(ledger_path) as lg:
        lg.store_leads(rid, out)
        lg.store_changes(moved)
    return out, counts, moved


def with_outcomes(leads: pl.DataFrame, lg: Ledger) -> pl.DataFrame:
    """A stored lead list with each site's status and recorded outcome as the ledger has
    them now: after `ledger set` or `ledger import`, the same run's list shows them."""
    from screening.ledger.ledger import STATUS_ZH
    from screening.ledger.outcomes import outcome_summary, recorded

    for c in ("ledger_status", "ledger_status_zh"):
        if c not in leads.columns:  # a run made without a ledger
            leads = leads.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    now = lg.status().select("site_id", pl.col("status").alias("_status"))
    facts = recorded(lg.history()).select("site_id", outcome_summary().alias("_outcome"))
    out = leads.join(now, on="site_id", how="left").join(facts, on="site_id", how="left")
    out = out.with_columns(
        pl.coalesce("_status", "ledger_status").alias("ledger_status"),
    ).with_columns(
        pl.col("ledger_status").replace_strict(STATUS_ZH, default=None).alias("ledger_status_zh"),
        pl.col("_outcome").alias("ledger_outcome"),
    )
    cols = list(leads.columns)
    if "ledger_outcome" not in cols:  # a list stored before outcomes were shown
        cols.insert(cols.index("ledger_status_zh") + 1, "ledger_outcome")
    return out.select(cols)


MERGE_WORDS = {
    "new": "new",
    "repeated": "listed again",
    "escalated": "escalated (new reasons or a much higher score)",
    "recurrence": "back at closed sites (死灰复燃)",
    "suppressed": "cleared before with nothing new, left out",
}


def describe_merge(counts: dict[str, int]) -> str:
    """What the merge did, in words: 'ledger: 189 new' or 'ledger: this run was merged
    before …'."""
    if counts.get("already_merged"):
        return (
            "ledger: this run was merged before (same inputs, settings and screening date); "
            "nothing new recorded, statuses shown as they are now"
        )
    parts = [f"{counts[k]} {w}" for k, w in MERGE_WORDS.items() if counts.get(k)]
    return "ledger: " + (", ".join(parts) if parts else "no leads to record")


@dataclass(frozen=True)
class Feedback:
    """What the ledger teaches tonight's run: rule weight multipliers, the labelled sites
    (``ranker.LABELS_SCHEMA``) the ranker learns from and last night's leads to hold."""

    weights: dict[str, float] = field(default_factory=dict)
    labels: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LABELS_SCHEMA))
    # the last run's leads, for the hold (scoring/hold.py)
    held: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=hold.PREVIOUS))


def ledger_feedback(work_dir: Path, ledger_path: Path | None, settings: Settings) -> Feedback:
    """What the ledger teaches tonight's run: closed cases under watch become earlier cases
    (renewed activity there is a recurrence), outcomes re-weight the rules and are the
    ranker's labels. Without a ledger nothing is learnt, and watched cases a kept warehouse
    holds from an earlier run with a ledger are cleared, so that they cannot leak into this
    one."""
    from screening.ledger.ledger import Ledger
    from screening.scoring import learning, ranker

    if ledger_path is None:
        watched_as_cases(work_dir, pl.DataFrame(schema=WATCHED_INPUT))
        return Feedback()
    with Ledger(ledger_path) as lg:
        watched_as_cases(work_dir, lg.watched())
        history, run_leads, runs = lg.history(), lg.run_leads(), lg.runs()
        sites, records = lg.status(), lg.site_records()
    labelled = learning.labels(history, run_leads, runs)
    return Feedback(
        learning.multipliers(labelled, settings.learning),
        ranker.ledger_labels(labelled, run_leads, runs, sites),
        hold.previous(run_leads, runs, sites, sites, records),
    )
