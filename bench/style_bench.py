"""The product's lead list on counties of each world style (screening/sample/styles.py).

    python bench/style_bench.py --styles default plain-north dense-south sparse-mountain \\
        --seeds 101 202 --size medium --out /tmp/bench-styles

For each style and seed: generate the county, screen it as `screening run` does (the
product's own lead list, its min_score cut included) and evaluate it as `screening evaluate`
does. Prints one line per county (AP, recall at n and 2n, look-alikes in the top 50) and then
what the top 50's look-alikes are and which workshop kinds were missed at 2n. Timings of
generation are printed too (a styled medium county should stay within ~2x the default's).
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from pathlib import Path

import polars as pl

from screening.evaluation.metrics import evaluate
from screening.evaluation.truth import read_truth
from screening.pipeline import run_screening
from screening.sample import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--styles", nargs="+", default=["plain-north", "dense-south", "sparse-mountain"]
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 202])
    ap.add_argument("--size", default="medium")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-styles"))
    ap.add_argument("--keep", action="store_true", help="reuse generated bundles and runs")
    args = ap.parse_args()
    rows = []
    kinds: dict[str, Counter[str]] = {}
    missed: dict[str, Counter[str]] = {}
    for style in args.styles:
        kinds[style], missed[style] = Counter(), Counter()
        for seed in args.seeds:
            base = args.out / f"{style}-{args.size}-{seed}"
            bundle, truth_path = base / "bundle", base / "bundle_truth.csv"
            gen_s = float("nan")
            if not (args.keep and (base / "run" / "leads.parquet").exists()):
                shutil.rmtree(base, ignore_errors=True)
                t0 = time.perf_counter()
                generate(bundle, seed=seed, size=args.size, style=style)
                gen_s = time.perf_counter() - t0
                run_screening(bundle, base / "run")
            truth = read_truth(truth_path)
            leads = pl.read_parquet(base / "run" / "leads.parquet")
            r = evaluate(truth, leads)
            n = int(r["workshops"])  # type: ignore[arg-type]
            if "kind" not in truth.columns:
                truth = truth.with_columns(kind=pl.col("category"))
            found = {s.split()[0] for s in r["missed"]}  # type: ignore[union-attr]
            for t in truth.filter(pl.col("truth_id").is_in(list(found))).iter_rows(named=True):
                missed[style][t["kind"]] += 1
            for s in r["lookalikes_top50_ids"]:  # type: ignore[union-attr]
                kinds[style][s.split()[1]] += 1
            rows.append(
                {
                    "style": style,
                    "seed": seed,
                    "workshops": n,
                    "lookalikes": int((truth["role"] == "lookalike").sum()),
                    "leads": leads.height,
                    "AP": r["average_precision"],
                    "recall@n": r[f"recall@{n}"],
                    "recall@2n": r[f"recall@{2 * n}"],
                    "lookalikes_top50": r["lookalikes_top50"],
                    "generate_s": round(gen_s, 1),
                }
            )
            print(
                f"{style} seed {seed}: n={n}, AP {r['average_precision']:.3f}, "
                f"recall@n {r[f'recall@{n}']:.3f}, recall@2n {r[f'recall@{2 * n}']:.3f}, "
                f"look-alikes in top 50 {r['lookalikes_top50']}",
                flush=True,
            )
            print("  top-50 look-alikes:", "; ".join(r["lookalikes_top50_ids"]) or "-")  # type: ignore[arg-type]
            if f"recall_by_kind@{2 * n}" in r:
                rk = r[f"recall_by_kind@{2 * n}"]
                print("  recall by kind at 2n:", ", ".join(f"{k} {v:.2f}" for k, v in rk.items()))  # type: ignore[union-attr]
    table = pl.DataFrame(rows)
    with pl.Config(
        tbl_rows=100,
        tbl_cols=-1,
        tbl_width_chars=250,
        float_precision=3,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        print(table)
        print(
            table.group_by("style", maintain_order=True).agg(
                pl.col("AP", "recall@n", "recall@2n", "lookalikes_top50").mean()
            )
        )
    for style in args.styles:
        print(f"\n{style}: look-alikes in the top 50 by kind (all seeds):")
        print("  " + (", ".join(f"{k} {v}" for k, v in kinds[style].most_common()) or "-"))
        print(f"{style}: workshops missed at 2n by kind (all seeds):")
        print("  " + (", ".join(f"{k} {v}" for k, v in missed[style].most_common()) or "-"))


if __name__ == "__main__":
    main()
