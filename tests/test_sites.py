"""Tying records to places, on small frames whose places are known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from screening.settings import load_config
from screening.sites import assign_townships, link, records

CFG = load_config()["sites"]
LAT_M = 1 / 110_574
LON_M = 1 / (111_320 * np.cos(np.radians(33.6)))


def _at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    return 117.0 + east_m * LON_M, 33.6 + north_m * LAT_M


def _tables() -> dict[str, pl.DataFrame]:
    gate = "安徽省宿州市埇桥区桃园镇工业园区纬二路18号"
    regs = pl.DataFrame(
        {
            "uscc": ["91350100M000100Y43", "913413020000000001", None, None],
            "name": ["宿州市甲新材料科技有限公司", "宿州市乙化工有限公司", "张记面馆", "李记超市"],
            "address": [gate, "桃园镇工业园纬二路18#", "汴河路118号", "汴河路120号"],
            "lon": [_at(0)[0], None, _at(2000)[0], _at(2020)[0]],
            "lat": [_at(0)[1], None, _at(2000)[1], _at(2020)[1]],
            "township": ["桃园镇", None, None, None],
        }
    )
    accounts = pl.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "name": ["甲新材料科技", "王五", "宿州市丙生物科技有限公司"],
            "address": ["埇桥区桃园镇工业园区纬二路十八号", "曹村镇老砖厂", "大店镇某村"],
            "lon": [_at(60, 40)[0], _at(5000, 10)[0], None],
            "lat": [_at(60, 40)[1], _at(5000, 10)[1], None],
        }
    )
    regs2 = pl.DataFrame(
        {
            "uscc": ["913413020000000002"],
            "name": ["宿州市丙生物科技有限公司"],
            "address": ["大店镇某村"],
            "lon": [None],
            "lat": [None],
            "township": [None],
        },
        schema_overrides={"lon": pl.Float64, "lat": pl.Float64},
    )
    poly = "POLYGON(({0} {1},{2} {1},{2} {3},{0} {3},{0} {1}))".format(
        *_at(4900, -100), *_at(5100, 100)
    )
    props = pl.DataFrame(
        {
            "property_id": ["XZ-1"],
            "owner": ["王五"],
            "address": ["曹村镇老砖厂"],
            "lon": [None],
            "lat": [None],
            "geometry": [poly],
        },
        schema_overrides={"lon": pl.Float64, "lat": pl.Float64},
    )
    props = props.with_columns(pl.lit(_at(5000)[0]).alias("lon"), pl.lit(_at(5000)[1]).alias("lat"))
    return {
        "registrations": pl.concat([regs, regs2], how="vertical_relaxed"),
        "power_accounts": accounts,
        "idle_properties": props,
    }


def _site_of(links: pl.DataFrame, record_id: str) -> str:
    return links.filter(pl.col("record_id") == record_id)["site_id"].item()


def test_address_written_three_ways_is_one_site():
    links, _ = link(records(_tables()), CFG)
    s = _site_of(links, "91350100M000100Y43")
    assert _site_of(links, "913413020000000001") == s  # no position: by address (厂中厂)
    assert _site_of(links, "A1") == s  # 72 m away, address agrees
    how = dict(links.filter(pl.col("site_id") == s).select("record_id", "method").iter_rows())
    assert how["913413020000000001"] == "address" and how["A1"] == "distance"


def test_neighbouring_shops_stay_apart():
    links, _ = link(records(_tables()), CFG)
    ids = links.filter(pl.col("source") == "registrations")
    shops = ids.join(
        records(_tables()).filter(pl.col("name").is_in(["张记面馆", "李记超市"])),
        on=["source", "record_id"],
    )
    assert shops["site_id"].n_unique() == 2


def test_point_in_premises_polygon_and_name_match():
    links, sites = link(records(_tables()), CFG)
    s = _site_of(links, "XZ-1")
    assert _site_of(links, "A2") == s
    assert links.filter(pl.col("record_id") == "A2")["method"].item() == "polygon"
    assert _site_of(links, "A3") == _site_of(links, "913413020000000002")  # same distinctive name
    site = sites.filter(pl.col("site_id") == s).row(0, named=True)
    assert abs(site["lon"] - _at(5000)[0]) < 1e-9  # the premises' own position


def test_site_ids_are_stable_when_unrelated_records_arrive():
    t = _tables()
    before, _ = link(records(t), CFG)
    t["power_accounts"] = pl.concat(
        [
            t["power_accounts"],
            pl.DataFrame(
                {
                    "account_id": ["A9"],
                    "name": ["新户"],
                    "address": ["时村镇"],
                    "lon": [_at(9000)[0]],
                    "lat": [_at(9000)[1]],
                }
            ),
        ],
        how="vertical_relaxed",
    )
    after, _ = link(records(t), CFG)
    joined = before.join(after, on=["source", "record_id"])
    assert (joined["site_id"] == joined["site_id_right"]).all()


def test_townships_from_boundaries_then_records():
    _, sites = link(records(_tables()), CFG)
    poly = "POLYGON((116.9 33.5,117.03 33.5,117.03 33.7,116.9 33.7,116.9 33.5))"
    tw = pl.DataFrame(
        {"township": ["桃园镇"], "oversight_unit": ["区应急管理局"], "geometry": [poly]}
    )
    out = assign_townships(sites, tw)
    gate = out.filter(pl.col("address").str.contains("纬二路")).row(0, named=True)
    assert (gate["township"], gate["oversight_unit"]) == ("桃园镇", "区应急管理局")
    farm = out.filter(pl.col("address") == "曹村镇老砖厂").row(0, named=True)
    assert farm["township"] == "曹村镇" and farm["oversight_unit"] is None


def test_place_by_address_interpolates_house_numbers():
    from screening.sites import place_by_address

    street = "桃园镇工业园纬2路"
    rec = pl.DataFrame(
        {
            "source": ["registrations"] * 5,
            "record_id": ["a", "b", "c", "d", "e"],
            "addr_key": [
                f"{street}10号",
                f"{street}30号",
                f"{street}20号",
                f"{street}200号",
                "符离镇张庄村3组25号",
            ],
            "lon": [117.0, 117.002, None, None, None],
            "lat": [33.6, 33.6, None, None, None],
        }
    )
    out = place_by_address(rec, CFG)
    by_id = {r["record_id"]: r for r in out.iter_rows(named=True)}
    assert by_id["c"]["lon"] == pytest.approx(117.001) and by_id["c"]["position"] == "address"
    assert by_id["d"]["lon"] is None  # 170 numbers beyond the last known: too far to guess
    assert by_id["e"]["lon"] is None and by_id["e"]["position"] is None
    assert by_id["a"]["position"] == "given"


def test_address_placed_records_never_merge_on_distance_alone():
    t = _tables()
    links, sites = link(records(t), CFG)
    assert set(links["position"].drop_nulls().unique()) <= {"given", "address"}
    assert "position" in sites.columns


def test_household_meters_pair_only_when_all_but_together():
    """Two houses 60 m apart with the same village address are two premises (a city has
    10^8 such pairs); 10 m apart they are one. A house and a firm 100 m apart with agreeing
    addresses are still one place (geocodes of one gate differ)."""
    village = "安徽省宿州市埇桥区曹村镇王庄村"
    accounts = pl.DataFrame(
        {
            "account_id": ["H1", "H2", "H3", "H4", "H5", "H6"],
            "name": ["王一", "王二", "王三", "王四", "王五", "王六"],
            "address": [f"{village}{n}号" for n in (12, 12, 40, 40, 7, 7)],
            "lon": [_at(e)[0] for e in (0, 60, 3000, 3010, 6000, 6060)],
            "lat": [_at(e)[1] for e in (0, 60, 3000, 3010, 6000, 6060)],
            "tariff": ["residential"] * 6,
            "phase": [1] * 6,
        }
    )
    regs = pl.DataFrame(
        {
            "uscc": ["913413020000000009"],
            "name": ["宿州市某新材料科技有限公司"],
            "address": [f"{village}12号"],
            "lon": [_at(0, 100)[0]],
            "lat": [_at(0, 100)[1]],
            "township": [None],
        }
    )
    links, _ = link(records({"power_accounts": accounts, "registrations": regs}), CFG)
    assert _site_of(links, "H3") == _site_of(links, "H4")  # 10 m: one house
    assert _site_of(links, "H5") != _site_of(links, "H6")  # 60 m: two houses
    # 60 m apart, same address: not paired with each other, yet both reach the firm's site
    # (100 m and 117 m off, address agreeing), so all three are one place
    firm = _site_of(links, "913413020000000009")
    assert _site_of(links, "H1") == firm and _site_of(links, "H2") == firm
    far = links.filter(pl.col("record_id").is_in(["H1", "H2"]))
    assert far["method"].to_list() == ["distance", "distance"]


def test_distance_edges_are_reused_only_for_the_same_records(tmp_path, monkeypatch):
    from screening.sites import linking as site_mod
    from screening.store.warehouse import parquet_memo

    cache = tmp_path / "cache"
    memo = parquet_memo(cache, "distance_edges")
    first, _ = link(records(_tables()), CFG, memo)
    assert len(list(cache.glob("distance_edges-*.parquet"))) == 1
    calls = []
    real = site_mod._distance_edges
    monkeypatch.setattr(site_mod, "_distance_edges", lambda *a: calls.append(1) or real(*a))
    again, _ = link(records(_tables()), CFG, memo)
    assert calls == [] and again.equals(first)  # same records: read back, same links
    # one shop's address changes: computed afresh, and the old file replaced
    tables = _tables()
    tables["registrations"] = tables["registrations"].with_columns(
        pl.when(pl.col("name") == "李记超市")
        .then(pl.lit("汴河路118号"))
        .otherwise(pl.col("address"))
        .alias("address")
    )
    moved, _ = link(records(tables), CFG, memo)
    assert calls == [1] and len(list(cache.glob("distance_edges-*.parquet"))) == 1
    assert moved.equals(link(records(tables), CFG)[0])


def _coded(reg_east_m: float, permit_east_m: float | None) -> dict[str, pl.DataFrame]:
    """A paint maker's registration, its permit and the account the grid opened under its
    credit code, geocoded apart, with addresses written so that no text agrees (纬五路 and
    纬5路), beside an unrelated shop near the registration."""
    code = "91341302XWYTHPKUG4"
    reg, shop, meter = _at(reg_east_m), _at(reg_east_m + 20), _at(0)
    permit = _at(permit_east_m, -150) if permit_east_m is not None else (None, None)
    return {
        "registrations": pl.DataFrame(
            {
                "uscc": [code, "913413020000000009"],
                "name": ["宿州市诚茂涂料有限公司", "宿州市某某五金店"],
                "address": ["灰古镇化工集中区纬五路5号", "灰古镇化工集中区纬五路7号"],
                "lon": [reg[0], shop[0]],
                "lat": [reg[1], shop[1]],
                "township": ["灰古镇", "灰古镇"],
            }
        ),
        "permits": pl.DataFrame(
            {
                "permit_id": ["(皖)WH安许证字[2021]2147"],
                "uscc": [code],
                "kind": ["production"],
                "address": ["埇桥区灰古镇化工园"],
                "lon": [permit[0]],
                "lat": [permit[1]],
            },
            schema_overrides={"lon": pl.Float64, "lat": pl.Float64},
        ),
        "power_accounts": pl.DataFrame(
            {
                "account_id": ["3441348184"],
                "name": ["诚茂涂料"],
                "address": ["埇桥区灰古镇化工集中区纬5路5号"],
                "lon": [meter[0]],
                "lat": [meter[1]],
                "uscc": [code],
            }
        ),
    }


def test_records_filed_under_one_credit_code_are_one_site_placed_at_the_meter():
    links, sites = link(records(_coded(320, 40)), CFG)
    site = _site_of(links, "3441348184")
    assert _site_of(links, "91341302XWYTHPKUG4") == site
    assert _site_of(links, "(皖)WH安许证字[2021]2147") == site
    assert set(links.filter(pl.col("site_id") == site)["method"]) == {"id"}
    # the code ties the firm's own records, not its neighbour at the registered address
    assert _site_of(links, "913413020000000009") != site
    placed = sites.filter(pl.col("site_id") == site).row(0, named=True)
    assert (placed["lon"], placed["lat"]) == pytest.approx(_at(0))


def test_one_code_kilometres_apart_is_two_premises():
    links, _ = link(records(_coded(3000, None)), CFG)
    assert _site_of(links, "3441348184") != _site_of(links, "91341302XWYTHPKUG4")
    # a record of that code without a position still joins the code's registration
    assert _site_of(links, "(皖)WH安许证字[2021]2147") == _site_of(links, "91341302XWYTHPKUG4")


def test_a_fuel_delivery_belongs_to_the_station_a_little_beyond_place_m():
    """Tankers unload on the forecourt, 190 m from where the station was geocoded: the
    station counts place_anchor_bonus_m nearer, so the place is its; a shop as far away is
    not anyone's."""
    station, shop, spot = _at(0), _at(5000), _at(190)
    regs = pl.DataFrame(
        {
            "uscc": ["91341302N7YHRAKXNN", "913413020000000010"],
            "name": ["安徽万隆加油站", "宿州市某某五金店"],
            "industry_code": ["F5265", "F5174"],
            "address": ["朱仙庄镇解放路162号", "朱仙庄镇解放路999号"],
            "lon": [station[0], shop[0]],
            "lat": [station[1], shop[1]],
            "township": ["朱仙庄镇", "朱仙庄镇"],
        }
    )
    places = pl.DataFrame(
        {
            "place_id": ["P1", "P2"],
            "lon": [spot[0], _at(5190)[0]],
            "lat": [spot[1], _at(5190)[1]],
            "fuel_visits": [3, 3],
            "is_depot": [False, False],
        }
    )
    links, _ = link(records({"registrations": regs}, places, CFG), CFG)
    assert _site_of(links, "P1") == _site_of(links, "91341302N7YHRAKXNN")
    assert _site_of(links, "P2") != _site_of(links, "913413020000000010")


def test_one_gate_geocoded_hundreds_of_metres_apart_is_one_place():
    """A re-let factory's new tenant (the registry's pin) and the meter the grid surveyed at
    纬5路60号2栋, 280 m apart: one gate, one site, tied by address. The neighbour at 纬5路57号
    as far off, an identical address 700 m away (beyond sites.address_m), and two houses
    sharing a village number stay apart."""
    regs = pl.DataFrame(
        {
            "uscc": ["9134130222G7CM2WHJ", "913413020000000077"],
            "name": ["宿州市恒发家具有限公司", "宿州市远方商贸有限公司"],
            "address": ["宿州市埇桥区桃园镇工业园区纬五路60号2栋", "桃园镇工业园区纬5路88号"],
            "lon": [_at(0)[0], _at(8000)[0]],
            "lat": [_at(0)[1], _at(8000)[1]],
            "township": ["桃园镇", "桃园镇"],
        }
    )
    accounts = pl.DataFrame(
        {
            "account_id": ["A60", "A57", "A88", "H1", "H2"],
            "name": [
                "宿州市宏祥工贸有限公司",
                "宿州市天利实业有限公司",
                "远方商贸",
                "王一",
                "王二",
            ],
            "address": [
                "桃园镇工业园区纬5路60号2栋",
                "桃园镇工业园区纬5路57号2栋",
                "桃园镇工业园区纬五路88号",
                "桃园镇王庄村7号",
                "桃园镇王庄村7号",
            ],
            "lon": [_at(200, 200)[0], _at(-200, -200)[0], _at(8700)[0], _at(4000)[0], _at(4300)[0]],
            "lat": [_at(200, 200)[1], _at(-200, -200)[1], _at(8700)[1], _at(4000)[1], _at(4300)[1]],
            "tariff": ["commercial", "commercial", "commercial", "residential", "residential"],
            "phase": [3, 3, 3, 1, 1],
        }
    )
    links, _ = link(records({"power_accounts": accounts, "registrations": regs}), CFG)
    tenant = _site_of(links, "9134130222G7CM2WHJ")
    assert _site_of(links, "A60") == tenant
    assert links.filter(pl.col("record_id") == "A60")["method"].item() == "address"
    assert _site_of(links, "A57") != tenant
    assert _site_of(links, "A88") != _site_of(links, "913413020000000077")
    assert _site_of(links, "H1") != _site_of(links, "H2")


def test_tips_are_quoted_and_an_ordinary_trade_is_told_from_a_chemical_smell():
    """Each site's tips are quoted in order (cut at tip_quote_chars); ordinary_tips counts
    those that name an ordinary trade and none of the campaign's cues."""
    from screening.sites.features import _tip_quotes

    tips = pl.DataFrame(
        {
            "tip_id": ["T1", "T2", "T3"],
            "text": [
                "南营村十组14号有人在家里开木工作坊做家具;电锯声很吵",
                "胡楼村二组17号有人租了民房做家具,晚上机器响到天亮,有化学品味道",
                "某路8号" + "很吵" * 60,
            ],
        }
    )
    sites = pl.DataFrame({"site_id": ["S1", "S2", "S3"], "tip_ids": ["T1", "T1;T2", "T3"]})
    out = _tip_quotes(sites, tips, load_config()["features"]).sort("site_id")
    assert out["ordinary_tips"].to_list() == [1, 1, 0]
    assert out["tip_texts"][0] == "南营村十组14号有人在家里开木工作坊做家具，电锯声很吵"
    assert out["tip_texts"][2].endswith("…") and len(out["tip_texts"][2]) == 81
