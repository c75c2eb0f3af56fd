"""Maps for inspection teams: GeoJSON of the leads and a standalone HTML map that opens
offline.

Inspectors' machines are often offline and folium loads Leaflet from a CDN, so the page
carries Leaflet itself (vendored from the npm package, BSD-2, in screening/static) and draws
the township boundaries so that the map means something without any tile server. Each lead
is a circle coloured by campaign category, with its reasons, evidence, linked records and the
action the campaign notice prescribes for its category.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import polars as pl
import shapely

from screening.scoring.rules import CATEGORY_ZH

STATIC = Path(__file__).resolve().parent.parent / "static" / "leaflet-1.9.4"
COLOURS = {
    "over_permit": "#d7301f",
    "unlicensed_production": "#fc8d59",
    "no_licence": "#b30000",
    "affiliated": "#7a0177",
    "idle_premises": "#2b8cbe",
    "remote": "#238b45",
    "fuel_storage": "#fe9929",
    "recurrence": "#000000",
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
POPUP_FIELDS = ("usccs", "account_ids", "property_ids", "plates", "case_ids", "tip_ids")


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


def _popup(props: dict[str, Any]) -> str:
    esc = html.escape
    linked = "".join(
        f"<div><b>{esc(k)}</b>: {esc(str(props[k]))}</div>" for k in POPUP_FIELDS if props.get(k)
    )
    evidence = "".join(
        f"<li>{esc(e)}</li>" for e in str(props.get("evidence") or "").split("；") if e
    )
    return (
        f"<div class='lead'><h3>#{props['rank']} {esc(str(props.get('category_zh') or ''))}"
        f" · 评分 {props['score']:.1f}</h3>"
        f"<div>{esc(str(props.get('names') or '（未登记）'))}</div>"
        f"<div>{esc(str(props.get('township') or ''))} {esc(str(props.get('address') or ''))}</div>"
        f"<div><b>理由</b>: {esc(str(props.get('reasons') or ''))}</div><ul>{evidence}</ul>"
        f"{linked}<div class='action'><b>建议措施</b>: {esc(props.get('action') or '')}</div>"
        f"<div class='id'>{esc(props['site_id'])}</div></div>"
    )


def html_map(leads: pl.DataFrame, townships: pl.DataFrame, title: str) -> str:
    """One self-contained HTML page: Leaflet inline, boundaries, leads, popups, legend."""
    points = leads_geojson(leads)
    for f in points["features"]:
        f["properties"]["popup"] = _popup(f["properties"])
        f["properties"]["colour"] = COLOURS.get(f["properties"].get("category") or "", "#555")
    legend = "".join(
        f"<div><span style='background:{c}'></span>{html.escape(CATEGORY_ZH[k])}</div>"
        for k, c in COLOURS.items()
    )
    css = (STATIC / "leaflet.css").read_text(encoding="utf-8")
    js = (STATIC / "leaflet.js").read_text(encoding="utf-8")
    data = json.dumps(
        {"leads": points, "townships": townships_geojson(townships)}, ensure_ascii=False
    ).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{css}</style>
<style>html,body,#map{{height:100%;margin:0}} .lead h3{{margin:0 0 4px}}
.lead ul{{padding-left:16px}}
.lead .id{{color:#888;font-size:11px}} .legend{{background:#fff;padding:6px;font:12px sans-serif}}
.legend span{{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}}
.town{{font:12px sans-serif;color:#444;background:none;border:none;box-shadow:none}}</style>
</head><body><div id="map"></div>
<script>{js}</script>
<script>
const DATA = {data};
const map = L.map('map', {{preferCanvas: false}});
const towns = L.geoJSON(DATA.townships, {{style: {{color: '#555', weight: 1, fillOpacity: 0.03}},
  onEachFeature: (f, l) => l.bindTooltip(f.properties.township + (f.properties.oversight_unit ?
    '（' + f.properties.oversight_unit + '）' : ''), {{permanent: true, direction: 'center',
    className: 'town'}})}}).addTo(map);
const leads = L.geoJSON(DATA.leads, {{pointToLayer: (f, ll) => L.circleMarker(ll, {{
  radius: 6 + Math.min(f.properties.score, 20) / 2, color: '#222', weight: 1,
  fillColor: f.properties.colour, fillOpacity: 0.85}}),
  onEachFeature: (f, l) => l.bindPopup(f.properties.popup, {{maxWidth: 420}})}}).addTo(map);
const bounds = leads.getLayers().length ? leads.getBounds() : towns.getBounds();
if (bounds.isValid()) {{ map.fitBounds(bounds.pad(0.1)); }}
else {{ map.setView([33.65, 117.0], 10); }}
const legend = L.control({{position: 'bottomright'}});
legend.onAdd = () => {{ const d = L.DomUtil.create('div', 'legend');
  d.innerHTML = '<b>{html.escape(title)}</b>' + `{legend}`; return d; }};
legend.addTo(map);
document.body.dataset.leads = leads.getLayers().length;
</script></body></html>
"""


def write_maps(
    leads: pl.DataFrame, townships: pl.DataFrame, out_dir: Path, name: str, title: str
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    geo = out_dir / f"{name}.geojson"
    geo.write_text(json.dumps(leads_geojson(leads), ensure_ascii=False), encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(html_map(leads, townships, title), encoding="utf-8")
    return [geo, page]
