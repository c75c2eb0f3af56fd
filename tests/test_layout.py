"""However the agency cut its bulk files, the stored series is sorted by key in every part,
so that a partition's key-range filter skips other partitions' row groups, and the signals
are the same (issue 17: a city sent in account batches of meters in random order had every
row group spanning every key, and each partition read every reading)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from screening.ingest import ingest_bundle
from screening.pipeline import partitions
from screening.sample import generate
from screening.sample.layouts import write_layout
from screening.schema import SERIES_KEYS
from screening.settings import load_settings
from screening.store import catalog

# small batches and row groups, so that a tiny county's parts hold several of each
SETTINGS = load_settings().replace(ingest={"batch_rows": 60_000, "bulk_row_group_rows": 4_000})


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny plain county ingested twice: readings and tracks by day, and in account batches
    of random meters in random order. Returns the work directory of each."""
    root = tmp_path_factory.mktemp("layout")
    plain = root / "plain"
    generate(plain, seed=3, size="tiny", messy=False)
    works = {}
    for layout in ("day", "batch"):
        bundle = write_layout(plain, root / layout, layout, files=5, seed=3)
        works[layout] = root / f"{layout}-work"
        ingest_bundle(bundle, works[layout], SETTINGS, incremental=True)
    return works


def _groups(path: Path, key: str) -> list[tuple[str, str]]:
    meta = pq.ParquetFile(path).metadata
    col = [meta.schema.column(i).name for i in range(meta.num_columns)].index(key)
    return [
        (meta.row_group(g).column(col).statistics.min, meta.row_group(g).column(col).statistics.max)
        for g in range(meta.num_row_groups)
    ]


@pytest.mark.parametrize("name", list(SERIES_KEYS))
def test_stored_parts_are_sorted_with_disjoint_row_groups(layouts, name):
    key, ts = SERIES_KEYS[name]
    parts = sorted(catalog.bulk_dir(layouts["batch"], name).glob("*.parquet"))
    assert len(parts) >= 5  # one part (or more) per input file
    several = 0
    for path in parts:
        frame = pl.read_parquet(path, columns=[key, ts])
        assert frame.equals(frame.sort(key, ts)), path.name
        groups = _groups(path, key)
        several += len(groups) > 1
        # each row group starts where the one before it ended (a key may straddle two)
        assert all(hi <= lo for (_, hi), (lo, _) in itertools.pairwise(groups))
    assert several  # the test means something: some part holds several row groups


def test_a_key_range_reads_only_its_own_row_groups(layouts):
    """With the input in random meter order, a partition's range overlaps its own share of
    the row groups (plus at most the two at its edges in each part), not all of them."""
    work = layouts["batch"]
    bounds = partitions.key_ranges(work, "power_readings", 8)
    for lo, hi in [b for b in bounds if b is not None]:
        for path in sorted(catalog.bulk_dir(work, "power_readings").glob("*.parquet")):
            groups = _groups(path, "account_id")
            hit = [g for g in groups if not (g[1] < lo or g[0] > hi)]
            inside = [g for g in groups if g[0] >= lo and g[1] <= hi]
            assert len(hit) <= len(inside) + 2
            if len(groups) >= 8:
                assert len(hit) < len(groups)


def test_signals_and_stays_are_the_same_in_every_layout(layouts):
    as_of = dt.date(2021, 8, 31)
    cfg = SETTINGS.replace(scale={"partitions": 3})
    meters = {k: partitions.meter_signals(w, as_of, cfg) for k, w in layouts.items()}
    stays = {k: partitions.stay_points(w, as_of, cfg) for k, w in layouts.items()}
    assert meters["day"].height > 100 and stays["day"].height > 5
    assert meters["batch"].sort("account_id").equals(meters["day"].sort("account_id"))
    assert stays["batch"].equals(stays["day"])
