"""End-to-end entry points that need no Prefect: each reads at one end, calls the pure stages
and writes at the other. The CLI and the flows are thin wrappers over these."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from screening.config import load_config
from screening.ingest import (
    SERIES_KEYS,
    IngestError,
    Staged,
    empty_problems,
    file_problem,
    finish,
    stage_source,
)
from screening.manifest import Manifest, ManifestError, read_manifest
from screening.readers import (
    RawTable,
    ReadError,
    discover,
    file_format,
    read_file,
    read_file_batches,
    sha256,
)
from screening.schema import POLARS_TYPES, SOURCES
from screening.townships import read_townships
from screening.warehouse import WAREHOUSE_POINTER, Warehouse, parquet_memo, write_parquet


@dataclass
class IngestReport:
    manifest: Manifest
    as_of: dt.date | None
    summary: pl.DataFrame
    problems: pl.DataFrame
    files: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # optional sources not in the bundle
    seconds: float = 0.0

    @property
    def quarantined(self) -> pl.DataFrame:
        return self.problems.filter(pl.col("severity") == "rejected")


def _no_prior() -> dict[str, pl.DataFrame]:
    return {
        "files": pl.DataFrame(schema={"source": pl.String, "file": pl.String, "sha256": pl.String}),
        "problems": empty_problems(),
    }


def _prior_ingest(workdir: Path) -> dict[str, pl.DataFrame]:
    """What an earlier ingest into ``workdir`` read: its files (with content hashes) and
    its problems. Empty on a new work directory, so that the first night already stores
    one part per file."""
    empty = _no_prior()
    if not (Path(workdir) / "warehouse.duckdb").exists():
        return empty
    with Warehouse(workdir) as wh:
        if not wh.has("ingest_files"):
            return empty
        return {"files": wh.table("ingest_files"), "problems": wh.table("ingest_problems")}


@dataclass(frozen=True)
class Extent:
    """The key and time span of one stored Parquet file of a series: a new batch is checked
    only against the files whose span overlaps its own (opening 60 files to let their
    statistics skip everything costs a second and a half a batch)."""

    path: Path | None
    lo: Any
    hi: Any
    first: dt.datetime | None
    last: dt.datetime | None

    def overlaps(self, other: Extent) -> bool:
        if self.lo is None or other.lo is None:
            return False  # an empty file
        return not (
            self.hi < other.lo
            or other.hi < self.lo
            or self.last < other.first  # type: ignore[operator]
            or other.last < self.first  # type: ignore[operator]
        )


def _extent_of(frame: pl.DataFrame, key: str, path: Path | None = None) -> Extent:
    row = frame.select(
        pl.col(key).min().alias("lo"),
        pl.col(key).max().alias("hi"),
        pl.col("ts").min().alias("first"),
        pl.col("ts").max().alias("last"),
    ).row(0)
    return Extent(path, *row)


def _extent_of_file(path: Path, key: str) -> Extent:
    """From the Parquet footer's statistics when every row group has them (files this
    ingest wrote do), else by reading the two columns."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    los, his, firsts, lasts = [], [], [], []
    for g in range(meta.num_row_groups):
        stats = [meta.row_group(g).column(names.index(c)).statistics for c in (key, "ts")]
        if any(st is None or not st.has_min_max for st in stats):
            return _extent_of(pl.read_parquet(path, columns=[key, "ts"]), key, path)
        los.append(stats[0].min)
        his.append(stats[0].max)
        firsts.append(stats[1].min)
        lasts.append(stats[1].max)
    if not los:
        return Extent(path, None, None, None, None)
    return Extent(path, min(los), max(his), min(firsts), max(lasts))


def _cross_file(
    name: str,
    new: pl.DataFrame,
    earlier: list[Extent],
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """A new file's rows against the series already stored: the same reading or fix again
    collapses; another value for the same meter and time (or plate and time) is quarantined
    and the earlier one kept. Only the earlier rows of the new file's meters and time span
    are read (Parquet statistics skip the rest)."""
    from screening.ingest import _rows_to_problems

    key = list(SERIES_KEYS[name])
    if new.height == 0:
        return new, empty_problems(), 0
    mine = _extent_of(new, key[0])
    overlapping = [e.path for e in earlier if e.overlaps(mine)]
    if not overlapping:  # the usual case: a new day, or the next batch of a sorted file
        return new, empty_problems(), 0
    values = [c for c in SOURCES[name].names if c not in key]
    # the range predicates let Parquet statistics skip row groups (a batch of a file sorted
    # by meter, a day's file against the history); is_in then picks the exact keys
    span = pl.col("ts").is_between(new["ts"].min(), new["ts"].max()) & pl.col(key[0]).is_between(
        pl.lit(new[key[0]].min()), pl.lit(new[key[0]].max())
    )
    old = (
        pl.scan_parquet(overlapping)
        .filter(span)
        .filter(pl.col(key[0]).is_in(new[key[0]].unique().implode()))
        .select(*key, *values)
        .unique(subset=key, keep="first")
        .collect()
    )
    if old.height == 0:
        return new, empty_problems(), 0
    hits = new.with_row_index("_i").join(old, on=key, how="inner", suffix="_old")
    same = pl.all_horizontal(pl.col(v).eq_missing(pl.col(f"{v}_old")) for v in values)
    dup, clash = hits.filter(same), hits.filter(~same)
    key_text = pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=" ")
    problems = _rows_to_problems(
        clash.with_columns(
            pl.lit(None, dtype=pl.String).alias("_file"), pl.lit(None, dtype=pl.Int64).alias("_row")
        ),
        name,
        pl.lit(key[-1]),
        pl.format(
            "{} already ingested with another value (from an earlier file, or earlier rows of "
            "this one); earlier kept",
            key_text,
        ),
        key_text,
    )
    drop = pl.concat([dup["_i"], clash["_i"]])
    kept = new.with_row_index("_i").filter(~pl.col("_i").is_in(drop.implode())).drop("_i")
    return kept, problems, dup.height


def _part_files(folder: Path, part: str) -> list[Path]:
    """The Parquet files of one stored part: ``<part>.parquet``, or ``<part>-0000.parquet``
    and on when its input file was staged in batches."""
    return sorted([*folder.glob(f"{part}.parquet"), *folder.glob(f"{part}-[0-9]*.parquet")])


def _stage_increment(
    name: str,
    paths: list[Path],
    bundle: Path,
    workdir: Path,
    tmp: Path,
    manifest: Manifest,
    config: dict[str, Any],
    prior: dict[str, pl.DataFrame],
) -> tuple[Staged, list[tuple[str, Path]], set[str], list[dict[str, Any]]]:
    """One bulk source, file by file and batch by batch: a file whose content hash was
    ingested before keeps its stored part and its problems; a new file is read, staged and
    checked against what is stored and what came before it, one batch of
    ``ingest.batch_rows`` rows at a time, and each batch goes to a Parquet file under ``tmp``
    at once, so memory holds one batch whatever the series' size. Returns (staged summary,
    new parts as (part name, staged file), parts to keep, file rows)."""
    started = time.perf_counter()
    folder = workdir / "bulk" / name
    known = prior["files"].filter(pl.col("source") == name)
    known_files = dict(zip(known["sha256"], known["file"], strict=True))
    files = [(p, p.relative_to(bundle).as_posix(), sha256(p)) for p in paths]
    keep = {sha[:16] for _, _, sha in files if sha in known_files and _part_files(folder, sha[:16])}
    stored = [f for k in sorted(keep) for f in _part_files(folder, k)]
    earlier = [_extent_of_file(f, SERIES_KEYS[name][0]) for f in stored]
    new_parts: list[tuple[str, Path]] = []
    problems = [empty_problems()]
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    read = kept_new = collapsed = warnings = 0
    (tmp / name).mkdir(parents=True, exist_ok=True)
    for path, rel, sha in files:
        info = {
            "source": name,
            "file": rel,
            "format": file_format(path),
            "bytes": path.stat().st_size,
            "sha256": sha,
            "encoding": None,
            "error": None,
        }
        rows.append(info)
        if sha[:16] in keep:
            problems.append(
                prior["problems"].filter(
                    (pl.col("source") == name) & (pl.col("file") == known_files.get(sha, rel))
                )
            )
            continue
        mine: list[tuple[str, Path]] = []
        # this file's figures, counted in only once every batch of it has been read
        got: dict[str, Any] = {
            "problems": [],
            "notes": [],
            "read": 0,
            "kept": 0,
            "dups": 0,
            "warnings": 0,
        }
        try:
            batches = read_file_batches(
                path, bundle, SOURCES[name], tmp, manifest.columns.get(name), config["batch_rows"]
            )
            for k, tables in enumerate(batches):
                info["encoding"] = info["encoding"] or next(
                    (t.encoding for t in tables if t.encoding), None
                )
                result = stage_source(name, tables, manifest, config)
                frame, clashes, dups = _cross_file(name, result.frame, earlier)
                staged_file = write_parquet(frame, tmp / name / f"{sha[:16]}-{k:04d}.parquet")
                mine.append((sha[:16], staged_file))
                earlier.append(_extent_of(frame, SERIES_KEYS[name][0], staged_file))
                got["problems"] += [result.problems, clashes]
                got["notes"] += result.notes
                got["read"] += result.stats["rows_read"]
                got["kept"] += frame.height
                got["dups"] += result.stats["duplicates_collapsed"] + dups
                got["warnings"] += result.stats["warnings"]
                del frame, result
        except ReadError as exc:
            # a file is read whole or not at all: drop the batches staged before the error
            earlier = earlier[: len(earlier) - len(mine)]
            for _, f in mine:
                f.unlink(missing_ok=True)
            info["error"] = str(exc)
            problems.append(file_problem(name, rel, str(exc)))
            continue
        if len(mine) == 1:  # one batch: the part is simply <sha16>.parquet
            single = mine[0][1].with_name(f"{sha[:16]}.parquet")
            mine[0][1].replace(single)
            earlier[-1] = dataclasses.replace(earlier[-1], path=single)
            mine = [(sha[:16], single)]
        new_parts += mine
        keep.add(sha[:16])
        problems += got["problems"]
        notes += got["notes"]
        read += got["read"]
        kept_new += got["kept"]
        collapsed += got["dups"]
        warnings += got["warnings"]
    reused = len(files) - len({k for k, _ in new_parts}) - sum(1 for r in rows if r["error"])
    if not keep and SOURCES[name].required:
        reasons = "; ".join(f"{r['file']}: {r['error']}" for r in rows if r["error"])
        raise IngestError(f"required source {name} unreadable: {reasons}")
    if reused:
        notes.append(f"{name}: {reused} file(s) unchanged since the last ingest, not re-read")
    all_problems = pl.concat(problems, how="vertical_relaxed")
    rejected = all_problems.filter(pl.col("severity") == "rejected")
    stored_rows = pl.scan_parquet(stored).select(pl.len()).collect().item() if stored else 0
    seconds = time.perf_counter() - started
    stats = {
        "source": name,
        "files": len(files),
        "rows_read": read,
        "rows_kept": stored_rows + kept_new,
        "quarantined": rejected.select("file", "row").unique().height,
        "duplicates_collapsed": collapsed,
        "warnings": warnings,
        "seconds": round(seconds, 3),
        "rows_per_s": int(read / seconds) if seconds else 0,
        "files_reused": reused,
    }
    staged = Staged(name, pl.DataFrame(), all_problems, stats, notes)
    return staged, new_parts, keep, rows


def ingest_bundle(
    bundle: Path, workdir: Path, config_path: Path | None = None, incremental: bool = False
) -> IngestReport:
    """Read every source of ``bundle`` into the warehouse in ``workdir``.

    Raises IngestError only when a required source is missing or none of its files can be
    read; every smaller problem ends up in the report and in the ``ingest_problems`` table.
    """
    started = time.perf_counter()
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise IngestError(f"input bundle {bundle} is not a folder")
    config = load_config(config_path)["ingest"]
    try:
        manifest = read_manifest(bundle)
    except ManifestError as exc:
        raise IngestError(str(exc)) from exc
    found = discover(bundle)
    missing = [n for n, s in SOURCES.items() if s.required and not found.by_source[n]]
    if missing:
        raise IngestError(
            f"required source{'s' if len(missing) > 1 else ''} missing in {bundle}: "
            + ", ".join(missing)
            + " (expected <source>.csv|.csv.gz|.parquet|.xlsx or a folder)"
        )
    notes = list(manifest.warnings)
    notes += [
        f"{p.relative_to(bundle)}: not a source of the contract, ignored" for p in found.ignored
    ]
    absent = [n for n, paths in found.by_source.items() if not paths]
    if found.townships is None:
        absent.append("townships")

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Staged] = {}
    file_rows: list[dict[str, Any]] = []
    # bulk series always go file by file, batch by batch (bounded memory); without
    # ``incremental`` nothing stored counts as seen, so every file is read again
    prior = _prior_ingest(workdir) if incremental else _no_prior()
    new_parts: dict[str, list[tuple[str, Path]]] = {}
    keep_parts: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".staging-") as tmp:
        for name, paths in found.by_source.items():
            if not paths:
                continue
            if SOURCES[name].bulk:
                staged[name], new_parts[name], keep_parts[name], rows = _stage_increment(
                    name, paths, bundle, workdir, Path(tmp), manifest, config, prior
                )
                file_rows += rows
                notes += staged[name].notes
                continue
            tables: list[RawTable] = []
            unreadable: list[pl.DataFrame] = []
            for path in paths:
                rel = path.relative_to(bundle).as_posix()
                info = {
                    "source": name,
                    "file": rel,
                    "format": file_format(path),
                    "bytes": path.stat().st_size,
                    "sha256": sha256(path),
                    "encoding": None,
                    "error": None,
                }
                try:
                    got = read_file(
                        path, bundle, SOURCES[name], Path(tmp), manifest.columns.get(name)
                    )
                    tables += got
                    info["encoding"] = next((t.encoding for t in got if t.encoding), None)
                except ReadError as exc:
                    info["error"] = str(exc)
                    unreadable.append(file_problem(name, rel, str(exc)))
                file_rows.append(info)
            if not tables and SOURCES[name].required:
                reasons = "; ".join(
                    f"{r['file']}: {r['error']}"
                    for r in file_rows
                    if r["source"] == name and r["error"]
                )
                raise IngestError(f"required source {name} unreadable: {reasons}")
            result = stage_source(name, tables, manifest, config)
            result.problems = pl.concat([result.problems, *unreadable], how="vertical_relaxed")
            result.stats["files"] = len(paths)
            staged[name] = result
            notes += result.notes

        # still inside the staging folder: the staged bulk parts move from it
        townships = pl.DataFrame(
            schema={"township": pl.String, "oversight_unit": pl.String, "geometry": pl.String}
        )
        township_problems = empty_problems()
        if found.townships is not None:
            try:
                townships, township_problems = read_townships(found.townships, manifest.crs)
            except ReadError as exc:
                township_problems = file_problem("townships", found.townships.name, str(exc))

        problems = pl.concat(
            [*(s.problems for s in staged.values()), township_problems], how="vertical_relaxed"
        )
        summary = pl.DataFrame([s.stats for s in staged.values()])
        files = pl.DataFrame(
            file_rows,
            schema={
                "source": pl.String,
                "file": pl.String,
                "format": pl.String,
                "bytes": pl.Int64,
                "sha256": pl.String,
                "encoding": pl.String,
                "error": pl.String,
            },
        )

        with Warehouse(workdir) as wh:
            for name, result in staged.items():
                if SOURCES[name].bulk:
                    wh.store_parts(name, new_parts[name], keep_parts[name])
                else:
                    wh.write_table(name, result.frame)
            last = (
                wh.scan_bulk("power_readings").select(pl.col("ts").max()).collect().item()
                if wh.parts("power_readings")
                else None
            )
            as_of = manifest.as_of or (last.date() if last is not None else None)
            for name in absent:
                if name in SOURCES and not SOURCES[name].bulk:
                    wh.write_table(name, _empty(name))
            wh.write_table("townships", townships)
            wh.write_table("ingest_problems", problems)
            wh.write_table("ingest_summary", summary)
            wh.write_table("ingest_files", files)
            wh.set_meta(
                {
                    "bundle": str(bundle.resolve()),
                    "region": manifest.region,
                    "as_of": as_of.isoformat() if as_of else None,
                    "timezone": manifest.timezone,
                    "crs_in": manifest.crs,
                    "absent_sources": absent,
                    "notes": notes,
                    "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
    return IngestReport(
        manifest, as_of, summary, problems, files, notes, absent, time.perf_counter() - started
    )


def _empty(name: str) -> pl.DataFrame:
    """An absent optional source as an empty table, so that queries need no special case."""
    source = SOURCES[name]
    frame = pl.DataFrame(schema={c.name: POLARS_TYPES[c.kind] for c in source.columns})
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias("_file"), pl.lit(None, dtype=pl.Int64).alias("_row")
    )
    return finish(frame, source)


def clear_workdir(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)


@dataclass
class SitesReport:
    as_of: dt.date
    counts: dict[str, int]
    seconds: dict[str, float]
    # "<source>.<field>" -> rules silent because no record fills the field
    empty_fields: dict[str, list[str]] = field(default_factory=dict)


def build_sites(
    workdir: Path,
    config_path: Path | None = None,
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
    from screening import features as feat
    from screening import partitions
    from screening import sites as site_mod
    from screening.signals import places as place_mod
    from screening.signals import power as power_mod
    from screening.signals import registry as reg_mod

    config = load_config(config_path)
    timings: dict[str, float] = {}

    def timed(label: str, fn, *args):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = fn(*args)
        timings[label] = round(time.perf_counter() - t0, 3)
        return out

    with Warehouse(workdir) as wh:
        meta = wh.meta()
        if as_of is None:
            if not meta.get("as_of"):
                raise IngestError(f"{workdir}: no as_of known; ingest a bundle first")
            as_of = dt.date.fromisoformat(meta["as_of"])
        tables = {n: wh.table(n) for n in SOURCES if not SOURCES[n].bulk}
        townships = wh.table("townships")
        if meters is None:
            meters = timed("power signals", partitions.meter_signals, workdir, as_of, config)
        power = power_mod.with_peers(meters, tables["power_accounts"].lazy(), config["power"])
        # readings the ingest rejected (negative, absurd, clashing): per meter, a count of
        # faults, so that a meter's data quality is judged with what it got wrong
        faults = wh.read(
            "SELECT json_extract_string(record, '$.account_id') AS account_id, "
            "CAST(count(*) AS BIGINT) AS meter_faults FROM ingest_problems "
            "WHERE source = 'power_readings' AND severity = 'rejected' AND record IS NOT NULL "
            "GROUP BY 1"
        )
        power = power.join(faults, on="account_id", how="left").with_columns(
            pl.col("meter_faults").fill_null(0)
        )
        if stays is None:
            stays = timed("stay points", partitions.stay_points, workdir, as_of, config)
        stays = place_mod.cluster(stays, config["vehicles"])
        places = timed(
            "places", place_mod.place_features, stays, tables["vehicles"], config["vehicles"]
        )
        regs = reg_mod.registration_signals(tables["registrations"], as_of, config["registry"])
        regs = regs.with_columns(site_mod.registration_ids(regs).alias("record_id"))
        permits = reg_mod.permit_state(tables["permits"], as_of)
        holders = reg_mod.permits_by_holder(permits)
        recs = site_mod.records(tables, places, config["sites"])
        links, sites = timed(
            "site linking",
            site_mod.link,
            recs,
            config["sites"],
            parquet_memo(workdir / "cache", "distance_edges"),
        )
        sites = site_mod.assign_townships(sites, townships)
        table = timed(
            "site features",
            feat.site_features,
            sites,
            links,
            tables,
            regs,
            permits,
            holders,
            power,
            places,
            as_of,
            config["features"],
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
    return SitesReport(as_of, counts, timings, empty)


# rules that need an optional source: named in the run summary when it is absent
RULES_NEEDING = {
    "tips": ["PUBLIC_TIP"],
    "sanctioned_sites": ["CASE_REVIVED"],
    "idle_properties": ["IDLE_PREMISES_ACTIVE", "REMOTE_PREMISES"],
}


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


def rescore(
    features: pl.DataFrame, config_path: Path | None = None, weights: dict[str, float] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rules and the anomaly model over a site feature table, nothing read or written:
    (site scores, reasons, lead list). What an analyst re-runs after changing a rule; the
    signals behind the features stay as they are."""
    from dataclasses import replace

    from screening import scoring
    from screening.rules import RuleSet, load_rules

    config = load_config(config_path)
    ruleset = load_rules(config)
    if weights:
        ruleset = RuleSet(
            [replace(r, weight=r.weight * weights.get(r.code, 1.0)) for r in ruleset.rules],
            ruleset.activity_gate,
        )
    scored, reasons = scoring.score_sites(features, ruleset, config)
    return scored, reasons, scoring.leads(scored, reasons, config)


def score_run(
    workdir: Path, config_path: Path | None = None, weights: dict[str, float] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rules and the anomaly model over the site feature table in ``workdir``: writes the
    tables site_scores, reasons and leads to the warehouse and returns (leads, reasons).
    ``weights`` multiplies rule weights (re-estimated from inspection outcomes)."""
    with Warehouse(workdir) as wh:
        features = wh.table("site_features")
        scored, reasons, lead_list = rescore(features, config_path, weights)
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
            ),
        )
        wh.write_table("reasons", reasons)
        wh.write_table("leads", lead_list)
    return lead_list, reasons


def write_leads(lead_list: pl.DataFrame, run_dir: Path) -> None:
    """leads.csv (UTF-8 with BOM, so that Excel opens it) and leads.parquet."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lead_list.write_parquet(run_dir / "leads.parquet")
    flat = lead_list.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
    flat.write_csv(run_dir / "leads.csv", include_bom=True)


def watched_as_cases(workdir: Path, watched: pl.DataFrame) -> int:
    """Closed cases the ledger watches, added to the run's earlier cases: renewed activity at
    one of them then fires the recurrence (死灰复燃) rule like any sanctioned site."""
    if watched.height == 0:
        return 0
    with Warehouse(workdir) as wh:
        cases = wh.table("sanctioned_sites")
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
        wh.write_table("sanctioned_sites", pl.concat([cases, extra], how="vertical_relaxed"))
    return extra.height


def merge_into_ledger(
    ledger_path: Path, ingest: IngestReport, lead_list: pl.DataFrame, config: dict[str, Any]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Record the run in the ledger and return the lead list as the ledger sees it: cleared
    sites with nothing new are left out, the rest carry their merge kind, status and note,
    under the ledger's site id."""
    from screening.ledger import STATUS_ZH, Ledger, run_key

    rid = run_key(ingest.files, config, ingest.as_of)
    with Ledger(ledger_path) as lg:
        stored = lg.stored_leads(rid)
    if stored is not None:
        return stored, {"already_merged": 1}
    meta = {
        "as_of": ingest.as_of,
        "region": ingest.manifest.region,
        "inputs": ingest.files.select("file", "sha256").to_dicts(),
        "config_hash": run_key(ingest.files.head(0), config, None),
    }
    with Ledger(ledger_path) as lg:
        report = lg.merge_run(rid, lead_list, meta, config["ledger"])
        status = lg.status().select("site_id", pl.col("status").alias("ledger_status"))
    merged = report.leads.select(
        "run_site_id", "site_id", "merge", pl.col("note").alias("ledger_note")
    )
    out = (
        lead_list.rename({"site_id": "run_site_id"})
        .join(merged, on="run_site_id", how="left")
        .join(status, on="site_id", how="left")
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
        "ledger_note",
        "run_id",
        "run_site_id",
    ]
    counts = {**report.counts, "already_merged": int(report.already_merged)}
    out = out.select(cols)
    with Ledger(ledger_path) as lg:
        lg.store_leads(rid, out)
    return out, counts


def ledger_feedback(run_dir: Path, ledger_path: Path, config: dict[str, Any]) -> dict[str, float]:
    """What the ledger teaches tonight's run: closed cases under watch become earlier cases
    (renewed activity there is a recurrence), and outcomes re-weight the rules."""
    from screening import learning
    from screening.ledger import Ledger

    with Ledger(ledger_path) as lg:
        watched_as_cases(run_dir, lg.watched())
        labelled = learning.labels(lg.history(), lg.run_leads(), lg.runs())
    return learning.multipliers(labelled, config["learning"])


def finish_run(
    run_dir: Path,
    ingest: IngestReport,
    sites: SitesReport,
    lead_list: pl.DataFrame,
    started: float,
    merge_counts: dict[str, int],
    weights: dict[str, float],
    steps: dict[str, float] | None = None,
    work_dir: Path | None = None,
) -> RunReport:
    """Write the lead files and the summary: the last step, after the ledger has the run.
    When the warehouse is kept elsewhere (``work_dir``), the run folder names it in
    ``warehouse.json`` so that an analyst's tools find the records behind the leads."""
    write_leads(lead_list, run_dir)
    if work_dir is not None and Path(work_dir).resolve() != Path(run_dir).resolve():
        pointer = {"work_dir": str(Path(work_dir).resolve()), "as_of": str(ingest.as_of)}
        (run_dir / WAREHOUSE_POINTER).write_text(json.dumps(pointer), encoding="utf-8")
    silent = {src: RULES_NEEDING[src] for src in ingest.absent if src in RULES_NEEDING}
    report = RunReport(
        run_dir,
        ingest,
        sites,
        lead_list,
        silent,
        time.perf_counter() - started,
        merge_counts,
        weights,
        steps or {},
    )
    (run_dir / "run_summary.md").write_text(summary_markdown(report), encoding="utf-8")
    return report


def run_screening(
    bundle: Path,
    run_dir: Path,
    config_path: Path | None = None,
    ledger_path: Path | None = None,
    work_dir: Path | None = None,
) -> RunReport:
    """One screening of a bundle: ingest, signals, sites, scoring, lead list, summary; with
    a ledger, the run is merged into it and the lead list reflects its outcomes. With a
    ledger only one run at a time: a second one refuses (RunLocked) instead of racing.

    The warehouse is built in ``run_dir``, from scratch; with ``work_dir`` it is kept there
    from run to run instead and only files not ingested before are read (the nightly way)."""
    from screening.locking import run_lock

    started = time.perf_counter()
    run_dir = Path(run_dir)
    work = Path(work_dir) if work_dir is not None else run_dir
    config = load_config(config_path)
    steps: dict[str, float] = {}

    def step(label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        steps[label] = round(time.perf_counter() - t0, 3)
        return out

    with run_lock(ledger_path):
        ingest = step(
            "ingest", ingest_bundle, bundle, work, config_path, incremental=work_dir is not None
        )
        weights = (
            step("ledger feedback", ledger_feedback, work, ledger_path, config)
            if ledger_path
            else {}
        )
        sites = step("signals and sites", build_sites, work, config_path)
        lead_list, _ = step("scoring", score_run, work, config_path, weights)
        merge_counts: dict[str, int] = {}
        if ledger_path is not None:
            lead_list, merge_counts = step(
                "ledger merge", merge_into_ledger, ledger_path, ingest, lead_list, config
            )
        return finish_run(
            run_dir, ingest, sites, lead_list, started, merge_counts, weights, steps, work
        )


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
        "| source | files | of which unchanged, not re-read | rows read | kept | quarantined "
        "| duplicates | warnings |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ing.summary.iter_rows(named=True):
        lines.append(
            f"| {r['source']} | {r['files']} | {r['files_reused']} | {r['rows_read']:,} | "
            f"{r['rows_kept']:,} | "
            f"{r['quarantined']:,} | {r['duplicates_collapsed']:,} | {r['warnings']:,} |"
        )
    if ing.absent:
        lines += ["", "Absent optional sources: " + ", ".join(ing.absent) + "."]
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
        lines.append(f"Rules silent because {src} is absent: {', '.join(rules)}.")
    for col, rules in report.sites.empty_fields.items():
        lines.append(f"Rules silent because {col} has no values: {', '.join(rules)}.")
    if report.weights:
        lines += [
            "",
            "Rule weights re-estimated from inspection outcomes: "
            + ", ".join(f"{k} ×{v:.2f}" for k, v in sorted(report.weights.items()))
            + ".",
        ]
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
