"""A whole bundle into the warehouse: find the files, read and stage every source, store
the typed tables, the problems and the per-source summary. The only entry point of the
ingest; everything it calls is in this package."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from screening.ingest.increment import COUNTS, no_prior, prior_ingest, stage_increment
from screening.ingest.manifest import Manifest, ManifestError, read_manifest
from screening.ingest.memo import load_register, register_key, staging_code, store_register
from screening.ingest.problems import IngestError, empty_problems, file_problem
from screening.ingest.readers import (
    RawTable,
    ReadError,
    discover,
    file_format,
    outside_note,
    read_file,
    sha256,
)
from screening.ingest.staging import Staged, cargo_columns, finish, stage_source
from screening.ingest.townships import read_townships
from screening.schema import POLARS_TYPES, SOURCES
from screening.settings import Settings, settings_of
from screening.store import catalog
from screening.store.warehouse import Warehouse, days_for, part_of


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
    # optional sources present but with nothing usable (every file unreadable, empty or
    # refused): source -> why; the rules that need them are silent like an absent source's
    lost: dict[str, str] = field(default_factory=dict)
    data_end: dt.date | None = None  # the last day the readings cover
    # why this bundle must not be screened, one line each (a required source with no usable
    # rows or a file refused above the share, an as_of out of bounds): the warehouse keeps
    # what was read, so that the problems can be seen, and the run stops on the first
    blocking: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> pl.DataFrame:
        return self.problems.filter(pl.col("severity") == "rejected")

    @property
    def unread(self) -> pl.DataFrame:
        """Files that could not be read at all: source, file, error."""
        return self.files.filter(pl.col("error").is_not_null()).select("source", "file", "error")


FILE_SCHEMA = {
    "source": pl.String,
    "file": pl.String,
    "format": pl.String,
    "bytes": pl.Int64,
    "sha256": pl.String,
    "encoding": pl.String,
    "error": pl.String,
    "rows_read": pl.Int64,
    "rows_kept": pl.Int64,
    "quarantined": pl.Int64,
    "duplicates_collapsed": pl.Int64,
}


def ingest_bundle(
    bundle: Path,
    work_dir: Path,
    settings: Settings | Path | None = None,
    incremental: bool = False,
    force_as_of: bool = False,
    today: dt.date | None = None,
) -> IngestReport:
    """Read every source of ``bundle`` into the warehouse in ``work_dir``.

    Raises IngestError (one line) only when nothing can be stored: the manifest is broken, or
    a required source is missing or none of its files can be read. What makes the bundle
    unfit to screen is stored all the same (its problems are what the agency needs to see)
    and listed in ``report.blocking``, one line naming the file and the reason: a required
    source with no usable rows, or a file of one whose refused share is above
    ``ingest.max_rejected_share``; a manifest as_of after the data's end or ahead of
    ``today`` (default: the clock in the bundle's timezone), unless ``force_as_of``. Every
    smaller problem is in the report and in the ``ingest_problems`` table.
    """
    started = time.perf_counter()
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise IngestError(f"input bundle {bundle} is not a folder")
    config = settings_of(settings).ingest
    try:
        manifest = read_manifest(bundle)
    except ManifestError as exc:
        raise IngestError(str(exc)) from exc
    today = today or dt.datetime.now(ZoneInfo(manifest.timezone)).date()
    found = discover(bundle)
    missing = [n for n, s in SOURCES.items() if s.required and not found.by_source[n]]
    if missing:
        raise IngestError(
            f"required source{'s' if len(missing) > 1 else ''} missing in {bundle}: "
            + ", ".join(missing)
            + " (expected <source>.csv|.csv.gz|.parquet|.xlsx or a folder)"
        )
    notes = list(manifest.warnings)
    root = bundle.resolve()
    notes += [
        outside_note(p, bundle)
        if p.is_symlink() and not p.resolve().is_relative_to(root)
        else f"{p.relative_to(bundle)}: not a source of the contract, ignored"
        for p in found.ignored
    ]
    absent = [n for n, paths in found.by_source.items() if not paths]
    if found.townships is None:
        absent.append("townships")

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Staged] = {}
    file_rows: list[dict[str, Any]] = []
    # bulk series always go file by file, batch by batch (bounded memory); without
    # ``incremental`` nothing stored counts as seen, so every file is read again
    prior = prior_ingest(work_dir) if incremental else no_prior()
    # registers staged by the last ingest: reused only by an incremental one (memo.py)
    registers = catalog.registers_cache(work_dir)
    new_parts: dict[str, list[tuple[str, Path]]] = {}
    keep_parts: dict[str, set[str]] = {}
    lost: dict[str, str] = {}
    blocking: list[str] = []
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=catalog.STAGING_PREFIX) as tmp:
        for name, paths in found.by_source.items():
            if not paths:
                continue
            if SOURCES[name].bulk:
                staged[name], new_parts[name], keep_parts[name], rows = stage_increment(
                    name, paths, bundle, work_dir, Path(tmp), manifest, config, prior, today
                )
            else:
                staged[name], rows = _stage_register(
                    name, paths, bundle, manifest, config, today, registers, incremental
                )
            file_rows += rows
            notes += staged[name].notes
            staged[name].stats["files_unread"] = sum(1 for r in rows if r["error"])
            why, warned = sanity(name, rows, staged[name].problems, config)
            if why is not None and SOURCES[name].required:
                blocking.append(why)
            elif why is not None:
                lost[name] = why
            (blocking if SOURCES[name].required else notes).extend(warned)

        files = pl.DataFrame(file_rows, schema=FILE_SCHEMA)
        data_end, after = _data_end(
            _series_files(work_dir, "power_readings", new_parts, keep_parts),
            config["as_of_min_share"],
        )
        as_of, refused = _screening_date(manifest, data_end, today, config, force_as_of)
        blocking += refused
        if after is not None and as_of is not None and after[1] > as_of:
            notes.append(
                f"power_readings: {after[0]:,} readings dated after the screening date "
                f"{as_of} (the latest {after[1]}) are kept but not screened"
            )

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
                lost["townships"] = f"{found.townships.name}: {exc}"

        problems = pl.concat(
            [*(s.problems for s in staged.values()), township_problems], how="vertical_relaxed"
        )
        summary = pl.DataFrame([s.stats for s in staged.values()])

        with Warehouse(work_dir) as wh:
            for name, result in staged.items():
                if SOURCES[name].bulk:
                    wh.store_parts(name, new_parts[name], keep_parts[name])
                else:
                    wh.write_table(name, result.frame)
            for name in absent:
                if name in SOURCES and SOURCES[name].bulk:
                    wh.store_absent(name, _empty(name))
                elif name in SOURCES:
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
                    "data_end": data_end.isoformat() if data_end else None,
                    "timezone": manifest.timezone,
                    "crs_in": manifest.crs,
                    "absent_sources": absent,
                    "lost_sources": lost,
                    "notes": notes,
                    "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
    return IngestReport(
        manifest,
        as_of,
        summary,
        problems,
        files,
        notes,
        absent,
        time.perf_counter() - started,
        lost,
        data_end,
        blocking,
    )


def _stage_register(
    name: str,
    paths: list[Path],
    bundle: Path,
    manifest: Manifest,
    config: Mapping[str, Any],
    today: dt.date,
    cache: Path | None = None,
    reuse: bool = False,
) -> tuple[Staged, list[dict[str, Any]]]:
    """A register (every file of a small source at once): staged, with one row per file.
    With ``cache`` the result is kept there for the next ingest; with ``reuse`` too, the
    one kept there is taken instead when nothing that shapes it changed (memo.py): a full
    rebuild (no ``reuse``) stages every register afresh whatever the cache holds."""
    files = [(path, path.relative_to(bundle).as_posix(), sha256(path)) for path in paths]
    key = None
    if cache is not None and _REGISTER_CODE is not None:
        key = register_key(name, [(r, h) for _, r, h in files], manifest, config, _REGISTER_CODE)
        kept = load_register(cache, name, key, today) if reuse else None
        if kept is not None:
            return kept
    tables: list[RawTable] = []
    unreadable: list[pl.DataFrame] = []
    rows: list[dict[str, Any]] = []
    for path, rel, sha in files:
        info: dict[str, Any] = {
            "source": name,
            "file": rel,
            "format": file_format(path),
            "bytes": path.stat().st_size,
            "sha256": sha,
            "encoding": None,
            "error": None,
        }
        try:
            got = read_file(
                path,
                bundle,
                SOURCES[name],
                manifest.columns.get(name),
                config["max_workbook_mb"],
                config["csv_block_mb"],
            )
            tables += got
            info["encoding"] = next((t.encoding for t in got if t.encoding), None)
        except ReadError as exc:
            info["error"] = str(exc)
            unreadable.append(file_problem(name, rel, str(exc)))
        rows.append(info)
    result = stage_source(name, tables, manifest, config, today)
    result.problems = pl.concat([result.problems, *unreadable], how="vertical_relaxed")
    result.stats["files"] = len(paths)
    # a workbook's sheets are counted as the workbook
    counts: dict[str, dict[str, int]] = {}
    for r in result.files:
        f = r["file"].split("#")[0]
        acc = counts.setdefault(f, dict.fromkeys(COUNTS, 0))
        for k in COUNTS:
            acc[k] += r[k]
    for info in rows:
        info.update(counts.get(info["file"], dict.fromkeys(COUNTS, 0)))
    if cache is not None and key is not None:
        store_register(cache, name, key, today, result, rows)
    return result, rows


# what a kept register depends on besides its inputs: the code that reads and stages it
_REGISTER_CODE = staging_code(_stage_register)


def sanity(
    name: str, rows: list[dict[str, Any]], problems: pl.DataFrame, config: Mapping[str, Any]
) -> tuple[str | None, list[str]]:
    """Whether a source can be screened: (why it has nothing usable, or None; one line per
    file refused above ``ingest.max_rejected_share``). For a required source either stops
    the run (screened as if it were true, an empty permits file makes every chemical firm
    unpermitted); one none of whose files can be read at all is an IngestError at once. An
    optional source with nothing usable is lost: the rules that need it are silent."""
    source = SOURCES[name]
    limit = config["max_rejected_share"]
    if sum(r["rows_kept"] for r in rows) == 0:
        if all(r["error"] for r in rows):
            reason = "; ".join(f"{r['file']}: {r['error']}" for r in rows)
            if source.required:  # nothing to store: the bundle stops here
                raise IngestError(f"required source {name} unreadable: {reason}")
            return reason, []
        reason = "; ".join(f"{r['file']}: {_why(r, problems)}" for r in rows)
        if source.required:
            return f"required source {name} has no usable rows: {reason}", []
        return reason, []
    warned = []
    for r in rows:
        share = r["quarantined"] / r["rows_read"] if r["rows_read"] else 0.0
        if share > limit and r["rows_read"] >= config["share_min_rows"]:
            warned.append(
                f"{'required source ' if source.required else ''}{name}: {r['file']}: "
                f"{r['quarantined']:,} of {r['rows_read']:,} rows quarantined ({share:.0%}, "
                f"above ingest.max_rejected_share {limit:.0%}); most often: "
                f"{_top_reason(problems, r['file'])}"
            )
    return None, warned


def _why(row: dict[str, Any], problems: pl.DataFrame) -> str:
    if row["error"]:
        return f"not read ({row['error']})"
    if row["rows_read"] == 0:
        return "a header and no rows"
    if row["rows_kept"] == 0:
        return f"all {row['rows_read']:,} rows quarantined; most often: " + _top_reason(
            problems, row["file"]
        )
    return f"{row['rows_kept']:,} rows kept"


def _top_reason(problems: pl.DataFrame, file: str) -> str:
    """The reason most of a file's refused rows share (a header problem first: it explains
    every row), without the value each row quotes."""
    mine = problems.filter(
        (pl.col("file").str.split("#").list.first() == file) & (pl.col("severity") == "rejected")
    )
    header = mine.filter(pl.col("row").is_null())
    if header.height:
        return str(header["reason"][0])
    if mine.height == 0:
        return "duplicates"
    common = (
        mine.select(pl.col("reason").str.replace(r":\s*'.*$", "").alias("r"))
        .group_by("r")
        .len()
        .sort("len", "r", descending=[True, False])
    )
    return f"{common['r'][0]} ({common['len'][0]:,} rows)"


def _series_files(
    work_dir: Path,
    name: str,
    new_parts: dict[str, list[tuple[str, Path]]],
    keep_parts: dict[str, set[str]],
) -> list[Path]:
    """The Parquet files the series will hold once this ingest is stored (the kept parts
    and the freshly staged ones), before anything is stored."""
    fresh = {part for part, _ in new_parts.get(name, [])}
    keep = keep_parts.get(name, set())
    stored = [
        f
        for f in sorted(catalog.bulk_dir(work_dir, name).glob("*.parquet"))
        if part_of(f) in keep and part_of(f) not in fresh
    ]
    return stored + [f for _, f in new_parts.get(name, [])]


def _data_end(files: list[Path], min_share: float) -> tuple[dt.date | None, tuple[int, Any] | None]:
    """The last day the readings cover: the latest day with at least ``min_share`` of a
    typical (median) day's readings. A stray reading dated years ahead, or a single meter
    that reported early, does not make the screening date. Returns (that day, (readings
    after it, the latest of them) or None)."""
    if not files:
        return None, None
    kept = [(f, days_for(f)) for f in files]
    have = [d for _, d in kept if d is not None]
    raw = [f for f, d in kept if d is None]
    counts = []
    if have:  # the parts' meter-days count a day's readings without reading them
        counts.append(
            pl.scan_parquet(have)
            .group_by("day")
            .agg(pl.col("n_intervals").sum().cast(pl.UInt32).alias("len"))
        )
    if raw:
        counts.append(pl.scan_parquet(raw).group_by(pl.col("ts").dt.date().alias("day")).len())
    days = pl.concat(counts).group_by("day").agg(pl.col("len").sum()).sort("day").collect()
    if days.height == 0:
        return None, None
    typical = days["len"].median()
    covered = days.filter(pl.col("len") >= min_share * typical)  # type: ignore[operator]
    end = covered["day"].max()
    later = days.filter(pl.col("day") > end)
    after = (int(later["len"].sum()), later["day"].max()) if later.height else None
    return end, after  # type: ignore[return-value]


def _screening_date(
    manifest: Manifest,
    data_end: dt.date | None,
    today: dt.date,
    config: Mapping[str, Any],
    force: bool,
) -> tuple[dt.date | None, list[str]]:
    """The manifest's as_of, checked against the data and the clock, else the data's end:
    (date, why it is refused). A screening date after the last day of readings screens
    empty windows (every meter looks switched off), one ahead of today is a typo; either is
    refused unless forced."""
    if manifest.as_of is None:
        return data_end, []
    grace = dt.timedelta(days=config["as_of_grace_days"])
    as_of = manifest.as_of
    how = "pass --force-as-of to screen it anyway"
    if force:
        return as_of, []
    if as_of > today + grace:
        return as_of, [
            f"manifest.toml: as_of {as_of} is ahead of today ({today}, {manifest.timezone}); {how}"
        ]
    if data_end is not None and as_of > data_end + grace:
        return as_of, [
            f"manifest.toml: as_of {as_of} is after the data's end ({data_end}, the last day "
            f"with readings): every window would be empty; set as_of to {data_end} or "
            f"earlier, or {how}"
        ]
    return as_of, []


def _empty(name: str) -> pl.DataFrame:
    """An absent optional source as an empty table, so that queries need no special case."""
    source = SOURCES[name]
    frame = pl.DataFrame(schema={c.name: POLARS_TYPES[c.kind] for c in source.columns})
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias("_file"), pl.lit(None, dtype=pl.Int64).alias("_row")
    )
    if name == "vehicles":
        frame = cargo_columns(frame)
    return finish(frame, source)


def clear_workdir(work_dir: Path) -> None:
    if work_dir.exists():
        shutil.rmtree(work_dir)
