"""The sample generator: reproducible, complete, messy where it should be, and honest (the
planted sites really show their signals in the raw files, and the bundle gives none away).

Reads the raw files directly, not through the ingest, so that these tests pin what the
generator writes whatever the ingest does with it.
"""

from __future__ import annotations

import gzip
import io
import tomllib
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from screening import schema
from screening.coords import gcj02_to_wgs84, haversine_m
from screening.ingest.uscc import is_valid
from screening.sample import generate
from screening.sample.config import LOOKALIKE_CATEGORIES, WORKSHOP_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
NIGHT = (pl.col("ts").dt.hour() >= 22) | (pl.col("ts").dt.hour() < 6)
TRUTH_COLUMNS = [
    "truth_id",
    "role",
    "category",
    "strength",
    "lon",
    "lat",
    "township",
    "address",
    "usccs",
    "account_ids",
    "property_ids",
    "plates",
    "case_ids",
    "tip_ids",
    "signals",
    "jump_date",
    "description",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("sample")
    out = root / "county"
    summary = generate(out, seed=11, size="tiny")
    return out, Path(str(summary["truth"])), summary


@pytest.fixture(scope="module")
def truth(tiny: tuple[Path, Path, dict[str, object]]) -> pl.DataFrame:
    return pl.read_csv(tiny[1], infer_schema=False)


# -- raw readers (deliberately independent of screening.ingest.staging) ------------------------


def _canon(df: pl.DataFrame, source: str, renames: dict[str, str] | None = None) -> pl.DataFrame:
    """Chinese headers back to canonical names, via the schema's aliases."""
    src = schema.SOURCES[source]
    back = dict(renames or {})
    for c in src.columns:
        for a in c.aliases:
            back[a] = c.name
    return df.rename({c: back[c] for c in df.columns if c in back})


def read_registrations(out: Path) -> pl.DataFrame:
    text = (out / "registrations.csv").read_bytes().decode("gb18030")
    return _canon(pl.read_csv(io.StringIO(text), infer_schema=False), "registrations")


def read_accounts(out: Path) -> pl.DataFrame:
    data = gzip.decompress((out / "power_accounts.csv.gz").read_bytes())
    df = pl.read_csv(data, infer_schema=False)
    return _canon(df, "power_accounts", {"用户户号": "account_id"})


def read_permits(out: Path) -> pl.DataFrame:
    return _canon(pl.read_csv(out / "permits.csv", infer_schema=False), "permits")


def read_vehicles(out: Path) -> pl.DataFrame:
    return _canon(pl.read_csv(out / "vehicles.csv", infer_schema=False), "vehicles")


def read_readings(out: Path) -> pl.DataFrame:
    """All four layouts of the messy readings folder, as long hourly-or-finer rows."""
    f = out / "power_readings"
    parts = [pl.read_parquet(p) for p in sorted(f.glob("*.parquet"))]
    w = pl.read_csv(f / "wide_hourly.csv", infer_schema=False).rename(
        {"户号": "account_id", "日期": "date"}
    )
    w = w.with_columns(d=pl.col("date").str.to_date("%Y/%-m/%-d", strict=False)).filter(
        pl.col("d").is_not_null()
    )
    w = w.unpivot(
        index=["account_id", "d"],
        on=[f"h{i:02d}" for i in range(24)],
        variable_name="h",
        value_name="kwh",
    ).select(
        "account_id",
        ts=pl.col("d").cast(pl.Datetime("us"))
        + pl.duration(hours=pl.col("h").str.slice(1).cast(pl.Int64)),
        kwh=pl.col("kwh").cast(pl.Float64, strict=False),
    )
    q = pl.read_csv(f / "quarter_hourly.csv.gz", infer_schema=False)
    q = q.unpivot(index=["account_id", "date"], variable_name="p", value_name="kwh").select(
        "account_id",
        ts=pl.col("date").str.to_date().cast(pl.Datetime("us"))
        + pl.duration(minutes=(pl.col("p").str.slice(1).cast(pl.Int64) - 1) * 15),
        kwh=pl.col("kwh").cast(pl.Float64, strict=False),
    )
    return pl.concat([*parts, w, q])


def read_tracks(out: Path) -> pl.DataFrame:
    df = pl.concat([pl.read_parquet(p) for p in sorted((out / "vehicle_tracks").glob("*"))])
    df = _canon(df, "vehicle_tracks")
    lon, lat = gcj02_to_wgs84(df["lon"].to_numpy(), df["lat"].to_numpy())
    return df.with_columns(lon=pl.Series(lon), lat=pl.Series(lat))


def _ids(s: str | None) -> list[str]:
    return [x for x in (s or "").split(";") if x]


# -- tests ---------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(
    tiny: tuple[Path, Path, dict[str, object]], tmp_path: Path
) -> None:
    out, truth_path, _ = tiny
    again = tmp_path / "county"
    s = generate(again, seed=11, size="tiny")
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    assert truth_path.read_bytes() == Path(str(s["truth"])).read_bytes()


def test_different_seeds_differ(tiny: tuple[Path, Path, dict[str, object]], tmp_path: Path) -> None:
    out = tiny[0]
    other = tmp_path / "county"
    generate(other, seed=12, size="tiny")
    for name in ("registrations.csv", "vehicles.csv", "townships.geojson"):
        assert (out / name).read_bytes() != (other / name).read_bytes()


def test_every_category_planted_strong_and_subtle(truth: pl.DataFrame) -> None:
    assert truth.columns == TRUTH_COLUMNS
    ws = truth.filter(pl.col("role") == "workshop")
    for cat in WORKSHOP_CATEGORIES:
        got = set(ws.filter(pl.col("category") == cat)["strength"].to_list())
        assert got == {"strong", "subtle"}, cat
    looks = set(truth.filter(pl.col("role") == "lookalike")["category"].to_list())
    assert looks == set(LOOKALIKE_CATEGORIES)
    assert truth["truth_id"].n_unique() == truth.height


def test_all_sources_present(tiny: tuple[Path, Path, dict[str, object]]) -> None:
    out = tiny[0]
    stems = {p.name.split(".")[0] for p in out.iterdir()}
    for name in schema.SOURCES:  # optional ones too
        assert name in stems, name
    assert (out / schema.TOWNSHIPS_FILE).exists()
    gj = pl.read_json(out / schema.TOWNSHIPS_FILE)
    assert gj.height == 1  # one FeatureCollection
    assert tiny[2]["rows"]["vehicle_tracks"] > 1000  # type: ignore[index]


def _texts(out: Path) -> list[str]:
    """Every string a reader of the bundle could see: names, headers and values."""
    texts = []
    for p in out.rglob("*"):
        if not p.is_file():
            continue
        texts.append(p.name)
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
        if p.suffix == ".parquet":
            df = pl.read_parquet(p)
            texts.extend(df.columns)
            for c, dt in df.schema.items():
                if dt == pl.String:
                    texts.extend(df[c].unique().drop_nulls().to_list())
        elif p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                texts.extend(z.read(n).decode("utf-8") for n in z.namelist())
        else:
            try:
                texts.append(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                texts.append(data.decode("gb18030"))
    return texts


def test_truth_outside_bundle_and_nothing_gives_it_away(
    tiny: tuple[Path, Path, dict[str, object]], truth: pl.DataFrame
) -> None:
    out, truth_path, summary = tiny
    assert not truth_path.resolve().is_relative_to(out.resolve())
    assert Path(str(summary["expected_quarantine"])).parent == truth_path.parent
    blob = "\n".join(_texts(out)).lower()
    for word in ("planted", "workshop", "lookalike", "look-alike", "truth", "decoy"):
        assert word not in blob, word
    for tid in truth["truth_id"].to_list():
        assert f",{tid.lower()}," not in blob


def test_refuses_truth_inside_bundle(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside"):
        generate(tmp_path / "b", size="tiny", truth=tmp_path / "b" / "truth.csv")


def test_messy_features(tiny: tuple[Path, Path, dict[str, object]]) -> None:
    out = tiny[0]
    manifest = tomllib.loads((out / "manifest.toml").read_text(encoding="utf-8"))
    assert manifest["crs"] == "gcj02" and manifest["as_of"] == "2021-08-31"
    assert manifest["columns"]["power_accounts"] == {"用户户号": "account_id"}
    raw = (out / "registrations.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = raw.decode("gb18030").splitlines()[0].split(",")
    assert "统一社会信用代码" in header and "住所" in header
    assert (out / "permits.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    wb = openpyxl.load_workbook(out / "idle_properties.xlsx")
    ws = wb.active
    heads = [c.value for c in ws[1]]
    col = heads.index("闲置时间")
    assert any(isinstance(r[col].value, datetime) for r in ws.iter_rows(min_row=2))
    f = out / "power_readings"
    layouts = set()
    for p in f.iterdir():
        cols = (
            pl.read_parquet(p).columns
            if p.suffix == ".parquet"
            else pl.read_csv(p, n_rows=1, infer_schema=False).columns
        )
        if "h00" in cols and "h23" in cols:
            layouts.add("wide_hourly")
        elif "p01" in cols and "p96" in cols:
            layouts.add("wide_96")
        elif {"account_id", "ts", "kwh"} <= set(cols):
            ts = pl.read_parquet(p)["ts"]
            layouts.add("daily" if (ts.dt.hour() == 0).all() else "long_hourly")
    assert layouts == {"wide_hourly", "wide_96", "daily", "long_hourly"}
    reg = read_registrations(out)
    dates = reg["established"].drop_nulls()
    assert dates.str.contains("年").any() and dates.str.contains("/").any()
    assert dates.str.contains(r"^\d{4}-\d{2}-\d{2}$").any()
    codes = reg["industry_code"].drop_nulls()
    assert codes.str.contains(r"^[A-Z]\d{4}$").any() and codes.str.contains(r"^\d{4}$").any()
    acc = read_accounts(out)
    assert acc["tariff"].is_in(["大工业用电", "一般工商业", "居民生活用电"]).any()
    assert acc["address"].drop_nulls().str.contains("[０-９]").any()
    days = sorted((out / "vehicle_tracks").glob("*.parquet"))
    assert days
    tr = pl.read_parquet(days[0]).rename({"车牌号": "plate", "定位时间": "ts"})
    assert tr.is_duplicated().any()
    assert not tr["plate"].is_sorted() or not tr["ts"].is_sorted()


def test_coordinates_are_gcj02(
    tiny: tuple[Path, Path, dict[str, object]], truth: pl.DataFrame
) -> None:
    """Raw coordinates sit hundreds of metres from the truth; converted back, tens."""
    acc = read_accounts(tiny[0]).filter(pl.col("lon").is_not_null())
    acc = acc.filter(pl.col("lon").cast(pl.Float64, strict=False) > 100)
    t = truth.with_columns(account_id=pl.col("account_ids").str.split(";")).explode("account_id")
    j = t.join(acc, on="account_id", suffix="_f")
    assert j.height >= 3
    lon_f = j["lon_f"].cast(pl.Float64).to_numpy()
    lat_f = j["lat_f"].cast(pl.Float64).to_numpy()
    lon_t, lat_t = j["lon"].cast(pl.Float64).to_numpy(), j["lat"].cast(pl.Float64).to_numpy()
    assert (haversine_m(lon_f, lat_f, lon_t, lat_t) > 200).all()
    wl, wt = gcj02_to_wgs84(lon_f, lat_f)
    assert (haversine_m(wl, wt, lon_t, lat_t) < 60).all()


def test_expected_quarantine_points_at_real_bad_rows(
    tiny: tuple[Path, Path, dict[str, object]],
) -> None:
    out, _, summary = tiny
    exp = pl.read_csv(str(summary["expected_quarantine"]), infer_schema=False)
    assert exp.columns == ["source", "file", "row", "field", "reason_hint"]
    assert 20 <= exp.height <= 40
    assert set(exp["source"]) >= {
        "registrations",
        "power_accounts",
        "power_readings",
        "vehicle_tracks",
    }
    readers = {
        "registrations.csv": read_registrations,
        "power_accounts.csv.gz": read_accounts,
        "permits.csv": read_permits,
        "vehicles.csv": read_vehicles,
    }
    for r in exp.iter_rows(named=True):
        path = out / r["file"]
        assert path.exists(), r["file"]
        if r["file"] in readers:
            df = readers[r["file"]](out)
        elif path.suffix == ".parquet":
            df = _canon(pl.read_parquet(path), r["source"])
        elif path.suffix == ".xlsx":
            df = _canon(pl.read_excel(path), r["source"])
        else:
            df = pl.read_csv(path, infer_schema=False).rename(
                {"户号": "account_id", "日期": "date"}, strict=False
            )
        row = df.row(int(r["row"]) - 1, named=True)
        v = row[r["field"]]
        hint = r["reason_hint"]
        if "required" in hint or "id empty" in hint:
            assert v in (None, "")
        elif "negative" in hint:
            assert float(v) < 0
        elif "absurd" in hint:
            assert float(v) >= 1e6
        elif "non-numeric" in hint:
            with pytest.raises(ValueError):
                float(v)
        elif "check digit" in hint:
            assert not is_valid(v)
        elif "outside China" in hint:
            lon, lat = float(row["lon"]), float(row["lat"])
            assert not (73 < lon < 136 and 3 < lat < 54)
        elif "conflicting" in hint:  # both readings of the pair are listed
            same = df.filter(
                (pl.col("account_id") == row["account_id"]) & (pl.col("ts") == row["ts"])
            )
            assert same["kwh"].n_unique() == 2
        elif "duplicate" in hint:  # registers: the later row repeats an earlier key
            key = r["field"]
            same = df.slice(0, int(r["row"]) - 1).filter(pl.col(key) == row[key])
            assert same.height >= 1


def test_planted_sites_show_their_signals(
    tiny: tuple[Path, Path, dict[str, object]], truth: pl.DataFrame
) -> None:
    out = tiny[0]
    readings = read_readings(out)
    tracks = read_tracks(out)
    veh = read_vehicles(out)
    permits = read_permits(out)
    checked_night = checked_jump = 0
    for t in truth.iter_rows(named=True):
        sig = set(_ids(t["signals"]))
        lon, lat = float(t["lon"]), float(t["lat"])
        for plate in _ids(t["plates"]):  # every listed truck really stops there
            x = tracks.filter(pl.col("plate") == plate)
            d = haversine_m(x["lon"].to_numpy(), x["lat"].to_numpy(), lon, lat)
            assert (d < 150).sum() >= 2, (t["truth_id"], plate)
        if t["role"] != "workshop":
            continue
        if "truck_stops" in sig or "night_truck_stops" in sig or "fuel_tanker" in sig:
            assert _ids(t["plates"]), t["truth_id"]
        for a in _ids(t["account_ids"]):
            x = readings.filter(pl.col("account_id") == a).drop_nulls("kwh")
            assert x.height > 0, a
            if not t["jump_date"]:
                continue
            jd = datetime.fromisoformat(t["jump_date"])
            pre, post = x.filter(pl.col("ts") < jd), x.filter(pl.col("ts") >= jd)
            hourly = (x["ts"].dt.hour() != 0).any()
            if t["strength"] == "strong" and "night_share" in sig and hourly:
                share = post.filter(NIGHT)["kwh"].sum() / post["kwh"].sum()
                if "flat_load" not in sig:
                    assert share > 0.5, (t["truth_id"], share)
                    checked_night += 1
            if t["strength"] == "strong" and "jump" in sig:
                assert post["kwh"].mean() > 3 * pre["kwh"].mean(), t["truth_id"]
                checked_jump += 1
    assert checked_night >= 2 and checked_jump >= 4
    # Fuel storage: a registered fuel tanker (class 3) stops there.
    fuel = veh.filter(pl.col("cargo").is_in(["3", "柴油", "汽油"]))["plate"].to_list()
    for t in truth.filter(pl.col("category") == "fuel_storage").iter_rows(named=True):
        assert set(_ids(t["plates"])) & set(fuel), t["truth_id"]
    # Gas-station look-alikes hold a fuel permit.
    fuel_holders = set(permits.filter(pl.col("kind").str.contains("成品油"))["uscc"].to_list())
    for t in truth.filter(pl.col("category") == "gas_station_tanker").iter_rows(named=True):
        assert set(_ids(t["usccs"])) <= fuel_holders


def test_plain_bundle(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    s = generate(out, seed=5, size="tiny", messy=False)
    manifest = tomllib.loads((out / "manifest.toml").read_text(encoding="utf-8"))
    assert manifest["crs"] == "wgs84" and "columns" not in manifest
    for name, src in schema.SOURCES.items():
        if name in ("power_readings", "vehicle_tracks"):
            df = pl.read_parquet(out / f"{name}.parquet")
        else:
            df = pl.read_csv(out / f"{name}.csv", infer_schema=False)
        assert set(df.columns) <= set(src.names), name
    r = pl.read_parquet(out / "power_readings.parquet")
    assert r.columns == ["account_id", "ts", "kwh"] and (r["kwh"] >= 0).all()
    assert pl.read_csv(str(s["expected_quarantine"])).height == 0
    assert s["bad_rows"] == 0


def test_committed_sample_is_small_and_complete() -> None:
    sample = ROOT / "data" / "sample"
    if not sample.exists():
        pytest.skip("no committed sample")
    size = sum(p.stat().st_size for p in sample.rglob("*") if p.is_file())
    assert size <= 8.5 * 2**20
    assert (ROOT / "data" / "sample_truth.csv").exists()
    assert (ROOT / "data" / "sample_expected_quarantine.csv").exists()
    stems = {p.name.split(".")[0] for p in sample.iterdir()}
    assert set(schema.SOURCES) <= stems


def test_never_overwrites_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ValueError, match="not a bundle"):
        generate(tmp_path, size="tiny", truth=tmp_path.parent / "t.csv")
    assert (tmp_path / "notes.txt").exists()


def test_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        generate(tmp_path / "x", size="huge")
    assert not (tmp_path / "x").exists()
