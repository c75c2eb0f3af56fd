"""Look at a screened generated county beside its truth: what an analyst reads before changing
a rule (and must not read on a held-out county).

    python bench/inspect_truth.py missed RUN_DIR TRUTH [--k 2n]     workshops ranked below k
    python bench/inspect_truth.py top RUN_DIR TRUTH [--n 50]        the top n, with their truth
    python bench/inspect_truth.py near RUN_DIR TRUTH T123 [--m 200] sites, places, stays nearby
    python bench/inspect_truth.py query RUN_DIR TRUTH "SQL" [--cols a,b]  site features + truth

RUN_DIR is the folder holding warehouse.duckdb (a `screening run` output). A truth site is
tied to sites by shared records or the nearest site within 150 m (``match_sites``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import polars as pl

from screening.coords import haversine_m
from screening.evaluation.truth import match_sites, read_truth


def _load(
    run: Path, truth_path: Path
) -> tuple[duckdb.DuckDBPyConnection, pl.DataFrame, pl.DataFrame]:
    con = duckdb.connect(str(run / "warehouse.duckdb"), read_only=True)
    features = con.sql("SELECT * FROM site_features").pl()
    truth = read_truth(truth_path)
    order = (
        con.sql("SELECT site_id, score, rule_score, anomaly_score FROM site_scores")
        .pl()
        .sort(["score", "site_id"], descending=[True, False])
        .with_row_index("pos", offset=1)
    )
    reasons = con.sql(
        "SELECT site_id, string_agg(code || ':' || round(contribution, 2)::VARCHAR, ' ') AS why "
        "FROM reasons WHERE contribution <> 0 GROUP BY site_id"
    ).pl()
    matched = (
        match_sites(truth, features)
        .join(truth.select("truth_id", "role", "category", "strength"), on="truth_id")
        .sort("truth_id")
        .group_by("site_id")
        .agg(pl.all().first())
    )
    sites = (
        features.join(order, on="site_id", how="left")
        .join(reasons, on="site_id", how="left")
        .join(matched, on="site_id", how="left")
    )
    return con, sites, truth


def missed(sites: pl.DataFrame, truth: pl.DataFrame, k: int | None) -> pl.DataFrame:
    n = int((truth["role"] == "workshop").sum())
    best = (
        sites.filter(pl.col("truth_id").is_not_null())
        .sort("pos")
        .group_by("truth_id", maintain_order=True)
        .first()
    )
    return (
        truth.filter(pl.col("role") == "workshop")
        .select("truth_id", "category", "strength", "description")
        .join(best.select("truth_id", "site_id", "pos", "score", "why"), on="truth_id", how="left")
        .filter(pl.col("pos").is_null() | (pl.col("pos") > (k or 2 * n)))
        .sort("pos", nulls_last=True)
    )


def near(
    con: duckdb.DuckDBPyConnection, sites: pl.DataFrame, truth: pl.DataFrame, tid: str, m: float
) -> None:
    t = truth.filter(pl.col("truth_id") == tid).row(0, named=True)
    print(
        {
            k: t[k]
            for k in ("category", "strength", "address", "usccs", "account_ids", "description")
        }
    )

    def within(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.filter(pl.col("lon").is_not_null())
        d = haversine_m(t["lon"], t["lat"], frame["lon"].to_numpy(), frame["lat"].to_numpy())
        return (
            frame.with_columns(pl.Series("dist_m", d)).filter(pl.col("dist_m") <= m).sort("dist_m")
        )

    print(
        within(sites).select(
            "site_id", "dist_m", "names", "tariffs", "pos", "truth_id", "why", "place_ids"
        )
    )
    print(
        within(con.sql("SELECT * FROM places").pl()).select(
            "place_id", "dist_m", "visits", "night_stops", "fuel_visits", "plates_seen"
        )
    )
    print(
        within(con.sql("SELECT * FROM stays").pl()).select(
            "plate", "start", "minutes", "place_id", "is_night", "dist_m"
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["missed", "top", "near", "query"])
    ap.add_argument("run", type=Path)
    ap.add_argument("truth", type=Path)
    ap.add_argument("arg", nargs="?", help="near: a truth id; query: an SQL condition")
    ap.add_argument("--k", type=int, default=None)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--m", type=float, default=200.0)
    ap.add_argument("--cols", default="names,score,why")
    args = ap.parse_args()
    pl.Config.set_tbl_rows(300)
    pl.Config.set_fmt_str_lengths(120)
    pl.Config.set_tbl_width_chars(300)
    con, sites, truth = _load(args.run, args.truth)
    if args.what == "missed":
        print(missed(sites, truth, args.k))
    elif args.what == "top":
        print(
            sites.sort("pos")
            .head(args.n)
            .select("pos", "site_id", "score", "truth_id", "role", "category", "why")
        )
    elif args.what == "near":
        near(con, sites, truth, args.arg, args.m)
    else:
        cols = ", ".join(args.cols.split(","))
        frame = sites  # noqa: F841 (read by DuckDB by name)
        query = f"SELECT site_id, truth_id, role, category, pos, {cols} FROM frame"
        print(duckdb.sql(f"{query} WHERE {args.arg} ORDER BY pos").pl())


if __name__ == "__main__":
    main()
