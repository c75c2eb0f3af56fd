"""What a run did, in numbers: the reports the steps return and the run summary written
beside the lead list (and published to the Prefect UI)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from screening.ingest import IngestReport
from screening.ledger.changes import counted
from screening.scoring.ranker import NOTE
from screening.scoring.rules import SOURCE_LINES


@dataclass
class SitesReport:
    as_of: dt.date
    counts: dict[str, int]
    seconds: dict[str, float]
    # "<source>.<field>" -> rules silent because no record fills the field
    empty_fields: dict[str, list[str]] = field(default_factory=dict)
    # register records dated after as_of, left out of this screening (kept in the warehouse)
    after_as_of: dict[str, int] = field(default_factory=dict)


@dataclass
class RunReport:
    run_dir: Path
    ingest: IngestReport
    sites: SitesReport
    leads: pl.DataFrame
    silent_rules: dict[str, list[str]]
    seconds: float
    merge: dict[str, int] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    # seconds per step of run_screening (the flow's steps are timed by Prefect)
    steps: dict[str, float] = field(default_factory=dict)
    # confirmed or cleared sites in the ledger: the ranker's labels
    labelled: int = 0
    # what rose and fell since the ledger's last run (ledger/changes.py); None: no ledger
    changes: pl.DataFrame | None = None


def problem_lines(report: RunReport, reasons: int = 3) -> list[str]:
    """What went wrong in the bundle, for the summary: files not read at all, sources lost,
    the commonest reasons rows were quarantined, records dated after the screening date, and
    the ingest's notes. Empty when there is nothing to say."""
    ing = report.ingest
    out: list[str] = []
    for r in ing.unread.iter_rows(named=True):
        out.append(f"- **{r['file']}** ({r['source']}) not read: {r['error']}")
    for src, why in ing.lost.items():
        out.append(f"- **{src}** lost: nothing usable ({why})")
    q = ing.quarantined.filter(pl.col("row").is_not_null())
    if q.height:
        common = (
            q.with_columns(pl.col("reason").str.replace(r":\s*'.*$", "").alias("why"))
            .group_by("source", "why")
            .len()
            .sort(["source", "len", "why"], descending=[False, True, False])
            .group_by("source", maintain_order=True)
            .head(reasons)
        )
        for r in common.iter_rows(named=True):
            out.append(f"- {r['source']}: {r['len']:,} × {r['why']}")
    hidden = report.sites.after_as_of
    if hidden:
        out.append(
            f"- dated after {ing.as_of}, left out of this screening (kept in the warehouse): "
            + ", ".join(f"{n:,} {src}" for src, n in hidden.items())
        )
    out += [f"- note: {n}" for n in ing.notes]
    return ["", "## Problems", "", *out] if out else []


def change_lines(changes: pl.DataFrame | None, most: int = 10) -> list[str]:
    """What rose and fell since the ledger's last run, for the summary: the counts and the
    first ``most`` changes with their reasons (all of them are in changes.csv)."""
    if changes is None:
        return []
    n = counted(changes)
    out = [
        "",
        "## Changes since the last run",
        "",
        ", ".join(f"{v} {k}" for k, v in n.items())
        + " (the top of the list and moves within it; all in changes.csv)."
        + (
            f" {int(changes['held'].sum())} kept up by the hold (HELD)."
            if changes["held"].any()
            else ""
        ),
    ]
    if changes.height:
        out += ["", "| change | site | rank | why |", "|---|---|---|---|"]
        for r in changes.head(most).iter_rows(named=True):
            ranks = f"{r['rank_before'] or '–'} → {r['rank_now'] or '–'}"
            out.append(f"| {r['change']} | {r['site_id']} | {ranks} | {r['why']} |")
        if changes.height > most:
            out.append(f"| … | {changes.height - most} more in changes.csv | | |")
    return out


def summary_markdown(report: RunReport, top: int = 20) -> str:
    """The run in numbers, for people and for the Prefect UI."""
    ing = report.ingest
    lines = [
        f"# Screening run — {ing.manifest.region}, as of {ing.as_of}",
        "",
        f"{report.leads.height} leads from {report.sites.counts['sites']:,} sites "
        f"in {report.seconds:.1f} s"
        + (
            " (" + ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items()) + ")."
            if report.steps
            else "."
        ),
        "",
        "## Sources",
        "",
        "| source | files | of which unchanged, not re-read | not read | rows read | kept "
        "| quarantined | duplicates | warnings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    # the rows of every file the bundle holds, those unchanged since the last night as they
    # were read then: kept + quarantined + duplicates add up to what was read
    counts = ["rows_read", "rows_kept", "quarantined", "duplicates_collapsed"]
    per_file = ing.files.group_by("source").agg(pl.col(counts).sum())
    totals = {r["source"]: r for r in per_file.iter_rows(named=True)}
    for r in ing.summary.iter_rows(named=True):
        t = {**r, **totals.get(r["source"], {})}
        lines.append(
            f"| {r['source']} | {r['files']} | {r['files_reused']} | "
            f"{r.get('files_unread') or 0} | {t['rows_read']:,} | {t['rows_kept']:,} | "
            f"{t['quarantined']:,} | {t['duplicates_collapsed']:,} | {r['warnings']:,} |"
        )
    lines += [
        "",
        "Rows read = kept + quarantined + duplicates, for every source and file "
        "(power_readings counts readings: a wide row holds 24 or 96).",
    ]
    if ing.absent:
        lines += ["", "Absent optional sources: " + ", ".join(ing.absent) + "."]
    lines += problem_lines(report)
    if report.merge:
        m = report.merge
        lines += [
            "",
            "Ledger: "
            + (
                "this run was merged before; nothing changed."
                if m.get("already_merged")
                else f"{m['new']} new, {m['repeated']} repeated, {m['escalated']} "
                f"escalated, {m['recurrence']} recurrence, {m['suppressed']} "
                "cleared and left out."
            ),
        ]
    for src, rules in report.silent_rules.items():
        if src in ing.lost:
            lines.append(
                f"Rules silent because {src} was lost ({ing.lost[src]}): {', '.join(rules)}."
            )
        else:
            lines.append(f"Rules silent because {src} is absent: {', '.join(rules)}.")
    missing = [SOURCE_LINES[src] for src in report.silent_rules if src in SOURCE_LINES]
    if missing:
        lines.append(
            "Lines of evidence missing: "
            + "; ".join(missing)
            + ". The leads are ranked by the lines the bundle holds."
        )
        alone = int((report.leads["rule_score"].fill_null(0) <= 0).sum())
        if alone:
            lines.append(
                f"{alone} leads rest on the anomaly model alone, standing in for the rules "
                "those lines would feed (scoring.model_stands_in); with every line present "
                "such sites are watch items."
            )
    for col, rules in report.sites.empty_fields.items():
        lines.append(f"Rules silent because {col} has no values: {', '.join(rules)}.")
    if report.weights:
        lines += [
            "",
            "Rule weights re-estimated from inspection outcomes: "
            + ", ".join(f"{k} ×{v:.2f}" for k, v in sorted(report.weights.items()))
            + ".",
        ]
    if report.labelled:
        moved = int(report.leads["evidence"].str.contains(NOTE.format("")).sum())
        lines += [
            "",
            f"Inspection outcomes in the ledger: {report.labelled} confirmed or cleared sites; "
            + (
                f"the ranker learnt from them re-ordered the list ({moved} leads carry "
                f"{NOTE.format('…')} in their evidence)."
                if moved
                else "too few for the ranker, the list is the rules' own."
            ),
        ]
    lines += change_lines(report.changes)
    lines += [
        "",
        "## Top leads",
        "",
        "| rank | score | category | township | address | reasons |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.leads.head(top).iter_rows(named=True):
        lines.append(
            f"| {r['rank']} | {r['score']:.1f} | {r['category_zh']} | "
            f"{r['township'] or ''} | {r['address'] or ''} | {r['reasons'] or ''} |"
        )
    return "\n".join(lines) + "\n"
