"""Assemble the world into a bundle folder and a truth file beside it.

The order is fixed: geography, population, planted cases, background tips, ids, then the
files. Each stage draws from its own random stream (spawned from the seed), so adding a
record type later does not reshuffle every other file.
"""

from __future__ import annotations

import math
import shutil
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ..coords import from_wgs84
from . import mess
from .address import STYLES, jitter, render
from .config import SIZES, TUNE, WORKSHOP_CATEGORIES, SizePreset
from .entities import (
    World,
    make_background_tips,
    make_businesses,
    make_cases,
    make_households,
    make_idle,
    make_vehicles,
)
from .geography import PlaceAllocator, build_county, build_places, to_lonlat, to_xy
from .history import lengthen, sorted_starts
from .industries import INDUSTRIES
from .load import Calendar, daily, hourly_block, meter_round, quarter_hours
from .scenarios import plant
from .styles import STYLE_NAMES, Knobs, blanks, draw_knobs, geocode, restyle_accounts
from .tracks import make_tracks
from .writer import (
    ParquetSink,
    chinese_headers,
    dir_bytes,
    write_csv,
    write_geojson,
    write_manifest,
    write_parquet,
    write_xlsx,
)

STREAMS = (
    "geo",
    "biz",
    "households",
    "idle",
    "cases",
    "vehicles",
    "plant",
    "tips",
    "ids",
    "tables",
    "mess",
    "calendar",
    "load",
    "tracks",
)
ACCOUNT_RENAME = {"account_id": "用户户号"}  # non-standard header, declared in the manifest


def _place_need(p: SizePreset) -> dict[str, int]:
    w = {}
    tot = sum(i.weight for i in INDUSTRIES)
    for i in INDUSTRIES:
        w[i.zone] = w.get(i.zone, 0.0) + i.weight / tot
    nb = p.businesses
    ws = sum(p.workshops)
    return {
        "park": int(
            nb * w.get("park", 0) * 1.3 + p.idle_properties * 0.4 + p.sanctioned * 0.4 + ws + 60
        ),
        "chempark": int(nb * w.get("chempark", 0) * 1.5 + ws + 40),
        "town": int(nb * w.get("town", 0) * 1.2 + 40),
        "village": int(
            (
                p.households
                + nb * w.get("village", 0)
                + p.idle_properties
                + p.sanctioned
                + ws * 2
                + 100
            )
            * 1.15
        ),
        "remote": int(nb * w.get("remote", 0) * 2 + p.idle_properties * 0.5 + ws + 30),
    }


def _style_need(k: Knobs) -> dict[str, int]:
    """Places the styled look-alikes and harder workshops take (generously: neighbours,
    roads and yards too)."""
    n = sum(c for _, c in k.lookalikes) + sum(c for _, c in k.hard)
    return {
        "park": 2 * n + 40,
        "chempark": 20,
        "town": 2 * n + 40,
        "village": 4 * n + 80,
        "remote": n + 30,
    }


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def generate(
    out: Path,
    *,
    seed: int = 0,
    size: str = "small",
    messy: bool = True,
    truth: Path | None = None,
    style: str = "default",
    track_days: int | None = None,
) -> dict[str, object]:
    """Write a synthetic county bundle to ``out`` and its ground truth to ``truth``.

    The truth (planted workshops and look-alikes, with the ids of the records tied to each)
    must live outside the bundle, so that nothing the pipeline reads gives a site away.
    Same seed, size and style give byte-identical files. ``style`` (see styles.py) draws
    this world's habits, look-alikes and harder workshops; ``default`` is the classic
    county, unchanged. ``track_days`` keeps that many days of GPS instead of the size's
    few (history.py: a world to replay night after night; the truth then has
    ``start_date``); everything else is drawn as without it.
    """
    t_start = time.perf_counter()
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}")
    if style not in STYLE_NAMES:
        raise ValueError(f"unknown style {style!r}: expected one of {', '.join(STYLE_NAMES)}")
    knobs = draw_knobs(style, seed, SIZES[size])
    preset = knobs.preset or SIZES[size]
    out = Path(out)
    truth = Path(truth) if truth is not None else out.parent / f"{out.name}_truth.csv"
    if _inside(truth, out):
        raise ValueError(
            f"the truth file {truth} must not be inside the bundle {out}: "
            "the bundle would then contain its own answers"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / "manifest.toml").exists():
        raise ValueError(
            f"{out} is a non-empty folder that is not a bundle: refusing to overwrite it"
        )
    seqs = np.random.SeedSequence([int(seed), list(SIZES).index(size)]).spawn(len(STREAMS))
    rng = {name: np.random.default_rng(s) for name, s in zip(STREAMS, seqs, strict=True)}

    need = _place_need(preset)
    if knobs.styled:
        need = {z: n + _style_need(knobs)[z] for z, n in need.items()}
    county = build_county(rng["geo"], preset)
    build_places(rng["geo"], county, need)
    world = World(preset, county, PlaceAllocator(county.places), knobs=knobs)
    if knobs.styled:
        style_seq = np.random.SeedSequence([int(seed), list(SIZES).index(size), 104729])
        world.style_rng = np.random.default_rng(style_seq)
    world.calendar = Calendar(rng["calendar"], preset)
    make_businesses(rng["biz"], world)
    make_households(rng["households"], world)
    ws = dict(
        zip(
            WORKSHOP_CATEGORIES,
            preset.workshops,
            strict=True,
        )
    )
    make_idle(
        rng["idle"], world, max(0, preset.idle_properties - ws["idle_premises"] - ws["remote"])
    )
    make_cases(rng["cases"], world, max(0, preset.sanctioned - ws["recurrence"]))
    make_vehicles(rng["vehicles"], world)
    plant(rng["plant"], world)
    make_background_tips(rng["tips"], world, max(0, preset.tips - world.tips.height))
    if track_days is not None:  # its own stream: the world without it stays byte for byte
        history_seq = np.random.SeedSequence([int(seed), list(SIZES).index(size), 7919])
        lengthen(np.random.default_rng(history_seq), world, track_days)
    if knobs.styled:
        restyle_accounts(world.style_rng, world)
    ids = _assign_ids(rng["ids"], world)

    if out.exists():
        shutil.rmtree(out)  # checked below before any work: only an earlier bundle
    out.mkdir(parents=True)
    bad = mess.BadRows()
    crs = "gcj02" if messy else "wgs84"
    rows = _write_tables(rng["tables"], rng["mess"], world, ids, out, messy, crs, bad)
    rows["power_readings"] = _write_readings(rng, world, out, messy, bad)
    rows["vehicle_tracks"] = _write_tracks(rng["tracks"], rng["mess"], world, out, messy, crs, bad)
    _write_townships(county, out, crs)
    write_manifest(
        out / "manifest.toml",
        crs,
        {"power_accounts": {v: k for k, v in ACCOUNT_RENAME.items()}} if messy else {},
    )

    truth.parent.mkdir(parents=True, exist_ok=True)
    tdf = _truth_frame(world, ids)
    if track_days is not None:
        tdf = tdf.with_columns(start_date=pl.Series(sorted_starts(world, tdf)))
    tdf.write_csv(truth)
    # sample_truth.csv -> sample_expected_quarantine.csv; other names keep their stem.
    expected = truth.with_name(f"{truth.stem.removesuffix('_truth')}_expected_quarantine.csv")
    bad.frame().write_csv(expected)
    roles = tdf["role"].to_list()
    return {
        "out": str(out),
        "truth": str(truth),
        "expected_quarantine": str(expected),
        "size": size,
        "seed": seed,
        "style": style,
        "messy": messy,
        "rows": rows,
        "workshops": roles.count("workshop"),
        "lookalikes": roles.count("lookalike"),
        "bad_rows": len(bad.rows),
        "seconds": round(time.perf_counter() - t_start, 2),
        "bytes": dir_bytes(out),
    }


# ---------------------------------------------------------------------------------------


def _assign_ids(rng: np.random.Generator, w: World) -> dict[str, dict[int, str]]:
    """Ids are given last, after sorting by date or at random, so that neither their order
    nor their numbers tell planted records from the rest."""
    idle = w.idle.with_columns(_r=pl.Series(rng.permutation(w.idle.height))).sort("_r")
    prop = {
        k: f"XZ{3413020000 + 17 * i + int(rng.integers(0, 17))}"
        for i, k in enumerate(idle["key"].to_list())
    }
    cases = w.cases.with_columns(_r=pl.Series(rng.random(w.cases.height))).sort("closed_on", "_r")
    case: dict[int, str] = {}
    seq: dict[int, int] = {}
    for k, d in zip(cases["key"].to_list(), cases["closed_on"].to_list(), strict=True):
        seq[d.year] = seq.get(d.year, 0) + int(rng.integers(1, 6))
        case[k] = f"埇应急罚〔{d.year}〕{seq[d.year]}号"
    tips = w.tips.with_columns(_r=pl.Series(rng.random(w.tips.height))).sort("received", "_r")
    tip: dict[int, str] = {}
    per_day: dict[str, int] = {}
    for k, d in zip(tips["key"].to_list(), tips["received"].to_list(), strict=True):
        day = d.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        tip[k] = f"12345-{day}-{per_day[day]:03d}"
    return {"prop": prop, "case": case, "tip": tip}


def _coords(
    rng: np.random.Generator,
    lon: np.ndarray,
    lat: np.ndarray,
    has: np.ndarray,
    crs: str,
    missing: float = 0.0,
) -> tuple[pl.Series, pl.Series]:
    jl, jt = jitter(rng, lon, lat, missing)
    jl = np.where(has, jl, np.nan)
    jt = np.where(has, jt, np.nan)
    ol, ot = from_wgs84(jl, jt, crs)
    return (
        pl.Series("lon", np.round(ol, 6)).fill_nan(None),
        pl.Series("lat", np.round(ot, 6)).fill_nan(None),
    )


def _pin(w: World, df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A record's true position, or in a styled world where its agency geocoded it."""
    lon, lat = df["lon"].to_numpy(), df["lat"].to_numpy()
    if not w.knobs.styled:
        return lon, lat
    pid = df["place_id"].fill_null(-1).to_numpy()
    return geocode(w.style_rng, w.knobs, w.county, pid, lon, lat)


def _with_place(df: pl.DataFrame, places: pl.DataFrame) -> pl.DataFrame:
    return df.join(
        places.select("place_id", "core", "lon", "lat", "township"),
        on="place_id",
        how="left",
        maintain_order="left",
    )


def _date_out(col: pl.Series, rng: np.random.Generator, messy: bool) -> pl.Series:
    return mess.mixed_dates(col, rng) if messy else col.dt.strftime("%Y-%m-%d")


def _write_tables(
    rng: np.random.Generator,
    mrng: np.random.Generator,
    w: World,
    ids: dict[str, dict[int, str]],
    out: Path,
    messy: bool,
    crs: str,
    bad: mess.BadRows,
) -> dict[str, int]:
    places = w.county.places
    rows: dict[str, int] = {}

    # registrations -------------------------------------------------------------------
    b = _with_place(w.businesses, places).sort("uscc")
    reg = pl.DataFrame(
        {
            "uscc": b["uscc"],
            "name": b["name"],
            "address": render(b["core"] + b["suffix"], rng, STYLES["registrations"], messy),
        }
    )
    lon, lat = _coords(rng, *_pin(w, b), b["coords"].to_numpy(), crs)
    tw = b["township"].to_numpy().astype(object)
    tw[rng.random(b.height) < 0.15] = None
    reg = reg.with_columns(
        lon,
        lat,
        township=pl.Series(tw.tolist(), dtype=pl.String),
        industry_code=b["industry_code"],
        scope=b["scope"],
        status=b["status"],
        established=_date_out(b["established"], mrng, messy),
        legal_rep=b["legal_rep"],
        protected=b["protected"],
    )
    if w.knobs.styled:
        reg = blanks(w.style_rng, w.knobs, "registrations", reg)
    if messy:
        reg = reg.with_columns(
            industry_code=mess.strip_sections(reg["industry_code"], mrng, TUNE.messy_no_section),
            status=mess.spell(reg["status"], mess.STATUS_WORDS, mrng, keep_canonical=0.4),
        )
        reg = bad.apply(
            reg,
            "registrations",
            "registrations.csv",
            mrng,
            edits=[
                ({"name": None}, "name", "required field empty"),
                ({"name": None}, "name", "required field empty"),
                ({"uscc": _bad_check}, "uscc", "warning: check digit"),
                ({"uscc": _bad_check}, "uscc", "warning: check digit"),
                ({"uscc": _bad_check}, "uscc", "warning: check digit"),
                ({"established": "2019年13月5日"}, "established", "warning: unparseable date"),
                (
                    {"lon": 0.0, "lat": 0.0},
                    "lon",
                    "warning: coordinates outside China (optional, dropped)",
                ),
            ],
            exact_dupes=2,
        )
        write_csv(
            chinese_headers(reg, "registrations"), out / "registrations.csv", encoding="gb18030"
        )
    else:
        reg = reg.drop("protected")
        write_csv(reg, out / "registrations.csv")
    rows["registrations"] = reg.height

    # permits -------------------------------------------------------------------------
    p = _with_place(w.permits, places).sort("permit_id")
    has = rng.random(p.height) >= w.knobs.permit_no_coords
    lon, lat = _coords(rng, *_pin(w, p), has, crs)
    per = pl.DataFrame(
        {
            "permit_id": p["permit_id"],
            "uscc": p["uscc"],
            "kind": mess.spell(p["kind"], mess.PERMIT_WORDS, mrng) if messy else p["kind"],
            "scope": p["scope"],
            "valid_from": _date_out(p["valid_from"], mrng, messy),
            "valid_to": _date_out(p["valid_to"], mrng, messy),
            "address": render(p["core"], rng, STYLES["permits"], messy),
        }
    ).with_columns(lon, lat, protected=p["protected"])
    if messy:
        per = bad.apply(
            per,
            "permits",
            "permits.csv",
            mrng,
            edits=[({"valid_to": "2022/02/30"}, "valid_to", "warning: unparseable date")],
            inserts=[
                ({"permit_id": None}, "permit_id", "warning: id empty (made from file and row)")
            ],
        )
        write_csv(chinese_headers(per, "permits"), out / "permits.csv", bom=True)
    else:
        write_csv(per.drop("protected"), out / "permits.csv")
    rows["permits"] = per.height

    # power accounts ------------------------------------------------------------------
    a = _with_place(w.accounts, places).sort("account_id")
    lon, lat = _coords(rng, *_pin(w, a), a["coords"].to_numpy(), crs)
    acc = pl.DataFrame(
        {
            "account_id": a["account_id"],
            "name": a["name"],
            "address": render(a["core"] + a["suffix"], rng, STYLES["power_accounts"], messy),
        }
    ).with_columns(
        lon,
        lat,
        tariff=mess.spell(a["tariff"], mess.TARIFF_WORDS, mrng) if messy else a["tariff"],
        capacity_kva=a["capacity_kva"],
        phase=mess.spell(a["phase"], mess.PHASE_WORDS, mrng, 0.3) if messy else a["phase"],
        uscc=a["uscc"],
        opened=_date_out(a["opened"], mrng, messy),
        protected=a["protected"],
    )
    if w.knobs.styled:
        acc = blanks(w.style_rng, w.knobs, "power_accounts", acc)
    if messy:
        acc = bad.apply(
            acc,
            "power_accounts",
            "power_accounts.csv.gz",
            mrng,
            edits=[
                (
                    {"lon": lambda r: r["lat"], "lat": lambda r: r["lon"]},
                    "lon",
                    "warning: lat/lon swapped",
                )
            ],
            inserts=[({"account_id": None}, "account_id", "required field empty")],
            key_dupes=[
                (
                    {
                        "name": lambda r: (r["name"] or "") + "（过户）",
                        "capacity_kva": lambda r: (r["capacity_kva"] or 0) * 2,
                    },
                    "account_id",
                    "duplicate key with different content",
                ),
                (
                    {"tariff": "一般工商业", "opened": "2021-07-01"},
                    "account_id",
                    "duplicate key with different content",
                ),
            ],
        )
        write_csv(
            chinese_headers(acc, "power_accounts", ACCOUNT_RENAME),
            out / "power_accounts.csv.gz",
            gz=True,
        )
    else:
        write_csv(acc.drop("protected"), out / "power_accounts.csv")
    rows["power_accounts"] = acc.height

    # vehicles ------------------------------------------------------------------------
    v = w.vehicles.filter(pl.col("registered")).sort("plate")
    veh = v.select("plate", "carrier", "cargo", "capacity_t")
    if messy:
        veh = bad.apply(
            veh,
            "vehicles",
            "vehicles.csv",
            mrng,
            key_dupes=[
                (
                    {"carrier": "宿州市顺达物流有限公司", "capacity_t": 8.0},
                    "plate",
                    "duplicate key with different content",
                )
            ],
        )
        veh = chinese_headers(veh, "vehicles")
    write_csv(veh, out / "vehicles.csv")
    rows["vehicles"] = veh.height

    # idle properties -----------------------------------------------------------------
    i = (
        _with_place(w.idle, places)
        .with_columns(property_id=pl.col("key").replace_strict(ids["prop"]))
        .sort("property_id")
    )
    lon, lat = _coords(rng, *_pin(w, i), rng.random(i.height) >= w.knobs.idle_no_coords, crs)
    geom = _polygons(
        rng,
        i["lon"].to_numpy(),
        i["lat"].to_numpy(),
        i["polygon"].to_numpy(),
        i["kind"].to_list(),
        crs,
    )
    idle = pl.DataFrame(
        {
            "property_id": i["property_id"],
            "kind": mess.spell(i["kind"], mess.IDLE_WORDS, mrng) if messy else i["kind"],
            "address": render(i["core"], rng, STYLES["idle_properties"], messy),
        }
    ).with_columns(
        lon,
        lat,
        owner=i["owner"],
        since=i["since"],
        geometry=pl.Series(geom, dtype=pl.String),
        protected=i["protected"],
    )
    if messy:
        idle = bad.apply(
            idle,
            "idle_properties",
            "idle_properties.xlsx",
            mrng,
            inserts=[
                ({"property_id": None}, "property_id", "warning: id empty (made from file and row)")
            ],
        )
        write_xlsx(
            chinese_headers(idle, "idle_properties"),
            out / "idle_properties.xlsx",
            date_cols=("闲置时间",),
        )
    else:
        write_csv(idle.drop("protected"), out / "idle_properties.csv")
    rows["idle_properties"] = idle.height

    # sanctioned sites ----------------------------------------------------------------
    c = (
        _with_place(w.cases, places)
        .with_columns(case_id=pl.col("key").replace_strict(ids["case"]))
        .sort("closed_on", "case_id")
    )
    lon, lat = _coords(rng, *_pin(w, c), c["coords"].to_numpy(), crs)
    cas = pl.DataFrame(
        {
            "case_id": c["case_id"],
            "name": c["name"],
            "address": render(c["core"], rng, STYLES["sanctioned_sites"], messy),
        }
    ).with_columns(
        lon,
        lat,
        closed_on=_date_out(c["closed_on"], mrng, messy),
        measures=c["measures"],
        protected=c["protected"],
    )
    if messy:
        cas = bad.apply(
            cas,
            "sanctioned_sites",
            "sanctioned_sites.csv",
            mrng,
            edits=[({"closed_on": "2020年13月"}, "closed_on", "warning: unparseable date")],
        )
    else:
        cas = cas.drop("protected")
    write_csv(cas, out / "sanctioned_sites.csv")
    rows["sanctioned_sites"] = cas.height

    # tips ----------------------------------------------------------------------------
    t = (
        _with_place(w.tips, places)
        .with_columns(tip_id=pl.col("key").replace_strict(ids["tip"]))
        .sort("received", "tip_id")
    )
    has_pl = t["place_id"].is_not_null().to_numpy()
    core = t["core"].fill_null("")
    addr = render(core, rng, STYLES["tips"], messy)
    short = (
        pl.DataFrame({"c": core, "tw": t["township"].fill_null("")})
        .select(pl.col("c").str.strip_prefix(pl.col("tw")))
        .to_series()
    )
    text = (
        pl.DataFrame({"t": t["text"], "s": short})
        .select(pl.col("t").str.replace("{a}", pl.col("s"), literal=True))
        .to_series()
    )
    lon, lat = _coords(
        rng,
        *_pin(w, t.with_columns(pl.col("lon", "lat").fill_null(0))),
        (t["coords"] & pl.Series(has_pl)).to_numpy(),
        crs,
    )
    tip = pl.DataFrame(
        {
            "tip_id": t["tip_id"],
            "received": _date_out(t["received"], mrng, messy),
            "text": text,
            "address": pl.DataFrame({"a": addr, "h": t["address"], "v": t["area"]})
            .select(pl.when(pl.col("h")).then(pl.col("a")).otherwise(pl.col("v")))
            .to_series(),
        }
    ).with_columns(lon, lat, protected=t["protected"])
    if messy:
        tip = bad.apply(
            tip,
            "tips",
            "tips.csv",
            mrng,
            edits=[({"received": "去年冬天"}, "received", "warning: unparseable date")],
        )
    else:
        tip = tip.drop("protected")
    write_csv(tip, out / "tips.csv")
    rows["tips"] = tip.height
    return rows


def _bad_check(row: dict[str, object]) -> str:
    from ..ingest.uscc import ALPHABET

    code = str(row["uscc"])
    last = ALPHABET[(ALPHABET.index(code[-1]) + 7) % len(ALPHABET)]
    return code[:-1] + last


def _polygons(
    rng: np.random.Generator,
    lon: np.ndarray,
    lat: np.ndarray,
    has: np.ndarray,
    kinds: list[str],
    crs: str,
) -> list[str | None]:
    """WKT rectangles around the premises (farms and quarries are bigger than sheds)."""
    n = lon.size
    x, y = to_xy(lon, lat)
    big = np.array([k in ("abandoned_farm", "quarry") for k in kinds])
    a = np.where(big, rng.uniform(80, 200, n), rng.uniform(25, 90, n)) / 2
    b = np.where(big, rng.uniform(60, 150, n), rng.uniform(20, 60, n)) / 2
    th = rng.uniform(0, np.pi, n)
    cx = np.array([-1, 1, 1, -1, -1])
    cy = np.array([-1, -1, 1, 1, -1])
    ca, sa = np.cos(th)[:, None], np.sin(th)[:, None]
    vx = x[:, None] + (a[:, None] * cx) * ca - (b[:, None] * cy) * sa
    vy = y[:, None] + (a[:, None] * cx) * sa + (b[:, None] * cy) * ca
    vl, vt = to_lonlat(vx, vy)
    ol, ot = from_wgs84(vl, vt, crs)
    out: list[str | None] = []
    for k in range(n):
        if not has[k]:
            out.append(None)
            continue
        pts = ", ".join(f"{ol[k, j]:.6f} {ot[k, j]:.6f}" for j in range(5))
        out.append(f"POLYGON (({pts}))")
    return out


def _write_townships(county: object, out: Path, crs: str) -> None:
    feats = []
    for t in county.townships:  # type: ignore[attr-defined]
        xy = np.array(t.polygon.exterior.coords)
        lo, la = to_lonlat(xy[:, 0], xy[:, 1])
        lo, la = from_wgs84(lo, la, crs)
        ring = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lo, la, strict=True)]
        feats.append(
            {
                "type": "Feature",
                "properties": {"township": t.name, "oversight_unit": t.oversight_unit},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    write_geojson(feats, out / "townships.geojson")


# ---------------------------------------------------------------------------------------
# Readings


def _epoch_us(d: object) -> int:
    from datetime import date as _date
    from datetime import datetime

    assert isinstance(d, _date)
    return int((datetime(d.year, d.month, d.day) - datetime(1970, 1, 1)).total_seconds()) * 10**6


def _long(ids: pl.Series, m: np.ndarray, start_us: int, step_us: int) -> pl.DataFrame:
    n, k = m.shape
    flat = m.ravel()
    ok = ~np.isnan(flat)
    idx = np.repeat(np.arange(n), k)[ok]
    ts = start_us + np.tile(np.arange(k, dtype=np.int64) * step_us, n)[ok]
    return pl.DataFrame(
        {
            "account_id": ids.gather(idx),
            "ts": pl.Series(ts).cast(pl.Datetime("us")),
            "kwh": meter_round(flat[ok]),
        }
    )


def _wide(
    ids: pl.Series, m: np.ndarray, start: object, per_day: int, prefix: str, date_fmt: str
) -> pl.DataFrame:
    """One row per account and day, as grid exports lay out daily load curves."""
    n = m.shape[0]
    days = m.shape[1] // per_day
    cube = m.reshape(n * days, per_day)
    ok = ~np.isnan(cube).any(axis=1)
    acc = ids.gather(np.repeat(np.arange(n), days)[ok])
    dates = pl.Series([start + timedelta(days=d) for d in range(days)] * n).filter(  # type: ignore[operator]
        pl.Series(ok)
    )
    cols = {
        f"{prefix}{j + (1 if prefix == 'p' else 0):02d}": pl.Series(meter_round(cube[ok, j])).cast(
            pl.String
        )
        for j in range(per_day)
    }
    return pl.DataFrame({"account_id": acc, "date": dates.dt.strftime(date_fmt), **cols})


def _write_readings(
    rngs: dict[str, np.random.Generator], w: World, out: Path, messy: bool, bad: mess.BadRows
) -> int:
    preset = w.preset
    cal = w.calendar
    acc = w.accounts.sort("account_id")
    hourly = acc.filter(pl.col("layout") == "hourly")
    dly = acc.filter(pl.col("layout") == "daily")
    start_us = _epoch_us(preset.start)
    load_seq = np.random.SeedSequence(int(rngs["load"].integers(2**63)))
    mrng = rngs["mess"]
    total = 0
    groups: list[tuple[str, pl.DataFrame]]
    if messy:
        p96 = (
            hourly.filter((pl.col("tariff") == "industrial") & ~pl.col("protected"))
            .sort("level", "account_id", descending=[True, False])
            .head(preset.p96_accounts)
        )
        rest = hourly.filter(~pl.col("account_id").is_in(p96["account_id"].implode()))
        pick = np.sort(
            mrng.choice(
                rest.height, size=min(preset.wide_hourly_accounts, rest.height // 4), replace=False
            )
        )
        wide = rest[pick]
        long = rest.filter(~pl.col("account_id").is_in(wide["account_id"].implode()))
        groups = [("long", long), ("wide", wide), ("p96", p96), ("daily", dly)]
        folder = out / "power_readings"
        folder.mkdir()
    else:
        groups = [("long", hourly), ("daily", dly)]
        folder = out
    sinks: dict[str, ParquetSink] = {}
    for g, frame in groups:
        n_chunks = max(1, math.ceil(frame.height / preset.chunk_accounts))
        seqs = load_seq.spawn(n_chunks)
        wide_parts: list[pl.DataFrame] = []
        for ci in range(n_chunks):
            chunk = frame.slice(ci * preset.chunk_accounts, preset.chunk_accounts)
            if chunk.height == 0:
                continue
            crng = np.random.default_rng(seqs[ci])
            extra = None
            if w.account_extra is not None:
                extra = chunk.select("account_id").join(
                    w.account_extra, on="account_id", how="left", maintain_order="left"
                )
            m = hourly_block(crng, cal, chunk, extra, w.knobs.tune)
            ids = chunk["account_id"]
            prot = chunk["protected"]
            if g == "long":
                df = _long(ids, m, start_us, 3600 * 10**6)
            elif g == "daily":
                df = _long(ids, daily(m), start_us, 86_400 * 10**6)
            elif g == "wide":
                wide_parts.append(
                    _wide(ids, m, preset.start, 24, "h", "%Y/%-m/%-d").join(
                        pl.DataFrame({"account_id": ids, "protected": prot}),
                        on="account_id",
                        how="left",
                        maintain_order="left",
                    )
                )
                continue
            else:
                wide_parts.append(
                    _wide(ids, quarter_hours(crng, m), preset.start, 96, "p", "%Y-%m-%d").join(
                        pl.DataFrame({"account_id": ids, "protected": prot}),
                        on="account_id",
                        how="left",
                        maintain_order="left",
                    )
                )
                continue
            if messy and ci == 0 and g in ("long", "daily"):
                df = df.join(
                    pl.DataFrame({"account_id": ids, "protected": prot}),
                    on="account_id",
                    how="left",
                    maintain_order="left",
                )
                df = _bad_readings(bad, df, g, 1, mrng)
            total += df.height
            _sink(sinks, folder, g, messy, df).write(df)
        if wide_parts:
            df = pl.concat(wide_parts)
            if g == "wide":
                df = bad.apply(
                    df,
                    "power_readings",
                    "power_readings/wide_hourly.csv",
                    mrng,
                    edits=[
                        ({"h13": "--"}, "h13", "non-numeric kWh"),
                        ({"h03": "-3.2"}, "h03", "negative kWh"),
                        ({"h20": "10000000"}, "h20", "absurd kWh"),
                        ({"date": "2021/8/32"}, "date", "unparseable date"),
                    ],
                )
                df = df.rename({"account_id": "户号", "date": "日期"})
                write_csv(df, folder / "wide_hourly.csv")
            else:
                df = bad.apply(
                    df,
                    "power_readings",
                    "power_readings/quarter_hourly.csv.gz",
                    mrng,
                    edits=[
                        ({"p45": "-12.5"}, "p45", "negative kWh"),
                        ({"p12": "10000000"}, "p12", "absurd kWh"),
                    ],
                )
                write_csv(df, folder / "quarter_hourly.csv.gz", gz=True)
            total += df.height
    for sk in sinks.values():
        sk.close()
    return total


def _sink(
    sinks: dict[str, ParquetSink], folder: Path, g: str, messy: bool, df: pl.DataFrame
) -> ParquetSink:
    """One Parquet file per layout; long hourly is split every ~30 M rows so that a large
    county's readings stay in files a laptop can open."""
    if not messy:
        key = "power_readings.parquet"
    elif g == "daily":
        key = "daily.parquet"
    else:
        hourly = sorted(k for k in sinks if k.startswith("hourly_part"))
        key = hourly[-1] if hourly else "hourly_part01.parquet"
        if key in sinks and sinks[key].rows > 30_000_000:
            key = f"hourly_part{len(hourly) + 1:02d}.parquet"
    if key not in sinks:
        sinks[key] = ParquetSink(folder / key, df.to_arrow().schema)
    return sinks[key]


def _bad_readings(
    bad: mess.BadRows, df: pl.DataFrame, g: str, part: int, rng: np.random.Generator
) -> pl.DataFrame:
    if g == "daily":
        return bad.apply_head(
            df,
            "power_readings",
            "power_readings/daily.parquet",
            rng,
            edits=[({"kwh": -4.2}, "kwh", "negative kWh")],
            key_dupes=[
                (
                    {"kwh": lambda r: round(r["kwh"] * 1.5 + 3, 2)},
                    "kwh",
                    "conflicting duplicate reading",
                )
            ],
            exact_dupes=2,
            both=True,
        )
    file = f"power_readings/hourly_part{part:02d}.parquet"
    return bad.apply_head(
        df,
        "power_readings",
        file,
        rng,
        edits=[
            ({"kwh": -5.0}, "kwh", "negative kWh"),
            ({"kwh": -0.37}, "kwh", "negative kWh"),
            ({"kwh": 1.0e7}, "kwh", "absurd kWh"),
            ({"kwh": 2.5e7}, "kwh", "absurd kWh"),
        ],
        key_dupes=[
            ({"kwh": lambda r: round(r["kwh"] + 7.5, 2)}, "kwh", "conflicting duplicate reading"),
            ({"kwh": lambda r: round(r["kwh"] * 3 + 1, 2)}, "kwh", "conflicting duplicate reading"),
        ],
        exact_dupes=3,
        both=True,
    )


# ---------------------------------------------------------------------------------------
# Tracks


def _write_tracks(
    rng: np.random.Generator,
    mrng: np.random.Generator,
    w: World,
    out: Path,
    messy: bool,
    crs: str,
    bad: mess.BadRows,
) -> int:
    df = make_tracks(rng, w)
    _confirm_plates(w, df)
    if not messy:
        write_parquet(df, out / "vehicle_tracks.parquet")
        return df.height
    lon, lat = from_wgs84(df["lon"].to_numpy(), df["lat"].to_numpy(), crs)
    df = df.with_columns(lon=pl.Series(np.round(lon, 6)), lat=pl.Series(np.round(lat, 6)))
    folder = out / "vehicle_tracks"
    folder.mkdir()
    df = df.with_columns(day=pl.col("ts").dt.date())
    total = 0
    for k, (day, part) in enumerate(
        df.partition_by("day", as_dict=True, maintain_order=True).items()
    ):
        part = part.drop("day")
        # Points reach the platform in per-truck batches of about ten minutes, batches
        # arriving late and interleaved: rows are out of order, a few sent twice.
        secs = (part["ts"].dt.epoch("s") // 600).to_numpy()
        plate_i = part["plate"].rank("dense").to_numpy()
        arrive = secs * 600 + 600 + mrng.uniform(0, 1500, size=part.height)
        batch = pl.DataFrame({"b": plate_i * 10**7 + secs})
        first_arrive = (
            pl.DataFrame({"b": batch["b"], "a": arrive})
            .group_by("b", maintain_order=True)
            .agg(pl.col("a").min())
        )
        arr = batch.join(first_arrive, on="b", how="left", maintain_order="left")["a"]
        part = part.with_columns(_a=arr, _t=part["ts"]).sort("_a", "plate", "_t").drop("_a", "_t")
        dups = int(part.height * TUNE.gps_dup_rate)
        edits: dict[str, object] = {}
        if k == 0:
            edits = {
                "inserts": [
                    ({"lon": 0.0, "lat": 0.0}, "lon", "coordinates outside China"),
                    (
                        {"lon": lambda r: r["lat"], "lat": lambda r: r["lon"]},
                        "lon",
                        "warning: lat/lon swapped",
                    ),
                ]
            }
        fname = f"{day[0].isoformat()}.parquet"
        part = bad.apply_head(
            part,
            "vehicle_tracks",
            f"vehicle_tracks/{fname}",
            mrng,
            head=max(5000, dups * 3),
            exact_dupes=dups,
            **edits,
        )
        part = chinese_headers(part, "vehicle_tracks")
        write_parquet(part, folder / fname)
        total += part.height
    return total


# ---------------------------------------------------------------------------------------
# Truth


def _confirm_plates(w: World, tracks: pl.DataFrame) -> None:
    """Keep in the truth only plates whose points really come near the site: a depot truck
    with its ignition off all window long leaves nothing to find."""
    from ..coords import haversine_m

    wanted = sorted({p for t in w.truth for p in t["plates"]})  # type: ignore[attr-defined]
    by_plate = tracks.filter(pl.col("plate").is_in(wanted)).partition_by(
        "plate", as_dict=True, maintain_order=True
    )
    empty = tracks.clear()
    for t in w.truth:
        keep = []
        for p in t["plates"]:  # type: ignore[attr-defined]
            x = by_plate.get((p,), empty)
            d = haversine_m(x["lon"].to_numpy(), x["lat"].to_numpy(), t["lon"], t["lat"])
            if (d < 150).sum() >= 2:
                keep.append(p)
        t["plates"] = keep


def _truth_frame(w: World, ids: dict[str, dict[int, str]]) -> pl.DataFrame:
    rows = []
    for t in w.truth:
        rows.append(
            {
                "truth_id": t["truth_id"],
                "role": t["role"],
                "category": t["category"],
                "strength": t["strength"],
                "lon": round(float(t["lon"]), 6),  # type: ignore[arg-type]
                "lat": round(float(t["lat"]), 6),  # type: ignore[arg-type]
                "township": t["township"],
                "address": t["address"],
                "usccs": ";".join(t["usccs"]),  # type: ignore[arg-type]
                "account_ids": ";".join(t["account_ids"]),  # type: ignore[arg-type]
                "property_ids": ";".join(ids["prop"][k] for k in t["prop_keys"]),  # type: ignore[attr-defined]
                "plates": ";".join(t["plates"]),  # type: ignore[arg-type]
                "case_ids": ";".join(ids["case"][k] for k in t["case_keys"]),  # type: ignore[attr-defined]
                "tip_ids": ";".join(ids["tip"][k] for k in t["tip_keys"]),  # type: ignore[attr-defined]
                "signals": ";".join(t["signals"]),  # type: ignore[arg-type]
                "jump_date": t["jump_date"],
                "description": t["description"],
            }
        )
        if w.knobs.styled:  # the variant: a look-alike's kind, a harder workshop's hiding
            rows[-1]["kind"] = t["kind"]
    return pl.DataFrame(rows, orient="row").sort("truth_id")


__all__ = ["generate"]
