"""Bulk series (readings, tracks) file by file and batch by batch: a file ingested before
(by content hash) keeps its stored part; a new one is read in batches of
``ingest.batch_rows`` rows, each checked against what is stored and staged to Parquet at
once, so that memory holds one batch whatever the size of the series."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from screening.ingest.manifest import Manifest
from screening.ingest.problems import empty_problems, file_problem
from screening.ingest.readers import ReadError, file_format, read_file_batches, sha256
from screening.ingest.staging import Staged, stage_source
from screening.schema import SERIES_KEYS, SOURCES
from screening.signals.power import meter_days
from screening.store import catalog
from screening.store.warehouse import Warehouse, days_for, write_days, write_parquet

# what ingest_files says of each file, so that rows read = kept + quarantined + collapsed
COUNTS = ("rows_read", "rows_kept", "quarantined", "duplicates_collapsed")


def no_prior() -> dict[str, pl.DataFrame]:
    return {
        "files": pl.DataFrame(schema={"source": pl.String, "file": pl.String, "sha256": pl.String}),
        "problems": empty_problems(),
    }


def prior_ingest(work_dir: Path) -> dict[str, pl.DataFrame]:
    """What an earlier ingest into ``work_dir`` read: its files (with content hashes) and
    its problems. Empty on a new work directory, so that the first night already stores
    one part per file."""
    empty = no_prior()
    if not catalog.warehouse_db(work_dir).exists():
        return empty
    with Warehouse(work_dir) as wh:
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
    from screening.ingest.staging import rows_to_problems

    key = list(SERIES_KEYS[name])
    if new.height == 0:
        return new, empty_problems(), 0
    mine = _extent_of(new, key[0])
    overlapping = [e.path for e in earlier if e.overlaps(mine) and e.path is not None]
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
    problems = rows_to_problems(
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


def _days_for_older(stored: list[Path], row_group_rows: int) -> None:
    """Meter-days for the kept parts an older version stored without them: once, one part
    at a time, so that later nights read them too."""
    for part in stored:
        if days_for(part) is None:
            rows = pl.scan_parquet(part).select(pl.len()).collect().item()
            days = meter_days(pl.scan_parquet(part), in_order=True).collect()
            write_days(days, part, rows, row_group_rows)


def stage_increment(
    name: str,
    paths: list[Path],
    bundle: Path,
    work_dir: Path,
    tmp: Path,
    manifest: Manifest,
    config: Mapping[str, Any],
    prior: dict[str, pl.DataFrame],
    today: dt.date | None = None,
) -> tuple[Staged, list[tuple[str, Path]], set[str], list[dict[str, Any]]]:
    """One bulk source, file by file and batch by batch: a file whose content hash was
    ingested before keeps its stored part and its problems; a new file is read, staged and
    checked against what is stored and what came before it, one batch of
    ``ingest.batch_rows`` rows at a time, and each batch goes to a Parquet file under ``tmp``
    at once, so memory holds one batch whatever the series' size. Returns (staged summary,
    new parts as (part name, staged file), parts to keep, file rows)."""
    started = time.perf_counter()
    folder = catalog.bulk_dir(work_dir, name)
    known = prior["files"].filter(pl.col("source") == name)
    known_files = dict(zip(known["sha256"], known["file"], strict=True))
    files = [(p, p.relative_to(bundle).as_posix(), sha256(p)) for p in paths]
    keep = {sha[:16] for _, _, sha in files if sha in known_files and _part_files(folder, sha[:16])}
    stored = [f for k in sorted(keep) for f in _part_files(folder, k)]
    if name == "power_readings":
        _days_for_older(stored, config["bulk_row_group_rows"])
    earlier = [_extent_of_file(f, SERIES_KEYS[name][0]) for f in stored]
    new_parts: list[tuple[str, Path]] = []
    problems = [empty_problems()]
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    read = kept_new = collapsed = warnings = quarantined = 0
    (tmp / name).mkdir(parents=True, exist_ok=True)
    before = prior["files"].filter(pl.col("source") == name)
    for path, rel, sha in files:
        info: dict[str, Any] = {
            "source": name,
            "file": rel,
            "format": file_format(path),
            "bytes": path.stat().st_size,
            "sha256": sha,
            "encoding": None,
            "error": None,
            **dict.fromkeys(COUNTS, 0),
        }
        rows.append(info)
        if sha[:16] in keep:
            problems.append(
                prior["problems"].filter(
                    (pl.col("source") == name) & (pl.col("file") == known_files.get(sha, rel))
                )
            )
            # its figures as the night that read it counted them
            was = before.filter(pl.col("sha256") == sha).head(1)
            for col in COUNTS:
                if col in was.columns and was.height:
                    info[col] = was[col].item() or 0
            info["encoding"] = was["encoding"].item() if was.height else None
            continue
        mine: list[tuple[str, Path]] = []
        # this file's figures, counted in only once every batch of it has been read
        got: dict[str, Any] = {
            "problems": [],
            "notes": [],
            "read": 0,
            "kept": 0,
            "dups": 0,
            "quarantined": 0,
            "warnings": 0,
        }
        try:
            batches = read_file_batches(
                path,
                bundle,
                SOURCES[name],
                manifest.columns.get(name),
                config["batch_rows"],
                config["max_workbook_mb"],
                config["csv_block_mb"],
            )
            for k, tables in enumerate(batches):
                info["encoding"] = info["encoding"] or next(
                    (t.encoding for t in tables if t.encoding), None
                )
                result = stage_source(name, tables, manifest, config, today)
                frame, clashes, dups = _cross_file(name, result.frame, earlier)
                staged_file = write_parquet(
                    frame,
                    tmp / name / f"{sha[:16]}-{k:04d}.parquet",
                    config["bulk_row_group_rows"],
                )
                if name == "power_readings":
                    # the readings' first grouping, done once here rather than every night
                    # over the whole window; of ``frame``: the rows stored, after the checks
                    # against earlier batches and files dropped what they repeat
                    write_days(
                        meter_days(frame.lazy(), in_order=True).collect(),
                        staged_file,
                        frame.height,
                        config["bulk_row_group_rows"],
                    )
                mine.append((sha[:16], staged_file))
                earlier.append(_extent_of(frame, SERIES_KEYS[name][0], staged_file))
                got["problems"] += [result.problems, clashes]
                got["notes"] += result.notes
                got["read"] += result.stats["rows_read"]
                got["kept"] += frame.height
                got["dups"] += result.stats["duplicates_collapsed"] + dups
                # clashing with what is stored: the new rows are quarantined
                got["quarantined"] += result.stats["quarantined"] + result.frame.height
                got["quarantined"] -= frame.height + dups
                got["warnings"] += result.stats["warnings"]
                del frame, result
        except ReadError as exc:
            # a file is read whole or not at all: drop the batches staged before the error
            earlier = earlier[: len(earlier) - len(mine)]
            for _, f in mine:
                f.unlink(missing_ok=True)
                catalog.days_of(f).unlink(missing_ok=True)
            info["error"] = str(exc)
            problems.append(file_problem(name, rel, str(exc)))
            continue
        if len(mine) == 1:  # one batch: the part is simply <sha16>.parquet
            single = mine[0][1].with_name(f"{sha[:16]}.parquet")
            if catalog.days_of(mine[0][1]).exists():
                catalog.days_of(mine[0][1]).replace(catalog.days_of(single))
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
        quarantined += got["quarantined"]
        warnings += got["warnings"]
        info.update(
            rows_read=got["read"],
            rows_kept=got["kept"],
            quarantined=got["quarantined"],
            duplicates_collapsed=got["dups"],
        )
    reused = len(files) - len({k for k, _ in new_parts}) - sum(1 for r in rows if r["error"])
    if reused:
        notes.append(f"{name}: {reused} file(s) unchanged since the last ingest, not re-read")
    all_problems = pl.concat(problems, how="vertical_relaxed")
    stored_rows = pl.scan_parquet(stored).select(pl.len()).collect().item() if stored else 0
    seconds = time.perf_counter() - started
    stats = {
        "source": name,
        "files": len(files),
        "rows_read": read,
        "rows_kept": stored_rows + kept_new,
        "quarantined": quarantined,
        "duplicates_collapsed": collapsed,
        "warnings": warnings,
        "seconds": round(seconds, 3),
        "rows_per_s": int(read / seconds) if seconds else 0,
        "files_reused": reused,
    }
    staged = Staged(name, pl.DataFrame(), all_problems, stats, notes)
    return staged, new_parts, keep, rows
