"""Which of tonight's sites is a site the ledger already knows: the one rule behind the
ledger's ids (``Ledger._match_sites``) and the hold (``scoring/hold.py``).

A run's site id is the sha1 of its anchor record (sites/linking.py): when another record
joins or leaves the site, the anchor, and with it the id, can change while the place does
not. The ledger keeps the records of every site it has listed (``site_records``), so that
tonight's site takes the id of the known site, in this order:

1. the same id, or the run id the known site was last listed under;
2. the known site sharing the most of its records (registrations, meters, premises, cases;
   trucks call at many places and make none), the nearer first when two share as many;
3. the nearest known site within ``ledger.match_m``, only where one side has no records to
   tell the two apart: two sites with records and none in common are two places, however
   close (a neighbour's meter 40 m away is not last night's lead).

Each known site goes to one of tonight's sites at most and each of tonight's sites takes one
id at most; ties go by site id, so the same inputs always give the same ids.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from screening.coords import haversine_m, project_m
from screening.schema import PLACE_ID_COLUMNS

# (site_id, record): a record as ``column:id``
RECORDS = {"site_id": pl.String, "record": pl.String}
MATCH = {"site_id": pl.String, "known": pl.String}


def place_records(frame: pl.DataFrame) -> pl.DataFrame:
    """(site_id, record) of a frame carrying the lead list's record columns
    (``PLACE_ID_COLUMNS``, ``;``-separated), each record as ``column:id``."""
    cols = [c for c in PLACE_ID_COLUMNS if c in frame.columns]
    if not cols or frame.height == 0:
        return pl.DataFrame(schema=RECORDS)
    return (
        frame.select("site_id", *cols)
        .unpivot(index="site_id", variable_name="column", value_name="ids")
        .drop_nulls("ids")
        .with_columns(pl.col("ids").str.split(";"))
        .explode("ids")
        .filter(pl.col("ids") != "")
        .select("site_id", pl.format("{}:{}", "column", "ids").alias("record"))
        .unique()
        .sort("site_id", "record")
    )


def _one_to_one(pairs: pl.DataFrame, order: list[str], descending: list[bool]) -> pl.DataFrame:
    """The best pair for each known site, then the best of those for each of tonight's."""
    ranked = pairs.sort([*order, "site_id", "known"], descending=[*descending, False, False])
    return (
        ranked.unique("known", keep="first", maintain_order=True)
        .unique("site_id", keep="first", maintain_order=True)
        .select("site_id", "known")
    )


def pairs_within(tonight: pl.DataFrame, known: pl.DataFrame, radius_m: float) -> pl.DataFrame:
    """(site_id, known, d): every pair of the two frames' sites (site_id, lon, lat) within
    ``radius_m`` (metres, projected), found with a k-d tree."""
    a = tonight.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    b = known.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    if a.height == 0 or b.height == 0:
        return pl.DataFrame(schema={**MATCH, "d": pl.Float64})
    x, y = project_m(
        np.r_[a["lon"].to_numpy(), b["lon"].to_numpy()],
        np.r_[a["lat"].to_numpy(), b["lat"].to_numpy()],
    )
    n = a.height
    near = cKDTree(np.c_[x[:n], y[:n]]).sparse_distance_matrix(
        cKDTree(np.c_[x[n:], y[n:]]), radius_m, output_type="ndarray"
    )
    return pl.DataFrame(
        {
            "site_id": a["site_id"].gather(pl.Series(near["i"])),
            "known": b["site_id"].gather(pl.Series(near["j"])),
            "d": near["v"],
        },
        schema={**MATCH, "d": pl.Float64},
    )


def _pair_distance(pairs: pl.DataFrame, tonight: pl.DataFrame, known: pl.DataFrame) -> pl.Series:
    """The distance in metres of each (site_id, known) pair (null where one has no
    position), to rank known sites that share as many records."""
    both = pairs.join(tonight.select("site_id", "lon", "lat"), on="site_id", how="left").join(
        known.select(
            pl.col("site_id").alias("known"),
            pl.col("lon").alias("_klon"),
            pl.col("lat").alias("_klat"),
        ),
        on="known",
        how="left",
    )
    d = haversine_m(
        *(both[c].fill_null(np.nan).to_numpy() for c in ("lon", "lat", "_klon", "_klat"))
    )
    return pl.Series("d", d).fill_nan(None)


def match(
    tonight: pl.DataFrame,
    tonight_records: pl.DataFrame,
    known: pl.DataFrame,
    known_records: pl.DataFrame,
    match_m: float,
) -> pl.DataFrame:
    """(site_id, known): which of tonight's sites (site_id, lon, lat) are which known sites
    (site_id, run_site_id, lon, lat), given both sides' records (``place_records``)."""
    if tonight.height == 0 or known.height == 0:
        return pl.DataFrame(schema=MATCH)
    ids = tonight.select("site_id")
    k = known.rename({"site_id": "known"})
    own = pl.concat(
        [
            ids.join(k.select("known"), left_on="site_id", right_on="known").with_columns(
                known=pl.col("site_id"), _p=pl.lit(0)
            ),
            ids.join(k.select("run_site_id", "known"), left_on="site_id", right_on="run_site_id")
            .select("site_id", "known")
            .with_columns(_p=pl.lit(1)),
        ]
    )
    found = _one_to_one(own, ["_p"], [False])
    rest_t = tonight.filter(~pl.col("site_id").is_in(found["site_id"].implode()))
    rest_k = known.filter(~pl.col("site_id").is_in(found["known"].implode()))

    shared = (
        tonight_records.filter(pl.col("site_id").is_in(rest_t["site_id"].implode()))
        .join(
            known_records.filter(pl.col("site_id").is_in(rest_k["site_id"].implode())).rename(
                {"site_id": "known"}
            ),
            on="record",
        )
        .group_by("site_id", "known")
        .agg(pl.len().alias("shared"))
    )
    shared = shared.with_columns(_pair_distance(shared, rest_t, rest_k))
    found = pl.concat([found, _one_to_one(shared, ["shared", "d"], [True, False])])
    rest_t = rest_t.filter(~pl.col("site_id").is_in(found["site_id"].implode()))
    rest_k = rest_k.filter(~pl.col("site_id").is_in(found["known"].implode()))

    # by distance only where records cannot tell the two apart
    close = pairs_within(rest_t, rest_k, match_m).filter(
        ~pl.col("site_id").is_in(tonight_records["site_id"].implode())
        | ~pl.col("known").is_in(known_records["site_id"].implode())
    )
    found = pl.concat([found, _one_to_one(close, ["d"], [False])])
    return found.sort("site_id")
