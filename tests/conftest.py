"""Small real-shaped bundles built inside tests, one file per source, in any format."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

# Prefect in tests: a private home, no telemetry, and no server of anyone else's
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"

BASE: dict[str, list[dict[str, object]]] = {
    "registrations": [
        {
            "uscc": "91350100M000100Y43",
            "name": "宿州市甲新材料科技有限公司",
            "address": "桃园镇工业园纬二路18号",
            "lon": 117.01,
            "lat": 33.65,
            "industry_code": "C2614",
            "status": "存续",
            "established": "2019-03-05",
        },
        {
            "uscc": "",
            "name": "乙食品厂",
            "address": "符离镇张庄村3组25号",
            "lon": "",
            "lat": "",
            "industry_code": "1411",
            "status": "在业",
            "established": "2018/5/1",
        },
    ],
    "permits": [
        {
            "permit_id": "皖WH安许证字[2019]001",
            "uscc": "91350100M000100Y43",
            "kind": "经营许可",
            "scope": "硫酸、盐酸",
            "valid_from": "2019-01-01",
            "valid_to": "2022-01-01",
            "address": "桃园镇工业园纬二路18号",
            "lon": 117.01,
            "lat": 33.65,
        },
    ],
    "power_accounts": [
        {
            "account_id": "3400001",
            "name": "甲",
            "address": "桃园镇工业园纬二路18#",
            "tariff": "大工业用电",
            "capacity_kva": "315",
            "phase": "三相",
            "lon": 117.0101,
            "lat": 33.6501,
        },
        {
            "account_id": "3400002",
            "name": "乙",
            "address": "符离镇张庄村三组25号",
            "tariff": "一般工商业",
            "capacity_kva": "50",
            "phase": "1",
        },
    ],
    "power_readings": [
        {"account_id": "3400001", "ts": f"2021-08-01 {h:02d}:00:00", "kwh": 10 + h}
        for h in range(24)
    ]
    + [{"account_id": "3400002", "ts": f"2021-08-{d:02d}", "kwh": 5.5} for d in (1, 2, 3)],
    "vehicles": [
        {"plate": "皖L·A1234", "carrier": "宿州运输公司", "cargo": "柴油", "capacity_t": "30"}
    ],
    "vehicle_tracks": [
        {
            "plate": "皖LA1234",
            "ts": f"2021-08-01 00:{m:02d}:{s:02d}",
            "lon": 117.0 + m * 1e-4,
            "lat": 33.6,
            "speed_kmh": 20,
        }
        for m in range(3)
        for s in (0, 30)
    ],
    "idle_properties": [
        {
            "property_id": "XZ-001",
            "kind": "闲置厂房",
            "address": "曹村镇老砖厂",
            "lon": 117.1,
            "lat": 33.5,
            "owner": "张三",
            "since": "2020-01-01",
            "geometry": "POLYGON((117.1 33.5,117.101 33.5,117.101 33.501,117.1 33.501,117.1 33.5))",
        },
    ],
}


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame(
        {k: [None if r.get(k) in ("", None) else str(r.get(k)) for r in rows] for k in keys}
    )


def write_source(
    folder: Path,
    name: str,
    rows: list[dict[str, object]] | pl.DataFrame,
    fmt: str = "csv",
    encoding: str = "utf-8",
) -> Path:
    """One source file in the given format; CSV in the given encoding ('utf-8-sig' for BOM)."""
    frame = rows if isinstance(rows, pl.DataFrame) else _frame(rows)
    path = folder / f"{name}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "csv.gz"):
        text = frame.write_csv()
        data = text.encode(encoding)
        if fmt == "csv.gz":
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
    elif fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "xlsx":
        wb = xlsxwriter.Workbook(str(path))
        ws = wb.add_worksheet("Sheet1")
        ws.write_row(0, 0, [f"{name} 导出"])  # a title line above the header, as exports have
        ws.write_row(1, 0, frame.columns)
        for i, row in enumerate(frame.iter_rows(), start=2):
            ws.write_row(i, 0, ["" if v is None else v for v in row])
        wb.close()
    else:
        raise ValueError(fmt)
    return path


def make_bundle(folder: Path, skip: tuple[str, ...] = (), **overrides: object) -> Path:
    """A minimal valid bundle; a keyword replaces one source's rows (or a DataFrame)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in BASE.items():
        if name in skip:
            continue
        write_source(folder, name, overrides.get(name, rows))  # type: ignore[arg-type]
    return folder


def split_last_day(bundle: Path, held: Path) -> list[Path]:
    """Move the sample's last day (31 August) of readings and tracks out of ``bundle`` into
    ``held``: the files that arrive on the next night. Returns them, held."""
    held.mkdir()
    moved = [held / "2021-08-31.parquet"]
    shutil.move(bundle / "vehicle_tracks" / "2021-08-31.parquet", moved[0])
    for name in ("hourly_part01", "daily"):
        path = bundle / "power_readings" / f"{name}.parquet"
        frame = pl.read_parquet(path)
        last = pl.col("ts") >= pl.datetime(2021, 8, 31)
        frame.filter(~last).write_parquet(path)
        moved.append(held / f"{name}_2021-08-31.parquet")
        frame.filter(last).write_parquet(moved[-1])
    return moved


def put_back(held: Path, bundle: Path) -> None:
    """The held last day's files into the bundle, where split_last_day took them from."""
    shutil.move(held / "2021-08-31.parquet", bundle / "vehicle_tracks")
    for path in held.glob("*.parquet"):
        shutil.move(path, bundle / "power_readings")


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI step slower than PLAIN_AFTER_S logs its progress on stderr, and the CLI runner
    mixes stderr into the output that tests count lines of: on a loaded machine the one-line
    error became two. The progress log is not what any test reads."""
    import importlib

    # the module, not the package's `main` command of the same name
    monkeypatch.setattr(importlib.import_module("screening.cli.main"), "PLAIN_AFTER_S", 1e9)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle")


@pytest.fixture(scope="session")
def sample_ingested(tmp_path_factory):
    """The committed sample, ingested once for the whole test session: (report, work_dir)."""
    from screening.ingest import ingest_bundle

    work = tmp_path_factory.mktemp("sample") / "work"
    return ingest_bundle(SAMPLE, work), work


def annex3_values(path: Path) -> dict[str, object]:
    """Annex 3's figures by heading (its headings span rows 3-4, the figures are row 5)."""
    import openpyxl

    ws = openpyxl.load_workbook(path).active
    heads = {ws.cell(row=r, column=c).value: c for r in (3, 4) for c in range(1, 17)}
    return {h: ws.cell(row=5, column=c).value for h, c in heads.items() if h}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, in Debian's headless Chromium, offline (no
    background networking, a fresh profile): what the map tests read."""
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
