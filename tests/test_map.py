"""The offline map: GeoJSON of the leads, and an HTML page that renders in headless Chromium
with no network, one marker per placed lead over the township boundaries."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from screening.export.mapping import html_map, leads_geojson
from screening.store.warehouse import Warehouse

from .conftest import CHROMIUM, dump_dom


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from screening.pipeline import run_screening

    from .conftest import SAMPLE

    out = tmp_path_factory.mktemp("maprun")
    run_screening(SAMPLE, out)
    with Warehouse(out, read_only=True) as wh:
        return pl.read_parquet(out / "leads.parquet"), wh.table("townships")


def test_geojson_has_every_placed_lead_with_its_action(sample_run):
    leads, _ = sample_run
    geo = leads_geojson(leads)
    placed = leads.filter(pl.col("lon").is_not_null())
    assert len(geo["features"]) == placed.height
    first = geo["features"][0]
    assert first["geometry"]["coordinates"] == [placed["lon"][0], placed["lat"][0]]
    assert first["properties"]["action"] and first["properties"]["rank"] == 1
    json.dumps(geo, ensure_ascii=False)  # serialisable as is


def test_page_carries_leaflet_and_needs_no_network(sample_run):
    leads, townships = sample_run
    page = html_map(leads, townships, "测试")
    # nothing is fetched: no script or stylesheet by address, no remote url() in the CSS
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert not re.search(r"url\(['\"]?https?:", page)
    assert "L.circleMarker" in page and "Leaflet" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_page_renders_markers_in_headless_chromium(sample_run, tmp_path):
    leads, townships = sample_run
    page = tmp_path / "map.html"
    page.write_text(html_map(leads, townships, "全县线索"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    placed = leads.filter(pl.col("lon").is_not_null()).height
    assert f'data-leads="{placed}"' in dom
    # every marker and every township outline is an interactive SVG path
    assert dom.count("leaflet-interactive") >= placed + townships.height


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_a_team_can_drive_with_the_map(sample_run, tmp_path):
    """Rank numbers on the markers, a side list of every lead (those without coordinates
    marked 无坐标, with their address), navigation links for 高德 and 百度 on the placed ones."""
    leads, townships = sample_run
    unplaced = leads.filter(pl.col("lon").is_null())
    # a unit's leads with one left without coordinates, as agencies' records often are
    mine = pl.concat(
        [leads.head(12), leads.slice(12, 1).with_columns(pl.lit(None, pl.Float64).alias("lon"))]
    )
    if unplaced.height:
        mine = pl.concat([mine, unplaced.head(1)])
    page = tmp_path / "map.html"
    page.write_text(html_map(mine, townships, "测试单位"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    placed = mine.filter(pl.col("lon").is_not_null()).height
    assert f'data-leads="{placed}"' in dom and f'data-listed="{mine.height}"' in dom
    assert dom.count('class="item') == mine.height
    assert dom.count('class="nocoord">无坐标') == mine.height - placed
    assert dom.count('href="amapuri://route/plan/?dlat=') == placed
    assert dom.count('href="baidumap://map/direction?destination=latlng:') == placed
    ranks = re.findall(r"leaflet-tooltip rank[^>]*><span[^>]*>(\d+)</span>", dom)
    assert sorted(int(r) for r in ranks) == sorted(
        mine.filter(pl.col("lon").is_not_null())["rank"].to_list()
    )
    no_coords = mine.filter(pl.col("lon").is_null()).row(0, named=True)
    assert str(no_coords["address"]) in dom
