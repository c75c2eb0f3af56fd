"""The stages behind a run that need the warehouse: signals and sites, scoring, and the lead
files. Each reads at one end, calls the pure stages (signals/, sites/, scoring/) and writes at
the other; ``pipeline.steps`` strings them together for ``screening run`` and the flow."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from screening.ingest import IngestError, IngestReport
from screening.ledger.merge import WATCHED_TABLE
from screening.pipeline import partitions
from screening.pipeline.report import RunReport, SitesReport, summary_markdown
from screening.schema import SOURCES, TIMEZONE
from screening.scoring import hold, ranker, ranking
from screening.scoring.rules import RULES_NEEDING, RuleSet, load_rules, missing_lines
from screening.settings import Settings, settings_of
from screening.signals import places as place_mod
from screening.signals import power as power_mod
from screening.signals import registry as reg_mod
from screening.sites import collect as record_mod
from screening.sites import features as feat
from screening.sites import linking as link_mod
from screening.store import catalog
from screening.store.warehouse import (
    Warehouse,
    parquet_memo,
    replace_atomically,
    warehouse_dir,
)


@contextmanager
def timer(timings: dict[str, float], label: str) -> Iterator[None]:
    """Seconds spent in the block, rounded to ms, under ``label``: a stage call stays a call."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[label] = round(time.perf_counter() - t0, 3)


def build_sites(
    work_dir: Path,
    settings: Settings | Path | None = None,
    as_of: dt.date | None = None,
    meters: pl.DataFrame | None = None,
    stays: pl.DataFrame | None = None,
) -> SitesReport:
    """Signals and sites from the warehouse: power features per meter, stay points and
    places of trucks, registry and permit state, records tied to sites, and the site
    feature table. Written back to the warehouse (tables power_features, stays, places,
    site_links, site_features).

    ``meters`` and ``stays`` are the heavy stages' results when the caller computed them
    over partitions elsewhere (the nightly flow on a Dask cluster); without them they are
    computed here, partition after partition."""
    config = settings_of(settings)
    timings: dict[str, float] = {}

    with Warehouse(work_dir) as wh:
        meta = wh.meta()
        if as_of is None:
            if not meta.get("as_of"):
                raise IngestError(f"{work_dir}: no as_of known; ingest a bundle first")
            as_of = dt.date.fromisoformat(meta["as_of"])
        tables = {n: wh.register(n) for n in SOURCES if not SOURCES[n].bulk}
        if wh.has(WATCHED_TABLE):  # closed cases the ledger watches count as earlier cases
            watched = wh.table(WATCHED_TABLE)
            if watched.height:
                tables["sanctioned_sites"] = pl.concat(
                    [tables["sanctioned_sites"], watched], how="vertical_relaxed"
                )
        tables, hidden = reg_mod.visible_at(tables, as_of)
        townships = wh.table("townships")
        if meters is None:
            with timer(timings, "power signals"):
                meters = partitions.meter_signals(work_dir, as_of, config)
        power = power_mod.with_peers(meters, tables["power_accounts"].lazy(), config.power)
        # readings the ingest rejected (negative, absurd, clashing): per meter, a count of
        # faults, so that a meter's data quality is judged with what it got wrong
        faults = wh.rejected_per_key("power_readings", "account_id", "meter_faults")
        power = power.join(faults, on="account_id", how="left").with_columns(
            pl.col("meter_faults").fill_null(0)
        )
        if stays is None:
            with timer(timings, "stay points"):
                stays = partitions.stay_points(work_dir, as_of, config)
        stays = place_mod.cluster(stays, config.vehicles)
        with timer(timings, "places"):
            places = place_mod.place_features(stays, tables["vehicles"], config.vehicles)
        regs = reg_mod.registration_signals(tables["registrations"], as_of, config.registry)
        regs = regs.with_columns(record_mod.registration_ids(regs).alias("record_id"))
        permits = reg_mod.permit_state(tables["permits"], as_of)
        holders = reg_mod.permits_by_holder(permits)
        recs = record_mod.records(tables, places, config.sites)
        with timer(timings, "site linking"):
            memo = parquet_memo(catalog.cache_dir(work_dir), "distance_edges")
            links, sites = link_mod.link(recs, config.sites, memo)
        sites = link_mod.assign_townships(sites, townships)
        with timer(timings, "site features"):
            table = feat.site_features(
                sites, links, tables, regs, permits, holders, power, places, as_of, config.features
            )

        wh.write_table("power_features", power)
        wh.write_table("stays", stays)
        wh.write_table("places", places)
        wh.write_table("site_links", links)
        wh.write_table("site_features", table)
        wh.set_meta({"sites_as_of": as_of.isoformat()})
    counts = {
        "meters": power.height,
        "stays": stays.height,
        "places": places.height,
        "records": links.height,
        "sites": table.height,
    }
    empty = reg_mod.silent_for_empty_fields(tables["registrations"])
    return SitesReport(as_of, counts, timings, empty_fields=empty, after_as_of=hidden)


def rescore(
    features: pl.DataFrame,
    settings: Settings | Path | None = None,
    weights: dict[str, float] | None = None,
    labels: pl.DataFrame | None = None,
    held: pl.DataFrame | None = None,
    missing: Sequence[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rules and the anomaly model over a site feature table, nothing read or written:
    (site scores, reasons, lead list). What an analyst re-runs after changing a rule; the
    signals behind the features stay as they are. ``labels`` (the ledger's outcomes,
    ``ranker.ledger_labels``) let the ranker re-order the list; the scores then carry
    ``hit_chance`` and ``learned_factor``. ``held`` (the ledger's last leads,
    ``hold.previous``) keeps them from leaving the list on one quiet night."""
    config = settings_of(settings)
    ruleset = load_rules(config)
    if weights:
        ruleset = RuleSet(
            [replace(r, weight=r.weight * weights.get(r.code, 1.0)) for r in ruleset.rules],
            ruleset.activity_gate,
            ruleset.same_line_factor,
        )
    scored, reasons = ranking.score_sites(features, ruleset, config)
    scored, fit = ranker.learn(scored, reasons, features, labels, config)
    if "hit_chance" in scored.columns:  # this county's outcomes outrank the generated prior
        scored = scored.with_columns(pl.coalesce("hit_chance", "chance").alias("chance"))
    scored, reasons = hold.apply(scored, reasons, held, config["ledger"])
    return scored, reasons, ranker.annotate(ranking.leads(scored, reasons, config, missing), fit)


def score_run(
    work_dir: Path,
    settings: Settings | Path | None = None,
    weights: dict[str, float] | None = None,
    labels: pl.DataFrame | None = None,
    held: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rules and the anomaly model over the site feature table in ``work_dir``: writes the
    tables site_scores, reasons and leads to the warehouse and returns (leads, reasons).
    ``weights`` multiplies rule weights and ``labels`` feed the ranker (both learnt from
    inspection outcomes), ``held`` holds last night's leads (scoring/hold.py)."""
    config = settings_of(settings)
    with Warehouse(work_dir) as wh:
        features = wh.table("site_features")
        missing = missing_lines(wh.meta())
        scored, reasons, lead_list = rescore(features, config, weights, labels, held, missing)
        learnt = [c for c in ("hit_chance", "learned_factor") if c in scored.columns]
        wh.write_table(
            "site_scores",
            scored.select(
                "site_id",
                "activity_score",
                "context_score",
                "rule_score",
                "anomaly_score",
                "anomaly_pct",
                "anomaly_features",
                "score",
                "chance",
                "evidence_lines",
                *learnt,
            ),
        )
        wh.write_table("reasons", reasons)
        wh.write_table("leads", lead_list)
        # listed by score but beyond the lead cap: watched, not sent out
        wh.write_table(
            "watch_items",
            # every listed site that is not a lead, in rank order among all listed
            ranking.ranked(scored, reasons, config).join(
                lead_list.select("site_id"), on="site_id", how="anti", maintain_order="left"
            ),
        )
    return lead_list, reasons


# what makes a spreadsheet read a cell as a formula (OWASP, CSV injection: =, +, -, @, tab,
# carriage return; NUL too, as ASVS 1.2.10 lists it)
FORMULA_START = r"^[=+\-@\t\r\x00]"
NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells a spreadsheet would run as a formula, written as text: a leading ``'``
    (OWASP's advice; Excel shows the cell without it). Number columns are untouched, and so
    is text that is only a number (an account id of -12 stays -12)."""
    text = pl.col(pl.String)
    risky = text.str.contains(FORMULA_START) & ~text.str.contains(NUMBER)
    return frame.with_columns(pl.when(risky).then(pl.lit("'") + text).otherwise(text).name.keep())


def write_leads(lead_list: pl.DataFrame, run_dir: Path) -> None:
    """leads.csv (UTF-8 with BOM, so that Excel opens it; formula-like text neutralised) and
    leads.parquet (as the data is), each written beside its place and renamed into it: a
    reader never sees half a list, and a run that fails half-way leaves the previous list
    whole."""
    run_dir.mkdir(parents=True, exist_ok=True)
    flat = csv_safe(lead_list.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d")))
    replace_atomically(catalog.leads_parquet(run_dir), lead_list.write_parquet)
    replace_atomically(catalog.leads_csv(run_dir), lambda p: flat.write_csv(p, include_bom=True))


def finish_run(
    run_dir: Path,
    ingest: IngestReport,
    sites: SitesReport,
    lead_list: pl.DataFrame,
    seconds: float,
    merge_counts: dict[str, int],
    weights: dict[str, float],
    steps: dict[str, float] | None = None,
    work_dir: Path | None = None,
    labelled: int = 0,
    changes: pl.DataFrame | None = None,
) -> RunReport:
    """Write the lead files and the summary: the last step, after the ledger has the run.
    When the warehouse is kept elsewhere (``work_dir``), the run folder names it in
    ``warehouse.json`` so that an analyst's tools find the records behind the leads. With a
    ledger, ``changes`` (what rose and fell since its last run) goes to ``changes.csv``."""
    run_dir = Path(run_dir)
    write_leads(lead_list, run_dir)
    if changes is not None:
        flat = csv_safe(changes)
        replace_atomically(
            catalog.changes_csv(run_dir), lambda p: flat.write_csv(p, include_bom=True)
        )
    if work_dir is not None and Path(work_dir).resolve() != run_dir.resolve():
        pointer = {"work_dir": str(Path(work_dir).resolve()), "as_of": str(ingest.as_of)}
        replace_atomically(
            catalog.pointer(run_dir),
            lambda p: p.write_text(json.dumps(pointer), encoding="utf-8"),
        )
    # an optional source absent, or present with nothing usable: the rules needing it
    # cannot fire, and the run says so rather than screening as if nothing were there
    silent = {
        src: RULES_NEEDING[src] for src in [*ingest.absent, *ingest.lost] if src in RULES_NEEDING
    }
    report = RunReport(
        run_dir,
        ingest,
        sites,
        lead_list,
        silent,
        seconds,
        merge_counts,
        weights,
        steps or {},
        labelled,
        changes,
    )
    replace_atomically(
        catalog.run_summary(run_dir),
        lambda p: p.write_text(summary_markdown(report), encoding="utf-8"),
    )
    return report


def today(timezone: str = TIMEZONE) -> dt.date:
    """Today where the campaign is: the one clock behind forms' 填报日期 and night names."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


class ExportError(LookupError):
    """An export asked of a folder that holds no run."""


@dataclass
class ExportReport:
    files: list[Path]
    notes: list[str]


def export_run(
    run_dir: Path,
    ledger_path: Path,
    out: Path,
    month_end: dt.date | None = None,
    filled: dt.date | None = None,
    settings: Settings | Path | None = None,
) -> ExportReport:
    """The campaign's forms and maps for a run folder: its leads with the statuses and
    outcomes the ledger has now, the ledger's recorded findings and the townships of the
    warehouse behind it. Annex 2-4 are cumulative to ``month_end`` (default: the end of
    last month) by the outcomes' recorded dates; forms are dated ``filled`` (default:
    today). The ledger is only read: without one the forms carry no outcomes."""
    from screening.export.exporter import LedgerView, export_all
    from screening.ledger.ledger import Ledger
    from screening.ledger.merge import with_outcomes

    config = settings_of(settings)
    filled = filled or today()
    end = month_end or filled.replace(day=1) - dt.timedelta(days=1)
    lead_file = catalog.leads_parquet(run_dir)
    if not lead_file.is_file():
        raise ExportError(
            f"{run_dir}: no lead list ({lead_file.name}); run `screening run --out {run_dir}` first"
        )
    leads = pl.read_parquet(lead_file)
    notes: list[str] = []
    work = warehouse_dir(run_dir)
    if catalog.warehouse_db(work).exists():
        with Warehouse(work, read_only=True) as wh:
            townships = wh.table("townships")
    else:
        townships = pl.DataFrame(
            schema={"township": pl.String, "oversight_unit": pl.String, "geometry": pl.String}
        )
        notes.append(f"no warehouse behind {run_dir}: maps without township boundaries")
    with Ledger(ledger_path, read_only=True) as lg:
        if not lg.exists:
            notes.append(f"no ledger at {ledger_path}: the forms carry no outcomes")
        leads = with_outcomes(leads, lg)
        view = LedgerView(lg.history(), lg.sites(), lg.latest_leads())
    later = view.history.filter(
        (pl.col("actor") != "system") & (pl.col("changed_at").dt.date() > end)
    )["site_id"].n_unique()
    if later:
        notes.append(
            f"{later} sites have outcomes recorded after {end}: not in these forms "
            "(--month-end sets the date)"
        )
    files = export_all(
        leads,
        view,
        Path(out),
        end,
        filled,
        townships,
        load_rules(config).names_zh(),
        config.map,
    )
    return ExportReport(files, notes)


@dataclass
class RescoreReport:
    leads: pl.DataFrame
    sites: int
    seconds: float
    # against the run's own list; None when the run folder has no lead list
    in_both: int | None = None
    new: int | None = None
    dropped: int | None = None


class NoSites(LookupError):
    """A run folder whose warehouse holds no site features to re-score."""


def rescore_run(run_dir: Path, settings: Settings | Path | None, out: Path) -> RescoreReport:
    """Re-score a run's sites with other settings: the run's warehouse is only read and no
    ledger is touched; the new lead list goes to ``out`` and is compared with the run's."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    work = warehouse_dir(run_dir)
    if not catalog.warehouse_db(work).exists():
        raise NoSites(
            f"{run_dir}: no warehouse found (run `screening run` or `screening nightly` first)"
        )
    with Warehouse(work, read_only=True) as wh:
        if not wh.has("site_features"):
            raise NoSites(f"{work}: no site features (the run did not finish its sites)")
        features = wh.table("site_features")
        missing = missing_lines(wh.meta())
    _, _, leads = rescore(features, settings, missing=missing)
    write_leads(leads, Path(out))
    report = RescoreReport(leads, features.height, time.perf_counter() - started)
    before_path = catalog.leads_parquet(run_dir)
    if before_path.exists():
        before = pl.read_parquet(before_path)
        key = "run_site_id" if "run_site_id" in before.columns else "site_id"
        was = set(before[key].to_list())
        now = set(leads["site_id"].to_list())
        report.in_both, report.new, report.dropped = len(now & was), len(now - was), len(was - now)
    return report
