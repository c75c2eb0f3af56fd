"""The real steel plant (../shared/realdata/steel_plant_15min.csv) dropped into the sample
county as one more industrial meter with its registration and a use permit: where does it
rank among 5,000 generated sites, and why?

    python bench/steel_in_county.py --out /tmp/steel-county

Its 2018 readings are moved 157 weeks on (weekdays kept) so that the county's screening date
2021-08-31 falls on 2018-08-28, with the August shutdown inside the history. Prints the
plant's power figures, its peer percentiles, its score, its rank and the lead list's size.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import shutil
from pathlib import Path

import polars as pl

from screening.pipeline import run_screening
from screening.store.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "realdata" / "steel_plant_15min.csv"
ACCOUNT, USCC = "GW-STEEL-01", "91341302MA2T0STE1X"
ADDRESS = "宿州市埇桥区符离镇工业园钢城路1号"
SHIFT = dt.timedelta(weeks=157)


def _start(text: str) -> dt.datetime:
    """Interval start: the file stamps interval ends, a day's 24:00 as 0:00 of that day."""
    end = dt.datetime.strptime(text, "%d/%m/%Y %H:%M")
    if end.time() == dt.time(0, 0):
        end += dt.timedelta(days=1)
    return end - dt.timedelta(minutes=15)


def _append(path: Path, row: list[str], encoding: str = "utf-8") -> None:
    gz = path.name.endswith(".gz")
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    frame = pl.read_csv(raw, encoding=encoding, infer_schema=False)
    frame = pl.concat(
        [frame, pl.DataFrame([row], schema=dict.fromkeys(frame.columns, pl.String), orient="row")]
    )
    data = frame.write_csv().encode("utf-8-sig")
    path.write_bytes(gzip.compress(data) if gz else data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/steel-county"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    bundle = args.out / "bundle"
    shutil.copytree(REPO / "data" / "sample", bundle)
    with REAL.open(encoding="utf-8-sig", newline="") as fh:
        raw = list(csv.DictReader(fh))
    pl.DataFrame(
        {
            "account_id": ACCOUNT,
            "ts": [
                f"{t.day}/{t.month}/{t.year} {t.hour}:{t.minute:02d}"
                for t in (_start(r["date"]) + SHIFT for r in raw)
            ],
            "kwh": [r["Usage_kWh"] for r in raw],
        }
    ).write_csv(bundle / "power_readings" / "steel.csv")
    _append(
        bundle / "registrations.csv",
        [USCC, "宿州光阳钢铁有限公司", ADDRESS, "117.005", "33.71", "符离镇", "C3120",
         "钢铁冶炼、压延加工；金属材料销售", "存续", "2005-06-01", ""],
        encoding="gb18030",
    )  # fmt: skip
    _append(
        bundle / "permits.csv",
        ["(皖)WH使许证字[2020]0071", USCC, "危险化学品使用许可证", "氧气、氮气、氩气",
         "2020-01-01", "2023-01-01", ADDRESS, "117.005", "33.71"],
    )  # fmt: skip
    _append(
        bundle / "power_accounts.csv.gz",
        [ACCOUNT, "宿州光阳钢铁有限公司", ADDRESS, "117.0051", "33.7101", "大工业用电", "800",
         "三相", USCC, "2005-07-01"],
    )  # fmt: skip
    report = run_screening(bundle, args.out / "run")
    with Warehouse(args.out / "run") as wh:
        site = wh.table("site_links").filter(pl.col("record_id") == ACCOUNT)["site_id"].item()
        scores = wh.table("site_scores").sort("score", "site_id", descending=[True, False])
        pos = scores["site_id"].to_list().index(site) + 1
        me = scores.filter(pl.col("site_id") == site).row(0, named=True)
        pf = wh.table("power_features").filter(pl.col("account_id") == ACCOUNT).row(0, named=True)
        reasons = wh.table("reasons").filter(pl.col("site_id") == site)["code"].to_list()
    keys = ["night_share", "weekend_share", "flatness", "high_hours_per_day", "load_factor",
            "daily_kwh_recent", "jump_ratio", "wake_date", "peer_group", "peer_count"]  # fmt: skip
    for k in keys:
        pct = pf.get(f"{k}_pct")
        print(f"{k:20s} {pf[k]!s:>22s}" + (f"   peer pct {pct:.2f}" if pct is not None else ""))
    print(f"score {me['score']} (rules {me['rule_score']}, anomaly {me['anomaly_score']:.3f}, "
          f"pct {me['anomaly_pct']:.3f}: {me['anomaly_features']}); reasons {reasons}")  # fmt: skip
    print(f"site {pos} of {scores.height} by score; leads listed: {report.leads.height}")


if __name__ == "__main__":
    main()
