"""Every file name the product reads or writes, in one place: a run folder, a work
directory (the warehouse) and the ledger. Code asks the catalog for a path instead of
spelling a name, so that a rename cannot leave one reader behind.

- a **run folder** (``runs/<night>/`` or ``--out``) holds what a run hands over: the lead
  list, its summary and, when the warehouse is kept elsewhere, a pointer to it;
- a **work directory** holds the warehouse: the DuckDB file, the bulk series as Parquet
  parts and the caches. For ``screening run`` without ``--work`` it is the run folder itself;
- the **ledger** is one DuckDB file, the system of record across runs.
"""

from __future__ import annotations

from pathlib import Path

LEADS_PARQUET = "leads.parquet"
LEADS_CSV = "leads.csv"
RUN_SUMMARY = "run_summary.md"
CHANGES_CSV = "changes.csv"  # what rose and fell since the ledger's last run
WAREHOUSE_POINTER = "warehouse.json"  # in a run folder whose warehouse is kept elsewhere
WAREHOUSE_DB = "warehouse.duckdb"
BULK_DIR = "bulk"  # bulk/<series>/<sha16>[-NNNN].parquet
# bulk/power_readings/days/<sha16>[-NNNN].parquet: the part's readings per meter and day
DAYS_DIR = "days"
CACHE_DIR = "cache"  # memos keyed by a digest of their inputs (distance edges)
# cache/registers/<source>-<key>/: a register as the last ingest staged it (ingest/memo.py)
REGISTERS_DIR = "registers"
# cache/meter_series/<partition key>/: a partition's daily series kept between nights
SERIES_CACHE_DIR = "meter_series"
STAGING_PREFIX = ".staging-"  # an ingest's temporary folder inside the work directory
WORK_LOCK = "warehouse.lock"  # held by the run writing the work directory

DEFAULT_LEDGER = Path("ledger") / "ledger.duckdb"
DEFAULT_WORK = Path("work")  # the nightly flow's kept warehouse
DEFAULT_RUNS = Path("runs")  # the nightly flow's run folders, one per night


def leads_parquet(run_dir: Path) -> Path:
    return Path(run_dir) / LEADS_PARQUET


def leads_csv(run_dir: Path) -> Path:
    return Path(run_dir) / LEADS_CSV


def changes_csv(run_dir: Path) -> Path:
    return Path(run_dir) / CHANGES_CSV


def run_summary(run_dir: Path) -> Path:
    return Path(run_dir) / RUN_SUMMARY


def pointer(run_dir: Path) -> Path:
    return Path(run_dir) / WAREHOUSE_POINTER


def warehouse_db(work_dir: Path) -> Path:
    return Path(work_dir) / WAREHOUSE_DB


def bulk_dir(work_dir: Path, series: str | None = None) -> Path:
    folder = Path(work_dir) / BULK_DIR
    return folder / series if series else folder


def days_of(part: Path) -> Path:
    """Where a stored (or staged) part of the readings keeps its meter-days: a folder beside
    the parts, so that a scan of ``<series>/*.parquet`` never reads them as readings."""
    part = Path(part)
    return part.parent / DAYS_DIR / part.name


def work_lock(work_dir: Path) -> Path:
    return Path(work_dir) / WORK_LOCK


def cache_dir(work_dir: Path) -> Path:
    return Path(work_dir) / CACHE_DIR


def registers_cache(work_dir: Path) -> Path:
    return cache_dir(work_dir) / REGISTERS_DIR


def series_cache_dir(work_dir: Path) -> Path:
    """Where each partition of meters keeps its re-summed daily series (signals/cache.py)."""
    return cache_dir(work_dir) / SERIES_CACHE_DIR
