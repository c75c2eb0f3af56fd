"""A whole bundle into the warehouse: find the files, read and stage every source, store
the typed tables, the problems and the per-source summary. The only entry point of the
ingest; everything it calls is in this package."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from screening.ingest.increment import no_prior, prior_ingest, stage_increment
from screening.ingest.manifest import Manifest, ManifestError, read_manifest
from screening.ingest.problems import IngestError, empty_problems, file_problem
from screening.ingest.readers import RawTable, ReadError, discover, file_format, read_file, sha256
from screening.ingest.staging import Staged, finish, stage_source
from screening.ingest.townships import read_townships
from screening.schema import POLARS_TYPES, SOURCES
from screening.settings import Settings, settings_of
from screening.store import catalog
from screening.store.warehouse import Warehouse


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


def ingest_bundle(
    bundle: Path,
    work_dir: Path,
    settings: Settings | Path | None = None,
    incremental: bool = False,
) -> IngestReport:
    """Read every source of ``bundle`` into the warehouse in ``work_dir``.

    Raises IngestError only when a required source is missing or none of its files can be
    read; every smaller problem ends up in the report and in the ``ingest_problems`` table.
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

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Staged] = {}
    file_rows: list[dict[str, Any]] = []
    # bulk series always go file by file, batch by batch (bounded memory); without
    # ``incremental`` nothing stored counts as seen, so every file is read again
    prior = prior_ingest(work_dir) if incremental else no_prior()
    new_parts: dict[str, list[tuple[str, Path]]] = {}
    keep_parts: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=catalog.STAGING_PREFIX) as tmp:
        for name, paths in found.by_source.items():
            if not paths:
                continue
            if SOURCES[name].bulk:
                staged[name], new_parts[name], keep_parts[name], rows = stage_increment(
                    name, paths, bundle, work_dir, Path(tmp), manifest, config, prior
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
                        path,
                        bundle,
                        SOURCES[name],
                        Path(tmp),
                        manifest.columns.get(name),
                        config["max_workbook_mb"],
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

        with Warehouse(work_dir) as wh:
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


def clear_workdir(work_dir: Path) -> None:
    if work_dir.exists():
        shutil.rmtree(work_dir)
