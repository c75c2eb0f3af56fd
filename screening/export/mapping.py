"""Maps for inspection teams: GeoJSON of the leads and a standalone HTML map that opens
offline and that a team can drive with.

Inspectors' machines and phones are often offline and folium loads Leaflet from a CDN, so the
page carries Leaflet itself (vendored from the npm package, BSD-2, in screening/static) and
draws the township boundaries so that the map means something without any tile server; a
base layer is added only when the settings name a tile URL ([map]: an agency's server, or
天地图 with its key). Each lead is a circle in its category's colour (the Okabe–Ito palette,
told apart with any colour vision) with its rank on it; a side list holds every lead of the
unit in rank order, those without coordinates too (无坐标, with their address); each placed
lead has navigation links for the phone apps teams use — 高德 with GCJ-02 and 百度 with BD-09
coordinates converted from WGS-84 (screening.coords).

Nothing from the data is ever parsed as HTML: names, addresses and township names travel as
JSON (with ``<`` escaped) and are put on the page as text nodes, so that an ``<img onerror>``
in a township file or a firm name is shown, not run.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl
import shapely

from screening.coords import wgs84_to_bd09, wgs84_to_gcj02
from screening.export.worklist import LINKED, linked_records, reason_names
from screening.scoring.rules import CATEGORY_ZH

PAGE = Path(__file__).resolve().parent.parent / "static"
STATIC = PAGE / "leaflet-1.9.4"
# Okabe & Ito's palette (colour-blind safe), one colour per category, and the rank's colour
COLOURS = {
    "over_permit": ("#D55E00", "#fff"),
    "unlicensed_production": ("#E69F00", "#000"),
    "no_licence": ("#0072B2", "#fff"),
    "affiliated": ("#CC79A7", "#000"),
    "idle_premises": ("#56B4E9", "#000"),
    "remote": ("#009E73", "#fff"),
    "fuel_storage": ("#F0E442", "#000"),
    "recurrence": ("#000000", "#fff"),
}
# what the campaign notice (seeds/003, 二) prescribes for each kind of finding
ACTIONS = {
    "over_permit": "核查许可范围与实际生产储存情况；"
    "超许可范围的，责令立即停产整顿，限期依法办理相关手续",
    "unlicensed_production": "核查是否从事化工生产；未经许可的，责令停止违法行为，依法查处",
    "no_licence": "核查无证无照生产经营；依法取缔，拆除生产装置，没收原料产品",
    "affiliated": "核查同一地址各主体的实际经营；对挂靠、租赁、“厂中厂”依法查处，追究出租方责任",
    "idle_premises": "进入闲置厂房、民房核查；发现非法生产储存的，依法取缔并追究产权人责任",
    "remote": "对偏僻场所、废弃养殖场、矿山宕口突击夜查；依法取缔黑窝点",
    "fuel_storage": "核查汽柴油储存设施和经营许可；"
    "无证储存经营的，责令立即停止，依法查处（填附件4）",
    "recurrence": "已查处场所恢复活动：从快从严从重处罚，涉嫌犯罪的移送司法机关",
}
NO_TILES: Mapping[str, Any] = {
    "tile_url": "",
    "tile_overlay_url": "",
    "tile_subdomains": "",
    "tile_attribution": "",
    "tile_max_zoom": 18,
}


def leads_geojson(leads: pl.DataFrame) -> dict[str, Any]:
    """A FeatureCollection of the placed leads (WGS-84, as GeoJSON requires)."""
    features = []
    for r in leads.filter(pl.col("lon").is_not_null()).sort("rank").iter_rows(named=True):
        props = {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in r.items()
            if k not in ("lon", "lat")
        }
        props["action"] = ACTIONS.get(r.get("category") or "", "")
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def townships_geojson(townships: pl.DataFrame) -> dict[str, Any]:
    geoms = shapely.from_wkt(townships["geometry"].to_numpy()) if townships.height else []
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"township": t, "oversight_unit": u},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for t, u, g in zip(
                townships["township"], townships["oversight_unit"], geoms, strict=True
            )
        ],
    }


def navigation(leads: pl.DataFrame) -> pl.DataFrame:
    """site_id and the phone apps' navigation links of each placed lead: 高德 takes GCJ-02
    (``dev=0``: no further offset), 百度 BD-09 (``coord_type=bd09ll``); the destination is
    named after the site. Android and iOS name 高德's app differently."""
    placed = leads.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    lon, lat = placed["lon"].to_numpy(), placed["lat"].to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = wgs84_to_bd09(lon, lat)
    names = (
        placed.select(
            pl.coalesce(
                pl.col("names").str.split(";").list.first(),
                pl.col("address"),
                pl.format("线索{}", pl.col("rank")),
            )
        )
        .to_series()
        .to_list()
    )
    q = [quote(str(n), safe="") for n in names]
    fmt = lambda a: [f"{v:.6f}" for v in np.asarray(a)]  # noqa: E731
    g_lon, g_lat, b_lon, b_lat = fmt(glon), fmt(glat), fmt(blon), fmt(blat)
    return pl.DataFrame(
        {
            "site_id": placed["site_id"],
            "amap": [
                f"amapuri://route/plan/?dlat={y}&dlon={x}&dname={n}&dev=0&t=0"
                for x, y, n in zip(g_lon, g_lat, q, strict=True)
            ],
            "amap_ios": [
                f"iosamap://path?sourceApplication=screening&dlat={y}&dlon={x}&dname={n}&dev=0&t=0"
                for x, y, n in zip(g_lon, g_lat, q, strict=True)
            ],
            "baidu": [
                f"baidumap://map/direction?destination=latlng:{y},{x}|name:{n}"
                "&coord_type=bd09ll&mode=driving&src=screening"
                for x, y, n in zip(b_lon, b_lat, q, strict=True)
            ],
        },
        schema={"site_id": pl.String, "amap": pl.String, "amap_ios": pl.String, "baidu": pl.String},
    )


def map_leads(leads: pl.DataFrame, names_zh: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every lead as the page shows it, in rank order, placed or not."""
    text = ["ledger_status_zh", "ledger_outcome", "names", "meter_names", *LINKED]
    leads = leads.with_columns(
        pl.col(c).cast(pl.String) if c in leads.columns else pl.lit(None, dtype=pl.String).alias(c)
        for c in text
    )
    colour = {k: v[0] for k, v in COLOURS.items()}
    ink = {k: v[1] for k, v in COLOURS.items()}
    rows = (
        leads.join(navigation(leads), on="site_id", how="left")
        .sort("rank")
        .select(
            "rank",
            "site_id",
            pl.col("score").round(1),
            pl.col("category").replace_strict(CATEGORY_ZH, default="").alias("category_zh"),
            pl.col("category").replace_strict(colour, default="#777777").alias("colour"),
            pl.col("category").replace_strict(ink, default="#fff").alias("ink"),
            pl.coalesce("names", "meter_names").str.replace_all(";", "、").alias("name"),
            "township",
            "address",
            pl.col("ledger_status_zh").fill_null("线索").alias("status"),
            pl.col("ledger_outcome").alias("outcome"),
            reason_names(names_zh).alias("reasons"),
            pl.col("evidence").fill_null("").str.split("；").alias("evidence"),
            linked_records().str.split("\n").alias("linked"),
            pl.col("category").replace_strict(ACTIONS, default="").alias("action"),
            "lon",
            "lat",
            "amap",
            "amap_ios",
            "baidu",
        )
    )
    return rows.to_dicts()


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no character of it can close the element or open
    a comment."""
    text = json.dumps(value, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html_map(
    leads: pl.DataFrame,
    townships: pl.DataFrame,
    title: str,
    names_zh: Mapping[str, str] | None = None,
    tiles: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page: Leaflet inline, boundaries, ranked markers, a side list
    of every lead, popups, navigation links, legend; a base layer only from ``tiles``."""
    tile_cfg = {k: (tiles or {}).get(k, v) for k, v in NO_TILES.items()}
    data = {
        "title": title,
        "leads": map_leads(leads, names_zh or {}),
        "townships": townships_geojson(townships),
        "legend": [[CATEGORY_ZH[k], c] for k, (c, _) in COLOURS.items()],
        "tiles": tile_cfg,
    }
    css = (STATIC / "leaflet.css").read_text(encoding="utf-8")
    js = (STATIC / "leaflet.js").read_text(encoding="utf-8")
    page_css = (PAGE / "map.css").read_text(encoding="utf-8")
    page_js = (PAGE / "map.js").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{css}</style>
<style>{page_css}</style>
</head><body><div id="wrap"><div id="side"><h2 id="title"></h2><div id="list"></div></div>
<div id="map"></div></div>
<script>{js}</script>
<script>
const DATA = {_script_json(data)};
{page_js}
</script></body></html>
"""


def write_maps(
    leads: pl.DataFrame,
    townships: pl.DataFrame,
    out_dir: Path,
    name: str,
    title: str,
    names_zh: Mapping[str, str] | None = None,
    tiles: Mapping[str, Any] | None = None,
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    geo = out_dir / f"{name}.geojson"
    geo.write_text(json.dumps(leads_geojson(leads), ensure_ascii=False), encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(html_map(leads, townships, title, names_zh, tiles), encoding="utf-8")
    return [geo, page]
