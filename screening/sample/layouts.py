"""A plain generated bundle with its bulk series cut the way an agency might cut them, so
that benchmarks and tests can show the product's cost and results do not depend on it
(issue 17: a city sent in account batches took three times as long as one sent by day).

- ``day``: one file per day, rows in meter (plate) and time order;
- ``batch``: account batches: ``files`` files, each a random set of meters (plates) over the
  whole window, the meters in random order inside the file, each meter's rows together and
  in time order (a grid export by lists of accounts);
- ``one``: the generator's single file, as it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from screening.schema import SERIES_KEYS

LAYOUTS = ("day", "batch", "one")
BULK = ("power_readings", "vehicle_tracks")


def write_layout(plain: Path, bundle: Path, layout: str, files: int = 47, seed: int = 0) -> Path:
    """``plain`` (a ``screening sample --plain`` bundle) copied to ``bundle`` with its
    readings and tracks cut as ``layout``, into ``bundle/<series>/<series>-<n>.parquet``.

    The series is split by a streaming sink and each file then ordered in memory, so that a
    city's 3x10^8 readings are never held at once (one file's are)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
    plain, bundle = Path(plain), Path(bundle)
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(plain, bundle, ignore=shutil.ignore_patterns(*(f"{n}.*" for n in BULK)))
    for name in BULK:
        key, src = SERIES_KEYS[name][0], plain / f"{name}.parquet"
        (bundle / name).mkdir()
        if layout == "one":
            shutil.copy(src, bundle / name / f"{name}-0.parquet")
            continue
        series = pl.scan_parquet(src)
        if layout == "day":  # in meter and time order inside each day
            cut = series.with_columns(pl.col("ts").dt.date().alias("_f"), pl.col(key).alias("_o"))
        else:  # meters dealt at random into ``files`` batches, in random order inside each
            order = (
                series.select(pl.col(key).unique().sort())
                .collect()
                .sample(fraction=1.0, shuffle=True, seed=seed)
                .with_row_index("_o")
            )
            order = order.with_columns((pl.col("_o") * files // max(order.height, 1)).alias("_f"))
            cut = series.join(order.lazy(), on=key)
        tmp = bundle / f".{name}-cut"
        cut.sink_parquet(pl.PartitionBy(tmp, key="_f", include_key=True), mkdir=True)
        # one folder per file to be (the sink may split a big one into several pieces)
        for n, folder in enumerate(sorted({p.parent for p in tmp.rglob("*.parquet")})):
            part = pl.read_parquet(folder / "*.parquet").sort("_o", "ts").drop("_f", "_o")
            part.write_parquet(bundle / name / f"{name}-{n}.parquet")
        shutil.rmtree(tmp)
    return bundle
