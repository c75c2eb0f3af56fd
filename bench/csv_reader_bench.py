"""Memory of reading one big CSV readings file, the reader alone (no staging): a GB18030
wide-hourly ``.csv.gz`` made of the medium county's wide rows written ``--times`` over (3:
1.76 M wide rows, 42 M readings, ~500 MB of text), read batch by batch and thrown away.

    python bench/csv_bench.py --size medium --seed 11 --out /tmp/bench-csv   # the county
    python bench/csv_reader_bench.py --out /tmp/bench-csv --times 3

Each read runs in its own process, so that its peak resident memory (VmHWM) is its own. Run
it with PYTHONPATH pointing at another checkout to measure that checkout's reader (the
child passes only the arguments both the old and the new reader take).
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import peak_gb


def make_big(county: Path, out: Path, times: int) -> Path:
    """The county's two wide-hourly files, their text written ``times`` over into one."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    sources = sorted((county / "power_readings").glob("wide_hourly_*.csv.gz"))
    with gzip.open(tmp, "wb", compresslevel=1) as dst:
        for k in range(times):
            for i, src in enumerate(sources):
                with gzip.open(src, "rb") as fh:
                    if k or i:
                        fh.readline()  # one header
                    while block := fh.read(1 << 24):
                        dst.write(block)
    tmp.rename(out)
    return out


def child(path: Path) -> None:
    from screening.ingest import readers
    from screening.schema import SOURCES

    bundle = path.parent.parent
    kwargs = {"batch_rows": 5_000_000}
    if "staging" in inspect.signature(readers.read_file_batches).parameters:
        kwargs["staging"] = path.parent / "staging"  # the reader before streaming
    t0 = time.perf_counter()
    rows = batches = 0
    for tables in readers.read_file_batches(path, bundle, SOURCES["power_readings"], **kwargs):
        rows += sum(t.frame.height for t in tables)
        batches += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_gb": peak_gb(), "rows": rows, "batches": batches}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-csv"))
    ap.add_argument("--size", default="medium")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--times", type=int, default=3)
    ap.add_argument("--child", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    county = args.out / f"{args.size}-{args.seed}" / "csv"
    big = make_big(
        county, args.out / "big" / "power_readings" / f"wide_x{args.times}.csv.gz", args.times
    )
    mb = big.stat().st_size / 2**20
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(big)], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"{big.name} ({mb:.0f} MB gzipped GB18030): {got['rows']:,} wide rows in "
        f"{got['batches']} batches, {got['seconds']:.1f} s, peak {got['peak_gb']:.2f} GB"
    )


if __name__ == "__main__":
    main()
