"""Registers kept from the last ingest (ingest/memo.py): an incremental ingest reuses a
register only when nothing that shapes it changed, and the warehouse it leaves is the one
staging afresh gives, table for table."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import screening.ingest.bundle as bundle_mod
from screening.ingest import ingest_bundle
from screening.schema import SOURCES
from screening.settings import load_config
from screening.store import catalog
from screening.store.warehouse import Warehouse

from .conftest import SAMPLE

# a day after everything the sample is dated: no date of it lies ahead
TODAY = dt.date(2022, 1, 1)
REGISTERS = sorted(n for n, s in SOURCES.items() if not s.bulk)
# what a reused register reports otherwise than a fresh one: how long it took, and that
# its files were not read again
TIMING = ["seconds", "rows_per_s", "files_reused"]


@pytest.fixture(scope="module")
def night1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sample and a warehouse that ingested it incrementally on TODAY: (bundle, work)."""
    root = tmp_path_factory.mktemp("night1")
    bundle = shutil.copytree(SAMPLE, root / "bundle")
    ingest_bundle(bundle, root / "work", incremental=True, today=TODAY)
    return bundle, root / "work"


@pytest.fixture
def copies(night1: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """This test's own copies of the first night's bundle and warehouse."""
    bundle, work = night1
    return (
        shutil.copytree(bundle, tmp_path / "bundle"),
        shutil.copytree(work, tmp_path / "work"),
    )


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The registers staged afresh (stage_source called by the register path), in order."""
    calls: list[str] = []
    real = bundle_mod.stage_source

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(bundle_mod, "stage_source", counting)
    return calls


def _tables(work: Path) -> dict[str, pl.DataFrame]:
    with Warehouse(work) as wh:
        names = wh.read("SELECT table_name FROM information_schema.tables")["table_name"]
        out = {n: wh.table(n) for n in names}
    out["ingest_summary"] = out["ingest_summary"].drop(TIMING)
    out["meta"] = out["meta"].filter(pl.col("key") != "ingested_at")
    return out


def _night2(
    bundle: Path,
    work: Path,
    staged: list[str],
    change: Callable[[], None] = lambda: None,
    **kwargs: Any,
) -> list[str]:
    """The next night in ``work`` (reusing what it can) and the same night in a copy
    without the kept registers (staged afresh): the two warehouses must be equal. Returns
    the registers the first of them staged."""
    fresh = shutil.copytree(work, work.with_name("fresh"))
    shutil.rmtree(catalog.registers_cache(fresh))
    change()
    kwargs.setdefault("today", TODAY)
    staged.clear()
    ingest_bundle(bundle, work, incremental=True, **kwargs)
    restaged = sorted(staged)
    staged.clear()
    ingest_bundle(bundle, fresh, incremental=True, **kwargs)
    assert sorted(staged) == REGISTERS  # nothing kept: every register staged
    mine, theirs = _tables(work), _tables(fresh)
    assert mine.keys() == theirs.keys()
    for name in mine:
        try:
            assert_frame_equal(mine[name], theirs[name])
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    return restaged


def test_an_unchanged_night_reuses_every_register(copies, staged):
    bundle, work = copies
    assert _night2(bundle, work, staged) == []
    with Warehouse(work) as wh:
        summary = wh.table("ingest_summary")
    reused = summary.filter(pl.col("source").is_in(REGISTERS))
    assert (reused["files_reused"] == reused["files"]).all()


def test_a_changed_file_restages_that_register_only(copies, staged):
    bundle, work = copies
    tips = bundle / "tips.csv"

    def one_byte() -> None:  # a tip's house number, 9 -> 8
        data = tips.read_bytes()
        at = data.index("四组9号".encode())
        tips.write_bytes(data[:at] + "四组8号".encode() + data[at + len("四组9号".encode()) :])

    assert _night2(bundle, work, staged, one_byte) == ["tips"]


def test_a_new_row_restages_that_register_only(copies, staged):
    bundle, work = copies
    permits = bundle / "permits.csv"
    line = permits.read_text(encoding="utf-8").splitlines()[1]

    def one_row() -> None:  # the first permit again under another id
        with permits.open("a", encoding="utf-8") as fh:
            fh.write(line.replace(line.split(",")[0], "P-NEW-1", 1) + "\n")

    assert _night2(bundle, work, staged, one_row) == ["permits"]


def test_changed_settings_restage_every_register(copies, staged):
    bundle, work = copies
    config = load_config()
    config["ingest"]["max_year"] = 2099
    assert _night2(bundle, work, staged, settings=config) == REGISTERS


def test_a_changed_header_rename_restages_that_register_only(copies, staged):
    bundle, work = copies
    manifest = bundle / "manifest.toml"

    def rename() -> None:  # a rename no tips header uses: the result is the same, not the key
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text + 'tips = { "来电内容" = "text" }\n', encoding="utf-8")

    assert _night2(bundle, work, staged, rename) == ["tips"]


def test_a_changed_timezone_restages_every_register(copies, staged):
    bundle, work = copies
    manifest = bundle / "manifest.toml"

    def timezone() -> None:
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text.replace("Asia/Shanghai", "Asia/Urumqi"), encoding="utf-8")

    assert _night2(bundle, work, staged, timezone) == REGISTERS


def test_a_later_day_reuses_and_an_earlier_one_restages(copies, staged):
    bundle, work = copies
    # nothing of the sample lies after TODAY, so nothing lies after a later day either
    assert _night2(bundle, work, staged, today=TODAY + dt.timedelta(days=30)) == []
    shutil.rmtree(work.with_name("fresh"))
    # a day before the one staged: a date between the two would now be refused
    assert _night2(bundle, work, staged, today=TODAY - dt.timedelta(days=1)) == REGISTERS


def test_a_future_date_and_a_later_day_restage_that_register(tmp_path, staged):
    bundle = shutil.copytree(SAMPLE, tmp_path / "bundle")
    with (bundle / "tips.csv").open("a", encoding="utf-8") as fh:
        fh.write("12345-20220301-001,2022-03-01,晚上机器响,符离镇梁圩村四组9号,,\n")
    work = tmp_path / "work"
    ingest_bundle(bundle, work, incremental=True, today=TODAY)
    # the same day: the same tip is refused with the same words
    assert _night2(bundle, work, staged) == []
    shutil.rmtree(work.with_name("fresh"))
    # the next day names another day in the tip's problem (and on 2022-03-01 it passes)
    assert _night2(bundle, work, staged, today=TODAY + dt.timedelta(days=1)) == ["tips"]
    with Warehouse(work) as wh:
        late = wh.table("ingest_problems").filter(pl.col("reason").str.contains("after today"))
    assert late["reason"].str.contains("2022-01-02").all() and late.height == 1


def test_a_corrupt_or_missing_entry_is_staged_afresh(copies, staged):
    bundle, work = copies
    cache = catalog.registers_cache(work)

    def damage() -> None:
        (tips,) = cache.glob("tips-*")
        frame = tips / "frame.parquet"
        data = bytearray(frame.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the Parquet
        frame.write_bytes(bytes(data))
        (permits,) = cache.glob("permits-*")
        (permits / "entry.json").unlink()
        (vehicles,) = cache.glob("vehicles-*")
        (vehicles / "entry.json").write_text("{not json", encoding="utf-8")
        (registrations,) = cache.glob("registrations-*")
        problems = registrations / "problems.parquet"
        problems.write_bytes(problems.read_bytes()[:100])  # cut short
        shutil.rmtree(next(cache.glob("power_accounts-*")))

    restaged = _night2(bundle, work, staged, damage)
    assert restaged == ["permits", "power_accounts", "registrations", "tips", "vehicles"]
    # each was kept again, whole
    staged.clear()
    ingest_bundle(bundle, work, incremental=True, today=TODAY)
    assert staged == []


def test_a_full_rebuild_stages_every_register_and_keeps_them(copies, staged):
    bundle, work = copies
    ingest_bundle(bundle, work, today=TODAY)
    assert sorted(staged) == REGISTERS
    staged.clear()
    # from a new work directory: a full ingest keeps what the next night reuses
    other = work.with_name("other")
    ingest_bundle(bundle, other, today=TODAY)
    staged.clear()
    ingest_bundle(bundle, other, incremental=True, today=TODAY)
    assert staged == []


def test_leads_are_byte_identical(night1, tmp_path):
    from screening.pipeline import run_screening

    bundle, _ = night1
    work = tmp_path / "work"
    run_screening(bundle, tmp_path / "night1", work_dir=work)
    fresh = shutil.copytree(work, tmp_path / "fresh")
    shutil.rmtree(catalog.registers_cache(fresh))
    kept = run_screening(bundle, tmp_path / "kept", work_dir=work).ingest.summary
    run_screening(bundle, tmp_path / "staged", work_dir=fresh)
    reused = kept.filter(pl.col("source").is_in(REGISTERS))
    assert (reused["files_reused"] == reused["files"]).all()
    for name in (catalog.LEADS_CSV, catalog.LEADS_PARQUET):
        mine = (tmp_path / "kept" / name).read_bytes()
        assert mine == (tmp_path / "staged" / name).read_bytes(), name
