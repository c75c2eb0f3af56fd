"""Kept scoring_bench counties re-screened from their warehouses with the code and settings of
now: the loop a rule or threshold change goes through before it is kept.

    python bench/rebuild_bench.py LABEL [--config CHANGED.toml] [--score-only]
        [--worlds plain-north-medium-101 dense-south-medium-101 ...] [--root /tmp/bench-scoring]

Each world's ``<root>/<world>/run`` (written by ``scoring_bench.py --keep``) is copied to
``run-LABEL``; the sites are rebuilt from its stored signals' inputs (``build_sites``: stays,
places, linking, features) and scored (``score_run``), and the lead list is evaluated against
the world's truth: AP, recall@n and @2n, look-alikes in the top 50, leads. ``--score-only``
re-scores an existing ``run-LABEL`` (a rule's weight or condition changed, features did not):
seconds instead of a minute; without one it is built first. Run it on the tuning styles
while deciding; a held-out county is screened once, for its figures, when the change is kept
(README, *Lead quality*)."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from screening.evaluation.metrics import evaluate
from screening.evaluation.truth import read_truth
from screening.pipeline import build_sites, score_run

TUNING = ["plain-north-medium-101", "dense-south-medium-101", "sparse-mountain-medium-101"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--worlds", nargs="+", default=TUNING)
    ap.add_argument("--root", type=Path, default=Path("/tmp/bench-scoring"))
    ap.add_argument("--score-only", action="store_true")
    args = ap.parse_args()
    aps = []
    for world in args.worlds:
        base = args.root / world
        run = base / f"run-{args.label}"
        fresh = not (args.score_only and run.exists())
        if fresh:  # a copy of the kept run: its features are those of the code that wrote it
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(base / "run", run)
        t0 = time.perf_counter()
        if fresh:
            build_sites(run, args.config)
        leads, _ = score_run(run, args.config)
        truth = read_truth(base / "bundle_truth.csv")
        n = int((truth["role"] == "workshop").sum())
        r = evaluate(truth, leads)
        aps.append(float(r["average_precision"]))  # type: ignore[arg-type]
        print(
            f"{world:28s} AP {r['average_precision']:.3f} r@n {r[f'recall@{n}']:.3f} "
            f"r@2n {r[f'recall@{2 * n}']:.3f} look-alikes {r['lookalikes_top50']} "
            f"leads {leads.height} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    print(f"{args.label}: mean AP {sum(aps) / len(aps):.4f}")


if __name__ == "__main__":
    main()
