"""Time to detection and a list that holds still: a generated county screened night after
night through the nightly path (issue 18).

    python bench/replay.py --style sparse-mountain --size small --seed 7 --every 7 \
        --out /tmp/bench-replay [--config CHANGED.toml] [--first 2021-07-06]

The county is generated once (plain parquet) with a track history as long as its readings
(``generate(..., track_days=...)``: planted truck calls recur weekly back to each site's
start, never before it; the truth's ``start_date`` is the jump or wake day, else the first
day of readings). Its readings and tracks are cut into one file per day. Night after night
(every ``--every`` days from ``--first`` to the last day) the bundle folder receives the
days since the last night, as an agency folder would (tracks: only the last
``--track-window`` days stay in it, as a platform's export presents them), its manifest's
``as_of`` is the night, and ``run_screening`` screens it into a kept warehouse and ledger
(incremental ingest of the new files, the ledger merge: the `screening nightly` steps).
Nothing dated after the night is in the bundle's series; the registers are whole, as an
agency's export is, and the product leaves out what is dated after ``as_of``.

Prints per workshop the days from its start (or from the first night, for one already
working then) to the first night it stands in the top 20 (a team's few weeks), the top 2n
(n: planted workshops; left out where 2n is 50 or more) and the top 50, the medians and
90th percentiles per kind, and the night-to-night overlap of the top 50: Jaccard of the
ledger's site-id sets, and the share of tonight's top 50 at a place (the same site id,
within 150 m, or a shared registration, meter, property or case) in last night's. The id
churn is the share of tonight's sites at such a place that carry none of the ids found there
(the same place under a new id: a new lead to the ledger and to the team): of the top 50 by
the ledger's ids (what the team sees) and by the run's own ids, and of every site the run
made (its records re-linking night to night).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from screening.evaluation.truth import match_sites, read_truth
from screening.ledger.identity import pairs_within, place_records
from screening.pipeline import run_screening
from screening.sample import SIZES, generate
from screening.store.warehouse import Warehouse

BULK = ("power_readings", "vehicle_tracks")
TOP = 50
PLACE_M = 150.0


def world(out: Path, seed: int, size: str, style: str) -> tuple[Path, Path]:
    """The county (generated once per seed, size and style) and its truth."""
    plain = out / f"world-{style}-{size}-{seed}"
    truth = out / f"{plain.name}_truth.csv"
    if not (plain / "manifest.toml").exists() or not truth.exists():
        generate(
            plain,
            seed=seed,
            size=size,
            messy=False,
            truth=truth,
            style=style,
            track_days=SIZES[size].days,
        )
    return plain, truth


def daily_files(plain: Path) -> Path:
    """Readings and tracks cut into one Parquet file per day (once)."""
    days = plain.parent / f"{plain.name}-days"
    if (days / "done").exists():
        return days
    shutil.rmtree(days, ignore_errors=True)
    for name in BULK:
        (days / name).mkdir(parents=True)
        frame = pl.read_parquet(plain / f"{name}.parquet").with_columns(_day=pl.col("ts").dt.date())
        for (day,), part in frame.partition_by("_day", as_dict=True).items():
            part.drop("_day").write_parquet(days / name / f"{day}.parquet")
    (days / "done").touch()
    return days


def stage_night(plain: Path, days: Path, bundle: Path, night: dt.date, window: int) -> None:
    """The bundle as it stands on ``night``: registers whole, readings up to the night,
    tracks of its last ``window`` days, manifest as_of the night. Files already there are
    left as they are (the kept warehouse knows them by their content)."""
    if not bundle.exists():
        shutil.copytree(plain, bundle, ignore=shutil.ignore_patterns(*(f"{n}.*" for n in BULK)))
    for name in BULK:
        (bundle / name).mkdir(exist_ok=True)
        lo = night - dt.timedelta(days=window - 1) if name == "vehicle_tracks" else dt.date.min
        for src in sorted((days / name).glob("*.parquet")):
            day = dt.date.fromisoformat(src.stem)
            dest = bundle / name / src.name
            if lo <= day <= night and not dest.exists():
                shutil.copy(src, dest)
            elif day < lo:
                dest.unlink(missing_ok=True)
    manifest = (plain / "manifest.toml").read_text(encoding="utf-8")
    lines = [ln for ln in manifest.splitlines() if not ln.startswith("as_of")]
    lines.insert(1, f'as_of    = "{night}"')
    (bundle / "manifest.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def ranks(truth: pl.DataFrame, leads: pl.DataFrame, work: Path) -> pl.DataFrame:
    """Per workshop: its best rank in tonight's lead list (null: not listed)."""
    with Warehouse(work) as wh:
        sites = wh.table("site_features")
    pairs = match_sites(truth, sites)
    listed = leads.select(pl.col("run_site_id").alias("site_id"), "rank")
    got = pairs.join(listed, on="site_id").group_by("truth_id").agg(pl.col("rank").min())
    return truth.select("truth_id").join(got, on="truth_id", how="left")


def site_records(links: pl.DataFrame) -> pl.DataFrame:
    """(site_id, record) of the run's site links: every record but the truck places, whose
    ids are clustered afresh each night."""
    return links.filter(pl.col("source") != "places").select(
        "site_id", pl.format("{}:{}", "source", "record_id").alias("record")
    )


def same_place(
    now: pl.DataFrame, before: pl.DataFrame, now_rec: pl.DataFrame, before_rec: pl.DataFrame
) -> pl.DataFrame:
    """(site_id, site_before, by_record): every pair of tonight's and last night's sites at
    one place, sharing a record (``by_record``) or within 150 m of each other."""
    shared = now_rec.join(before_rec, on="record", suffix="_before").select(
        "site_id", pl.col("site_id_before").alias("site_before"), by_record=pl.lit(True)
    )
    near = pairs_within(now, before, PLACE_M).select(
        "site_id", pl.col("known").alias("site_before"), by_record=pl.lit(False)
    )
    return (
        pl.concat([shared, near])
        .group_by("site_id", "site_before")
        .agg(pl.col("by_record").any())
        .sort("site_id", "site_before")
    )


def overlap(pairs: pl.DataFrame, now: pl.DataFrame, before: pl.DataFrame) -> dict[str, float]:
    """Tonight's sites against last night's (``pairs`` from ``same_place``): the Jaccard of
    the two site-id sets, the share of tonight's at a place of last night's, and the id
    churn: the share of tonight's sites at a place of last night's (within 150 m or sharing a
    record) that carry none of the ids found there (the same place under a new id is a new
    lead to the ledger and the team; a neighbour within 150 m counts too), and the same
    among those sharing a record (a site whose records re-linked under a new id)."""
    a, b = set(now["site_id"]), set(before["site_id"])
    same = pl.col("site_before") == pl.col("site_id")
    per_site = now.select("site_id").join(
        pairs.group_by("site_id").agg(
            same.any().alias("kept"),
            same.filter(pl.col("by_record")).any().alias("kept_rec"),
            pl.col("by_record").any().alias("shares"),
        ),
        on="site_id",
        how="left",
    )
    placed = per_site.filter(pl.col("kept").is_not_null())
    sharing = per_site.filter(pl.col("shares").fill_null(False))

    def share(frame: pl.DataFrame, col: str) -> float:
        return float((~frame[col]).mean() or 0.0) if frame.height else 0.0  # type: ignore[operator]

    listed = per_site["kept"].is_not_null() | per_site["site_id"].is_in(list(b))
    return {
        "jaccard": len(a & b) / len(a | b) if a | b else 1.0,
        "same place": float(listed.mean() or 0.0) if per_site.height else 1.0,  # type: ignore[arg-type]
        "id churn": share(placed, "kept"),
        "id churn, records": share(sharing, "kept_rec"),
    }


def top_overlap(now: pl.DataFrame, before: pl.DataFrame) -> dict[str, float]:
    """Tonight's top 50 against last night's: Jaccard and same place by the ledger's site
    ids, the id churn by them (what the team sees) and by the run's own ids."""
    out = overlap(same_place(now, before, place_records(now), place_records(before)), now, before)
    run = [f.with_columns(pl.col("run_site_id").alias("site_id")) for f in (now, before)]
    pairs = same_place(*run, place_records(run[0]), place_records(run[1]))
    return {**out, "run-id churn": overlap(pairs, *run)["id churn"]}


def churn_of_sites(work: Path, kept: dict[str, pl.DataFrame]) -> dict[str, float]:
    """The id churn of every site the run made (its own site ids, before the ledger maps
    them) against the previous night's sites, which ``kept`` holds from night to night."""
    with Warehouse(work) as wh:
        links = wh.table("site_links").select("site_id", "source", "record_id")
        sites = wh.table("site_features").select("site_id", "lon", "lat")
    records = site_records(links)
    before, before_records = kept.get("sites"), kept.get("records")
    kept.update(sites=sites, records=records)
    if before is None or before_records is None:
        return {}
    return overlap(same_place(sites, before, records, before_records), sites, before)


def _q(values: list[int], q: float) -> str:
    return f"{float(np.quantile(values, q)):.0f}" if values else "-"


def summary(table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Median and 90th percentile of the days to each cut-off, with how many never got
    there, per ``by`` (and over all)."""
    rows = []
    groups = [("all", table), *table.group_by(by, maintain_order=True)]
    for key, g in groups:
        name = key if isinstance(key, str) else key[0]
        row: dict[str, object] = {by: name, "workshops": g.height}
        for col in [c for c in table.columns if c.startswith("days_to_")]:
            got = g[col].drop_nulls().to_list()
            row[f"{col} median"] = _q(got, 0.5)
            row[f"{col} p90"] = _q(got, 0.9)
            row[f"{col} never"] = g.height - len(got)
        rows.append(row)
    return pl.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="sparse-mountain")
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--every", type=int, default=7, help="days between screenings")
    ap.add_argument("--first", type=dt.date.fromisoformat, default=dt.date(2021, 7, 6))
    ap.add_argument("--track-window", type=int, default=14, help="days of tracks a night sees")
    ap.add_argument("--config", type=Path, default=None, help="settings file to screen with")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-replay"))
    ap.add_argument("--label", default="run", help="folder name for this replay's nights")
    args = ap.parse_args()

    t0 = time.perf_counter()
    plain, truth_path = world(args.out, args.seed, args.size, args.style)
    days = daily_files(plain)
    print(f"world {plain.name}: {time.perf_counter() - t0:.0f} s")
    truth = read_truth(truth_path).with_columns(pl.col("start_date").str.to_date())
    if "kind" not in truth.columns:
        truth = truth.with_columns(kind=pl.col("category"))
    shops = truth.filter(pl.col("role") == "workshop")
    two_n = 2 * shops.height
    cuts = sorted({20, TOP, *([two_n] if two_n < TOP else [])})
    last = max(dt.date.fromisoformat(p.stem) for p in (days / "power_readings").glob("*.parquet"))
    nights = []
    night = args.first
    while night <= last:
        nights.append(night)
        night += dt.timedelta(days=args.every)
    if nights[-1] != last:
        nights.append(last)

    root = args.out / args.label
    shutil.rmtree(root, ignore_errors=True)
    bundle, work, ledger = root / "bundle", root / "work", root / "ledger.duckdb"
    seen: list[pl.DataFrame] = []
    tops: list[pl.DataFrame] = []
    kept: dict[str, pl.DataFrame] = {}  # last night's sites and their records
    flow: list[dict[str, object]] = []
    for night in nights:
        stage_night(plain, days, bundle, night, args.track_window)
        t1 = time.perf_counter()
        report = run_screening(
            bundle, root / "runs" / str(night), args.config, ledger_path=ledger, work_dir=work
        )
        seconds = time.perf_counter() - t1
        leads = report.leads.sort("rank")
        seen.append(ranks(shops, leads, work).with_columns(night=pl.lit(night)))
        top = leads.head(TOP)
        moved = top_overlap(top, tops[-1]) if tops else {}
        site_churn = churn_of_sites(work, kept)
        tops.append(top)
        flow.append(
            {
                "night": night,
                "leads": leads.height,
                "workshops in top 20": int(seen[-1]["rank"].le(20).sum()),
                f"in top {TOP}": int(seen[-1]["rank"].le(TOP).sum()),
                "jaccard": moved.get("jaccard"),
                "same place": moved.get("same place"),
                "id churn": moved.get("id churn"),
                "run-id churn": moved.get("run-id churn"),
                "id churn, records": moved.get("id churn, records"),
                "site id churn": site_churn.get("id churn"),
                "site id churn, records": site_churn.get("id churn, records"),
                "seconds": round(seconds, 1),
            }
        )
    history = pl.concat(seen)
    per_shop = detection(shops, history, nights[0], cuts)
    cfg = pl.Config(tbl_rows=60, tbl_cols=20, tbl_width_chars=220, tbl_hide_dataframe_shape=True)
    with cfg, pl.Config(float_precision=2):
        print(f"{args.style} {args.size} seed {args.seed}, every {args.every} days: nights")
        print(pl.DataFrame(flow))
        print(f"per workshop ({shops.height} planted; days from start, or from the first night)")
        print(per_shop.drop("start"))
        started = per_shop.filter(pl.col("started_during"))
        print(f"workshops starting during the replay ({started.height}), per kind")
        print(summary(started, "kind"))
        print(f"all workshops ({per_shop.height}), per strength")
        print(summary(per_shop, "strength"))
    nf = pl.DataFrame(flow).drop_nulls("jaccard")
    jaccards = [float(x) for x in nf["jaccard"]]
    print(
        f"top-{TOP} overlap night to night: Jaccard median {np.median(jaccards):.2f} "
        f"(min {min(jaccards):.2f}); same place median {nf['same place'].median():.2f}; "
        f"id churn median {nf['id churn'].median():.2f} (max {nf['id churn'].max():.2f}; "
        f"the run's own ids {nf['run-id churn'].median():.2f}); "
        f"id churn sharing a record {nf['id churn, records'].median():.2f}; all sites' id "
        f"churn median {nf['site id churn'].median():.3f}, sharing a record "
        f"{nf['site id churn, records'].median():.3f}"
    )
    print(f"replay: {len(nights)} nights, {time.perf_counter() - t0:.0f} s")


def detection(
    shops: pl.DataFrame, history: pl.DataFrame, first: dt.date, cuts: list[int]
) -> pl.DataFrame:
    """Per workshop: the first night (on or after its start) it stands in the top k of each
    cut-off, and the days from its start (or the first night) to it."""
    frame = history.join(
        shops.select("truth_id", "kind", "strength", pl.col("start_date").alias("start")),
        on="truth_id",
    ).filter(pl.col("night") >= pl.col("start"))
    began = pl.max_horizontal(pl.col("start"), pl.lit(first))

    def first_night(limit: int, name: str) -> pl.DataFrame:
        return (
            frame.filter(pl.col("rank") <= limit)
            .group_by("truth_id")
            .agg(pl.col("night").min().alias(name))
        )

    last = history.filter(pl.col("night") == history["night"].max()).select(
        "truth_id", pl.col("rank").alias("rank_last")
    )
    out = shops.select("truth_id", "kind", "strength", pl.col("start_date").alias("start"))
    for k in cuts:
        out = out.join(first_night(k, f"night_{k}"), on="truth_id", how="left")
    return (
        out.join(last, on="truth_id", how="left")
        .with_columns(
            pl.col(f"night_{k}").sub(began).dt.total_days().alias(f"days_to_{k}") for k in cuts
        )
        .with_columns(started_during=pl.col("start") > first)
        .drop([f"night_{k}" for k in cuts])
        .with_columns(since=pl.col("start").cast(pl.String))
        .sort("truth_id")
    )


if __name__ == "__main__":
    main()
