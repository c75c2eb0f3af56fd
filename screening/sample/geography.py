"""The county's shape: outline, townships, villages, industrial parks, and the pool of
addressable places (plots, shops, houses, remote spots) that every other record sits on.

Everything is built in a local metric frame (metres east/north of the county centre) so that
distances are plain Euclidean; lon/lat are derived at the end. Each place has one canonical
address core (without the province/city/county prefix); agencies' spellings of it are made
later by :mod:`screening.sample.address`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import shapely
from shapely.geometry import MultiPoint, Point, Polygon

from .config import CENTRE, HALF_EXTENT_M, SizePreset
from .names import TOWN_STREETS, cn_number, village_names

TOWNSHIPS = (
    "桃园镇",
    "符离镇",
    "大店镇",
    "曹村镇",
    "灰古镇",
    "栏杆镇",
    "时村镇",
    "蒿沟镇",
    "永安镇",
    "朱仙庄镇",
)
OVERSIGHT_UNITS = (
    "区应急管理局",
    "区市场监督管理局",
    "区生态环境分局",
    "区公安分局",
    "区自然资源局",
    "区交通运输局",
)
# Industrial parks: (township, park name). The chemical park holds the licensed producers.
PARKS = (("桃园镇", "工业园区"), ("符离镇", "工业园区"), ("大店镇", "工业园区"))
CHEM_PARK = ("灰古镇", "化工集中区")

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE[1]))


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres to WGS-84; an equirectangular frame is exact enough over 50 km."""
    return CENTRE[0] + np.asarray(x) / _M_PER_DEG_LON, CENTRE[1] + np.asarray(y) / _M_PER_DEG_LAT


def to_xy(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = (np.asarray(lon) - CENTRE[0]) * _M_PER_DEG_LON
    return x, (np.asarray(lat) - CENTRE[1]) * _M_PER_DEG_LAT


@dataclass
class Township:
    name: str
    seat: tuple[float, float]  # x, y of the town centre
    polygon: Polygon  # local metres
    oversight_unit: str


@dataclass
class County:
    outline: Polygon
    townships: list[Township]
    villages: pl.DataFrame  # township, village, x, y
    hubs: np.ndarray  # (n, 2) centres of parks and towns: "where people and firms are"
    places: pl.DataFrame  # the pool of addressable places, see build_places


def _outline(rng: np.random.Generator) -> Polygon:
    """An irregular blob: an ellipse whose radius wobbles with a few low harmonics."""
    theta = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    wobble = np.zeros_like(theta)
    for k, amp in ((2, 0.06), (3, 0.05), (5, 0.03), (7, 0.015)):
        wobble += amp * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    a, b = HALF_EXTENT_M
    r = 1.0 + wobble
    return Polygon(np.c_[a * r * np.cos(theta), b * r * np.sin(theta)])


def _spread_points(
    rng: np.random.Generator,
    poly: Polygon,
    n: int,
    min_d: float,
    avoid: np.ndarray | None = None,
    avoid_d: float = 0.0,
) -> np.ndarray:
    """Rejection sampling with a minimum spacing, relaxed when the polygon is too small."""
    minx, miny, maxx, maxy = poly.bounds
    pts: list[tuple[float, float]] = []
    d = min_d
    tries = 0
    while len(pts) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(256, 2))
        inside = shapely.contains_xy(poly, cand[:, 0], cand[:, 1])
        for x, y in cand[inside]:
            if pts and np.min(np.hypot(np.array(pts)[:, 0] - x, np.array(pts)[:, 1] - y)) < d:
                continue
            if (
                avoid is not None
                and len(avoid)
                and np.min(np.hypot(avoid[:, 0] - x, avoid[:, 1] - y)) < avoid_d
            ):
                continue
            pts.append((x, y))
            if len(pts) == n:
                break
        tries += 1
        if tries % 8 == 0:
            d *= 0.85
            avoid_d *= 0.9
    return np.array(pts)


def build_county(rng: np.random.Generator, preset: SizePreset) -> County:
    outline = _outline(rng)
    seats = _spread_points(rng, outline.buffer(-3000), len(TOWNSHIPS), 11_000)
    cells = shapely.voronoi_polygons(MultiPoint(seats), extend_to=outline.buffer(5000))
    units = rng.permutation(len(OVERSIGHT_UNITS))
    townships = []
    for i, name in enumerate(TOWNSHIPS):
        cell = next(c for c in cells.geoms if c.contains(Point(seats[i])))
        poly = cell.intersection(outline)
        if poly.geom_type != "Polygon":  # keep the part that holds the seat
            poly = next(g for g in poly.geoms if g.contains(Point(seats[i])))
        poly = shapely.set_precision(poly, 1.0)
        unit = OVERSIGHT_UNITS[int(units[i % 5])]  # five units cover ten townships
        townships.append(Township(name, (float(seats[i][0]), float(seats[i][1])), poly, unit))

    rows = []
    for t in townships:
        n = preset.villages_per_township
        spacing = math.sqrt(t.polygon.area / max(n, 1)) * 0.6
        pts = _spread_points(
            rng, t.polygon.buffer(-400), n, spacing, avoid=np.array([t.seat]), avoid_d=1500
        )
        for name, (x, y) in zip(village_names(rng, n), pts, strict=True):
            rows.append((t.name, name, float(x), float(y)))
    villages = pl.DataFrame(rows, schema=["township", "village", "x", "y"], orient="row")
    county = County(outline, townships, villages, np.zeros((0, 2)), pl.DataFrame())
    return county


# ---------------------------------------------------------------------------------------
# Place pools


def _grid_frame(parts: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(parts)


def _park_places(
    rng: np.random.Generator, t: Township, park: str, need: int, origin: tuple[float, float]
) -> pl.DataFrame:
    """Plots along the E-W roads (纬X路) of a rotated grid; odd numbers north, even south.
    Beyond about 80 plots per road side, plots hold several buildings (X栋)."""
    per_side = 80
    roads = int(min(12, max(2, math.ceil(need / (2 * per_side)))))
    units = max(1, math.ceil(need / (roads * 2 * per_side)))
    per_side = min(per_side, max(8, math.ceil(need / (roads * 2 * units))))
    ang = rng.uniform(-0.3, 0.3)
    road_i, side, k, unit = np.meshgrid(
        np.arange(roads), np.arange(2), np.arange(per_side), np.arange(units), indexing="ij"
    )
    road_i, side, k, unit = (a.ravel() for a in (road_i, side, k, unit))
    along = 60.0 + k * 45.0 + unit * 12.0
    across = road_i * 220.0 + np.where(side == 0, 35.0, -35.0)
    x = origin[0] + along * math.cos(ang) - across * math.sin(ang)
    y = origin[1] + along * math.sin(ang) + across * math.cos(ang)
    number = 2 * k + 1 + side
    road = [f"纬{cn_number(int(r) + 1)}路" for r in road_i]
    suffix = [f"{int(u) + 1}栋" if units > 1 else "" for u in unit]
    core = [f"{t.name}{park}{r}{int(n)}号{s}" for r, n, s in zip(road, number, suffix, strict=True)]
    zone = "chempark" if park == CHEM_PARK[1] else "park"
    return _grid_frame(
        {"x": x, "y": y, "township": t.name, "zone": zone, "core": core, "village": None}
    )


def _town_places(rng: np.random.Generator, t: Township, need: int) -> pl.DataFrame:
    """Shop fronts along a few streets radiating from the town centre, 8 m apart."""
    per_side = 120
    n_streets = int(min(len(TOWN_STREETS), max(2, math.ceil(need / (2 * per_side)))))
    per_side = max(per_side, math.ceil(need / (2 * n_streets)))
    streets = rng.choice(len(TOWN_STREETS), size=n_streets, replace=False)
    angles = rng.uniform(0, 2 * np.pi) + np.arange(n_streets) * 2 * np.pi / n_streets
    s_i, side, k = np.meshgrid(
        np.arange(n_streets), np.arange(2), np.arange(per_side), indexing="ij"
    )
    s_i, side, k = s_i.ravel(), side.ravel(), k.ravel()
    along = 40.0 + k * 8.0
    off = np.where(side == 0, 12.0, -12.0)
    a = angles[s_i]
    x = t.seat[0] + along * np.cos(a) - off * np.sin(a)
    y = t.seat[1] + along * np.sin(a) + off * np.cos(a)
    number = 2 * k + 1 + side
    core = [
        f"{t.name}{TOWN_STREETS[int(streets[s])]}{int(n)}号"
        for s, n in zip(s_i, number, strict=True)
    ]
    return _grid_frame(
        {"x": x, "y": y, "township": t.name, "zone": "town", "core": core, "village": None}
    )


def _village_places(
    rng: np.random.Generator, villages: pl.DataFrame, per_village: int
) -> pl.DataFrame:
    """Houses in groups (组) clustered around each village centre."""
    groups = max(3, min(10, per_village // 12))
    per_group = math.ceil(per_village / groups)
    nv = villages.height
    v_i, g, k = np.meshgrid(np.arange(nv), np.arange(groups), np.arange(per_group), indexing="ij")
    v_i, g, k = v_i.ravel(), g.ravel(), k.ravel()
    vx = villages["x"].to_numpy()[v_i]
    vy = villages["y"].to_numpy()[v_i]
    g_ang = rng.uniform(0, 2 * np.pi, size=(nv, groups))[v_i, g]
    g_rad = rng.uniform(80, 380, size=(nv, groups))[v_i, g]
    h_ang = rng.uniform(0, 2 * np.pi, size=v_i.size)
    h_rad = 70 * np.sqrt(rng.uniform(0, 1, size=v_i.size))
    x = vx + g_rad * np.cos(g_ang) + h_rad * np.cos(h_ang)
    y = vy + g_rad * np.sin(g_ang) + h_rad * np.sin(h_ang)
    tw = villages["township"].to_list()
    vn = villages["village"].to_list()
    core = [
        f"{tw[v]}{vn[v]}{cn_number(int(gg) + 1)}组{int(kk) + 1}号"
        for v, gg, kk in zip(v_i, g, k, strict=True)
    ]
    return _grid_frame(
        {
            "x": x,
            "y": y,
            "township": [tw[v] for v in v_i],
            "zone": "village",
            "core": core,
            "village": [vn[v] for v in v_i],
        }
    )


_DIRS8 = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")  # by angle from east


def _remote_places(
    rng: np.random.Generator, county: County, need: int, hubs: np.ndarray
) -> pl.DataFrame:
    """Spots far from every village and hub: where abandoned farms and quarries are."""
    vx = county.villages["x"].to_numpy()
    vy = county.villages["y"].to_numpy()
    anchors = np.r_[np.c_[vx, vy], hubs]
    spacing = math.sqrt(county.outline.area / max(len(anchors), 1))
    threshold = max(900.0, 0.42 * spacing)
    minx, miny, maxx, maxy = county.outline.bounds
    cand = rng.uniform((minx, miny), (maxx, maxy), size=(min(max(4000, need * 60), 60_000), 2))
    cand = cand[shapely.contains_xy(county.outline.buffer(-500), cand[:, 0], cand[:, 1])]
    dmin = np.empty(len(cand))
    near = np.empty(len(cand), dtype=np.int64)
    for s in range(0, len(cand), 4000):  # in blocks: candidates x anchors can be large
        c = cand[s : s + 4000]
        d = np.hypot(c[:, None, 0] - anchors[None, :, 0], c[:, None, 1] - anchors[None, :, 1])
        dmin[s : s + 4000] = d.min(axis=1)
        near[s : s + 4000] = d[:, : len(vx)].argmin(axis=1)
    ok = dmin > threshold
    cand, near = cand[ok][: need * 2], near[ok][: need * 2]
    rows_t, rows_core, rows_v = [], [], []
    polys = [(t.name, t.polygon) for t in county.townships]
    for (x, y), v in zip(cand, near, strict=True):
        tw = next((n for n, p in polys if p.contains(Point(x, y))), None)
        vrow = county.villages.row(int(v))
        if tw is None or vrow[0] != tw:
            tw = None
        dx, dy = x - vrow[2], y - vrow[3]
        ang = (math.degrees(math.atan2(dy, dx)) + 360) % 360
        direction = _DIRS8[int(((ang + 22.5) % 360) // 45)]
        km = round(math.hypot(dx, dy) / 1000, 1)
        rows_t.append(tw)
        rows_core.append(f"{vrow[0]}{vrow[1]}{direction}约{km}公里")
        rows_v.append(vrow[1])
    df = _grid_frame(
        {
            "x": cand[:, 0],
            "y": cand[:, 1],
            "township": rows_t,
            "zone": "remote",
            "core": rows_core,
            "village": rows_v,
        }
    )
    return df.filter(pl.col("township").is_not_null())


def build_places(rng: np.random.Generator, county: County, need: dict[str, int]) -> County:
    """Make enough places of each zone for ``need`` (zone -> count), shuffled so that the
    order of allocation is random, and keep only those inside their township."""
    frames = []
    hubs = []
    by_name = {t.name: t for t in county.townships}
    n_parks = len(PARKS)
    for tw, park in (*PARKS, CHEM_PARK):
        t = by_name[tw]
        zone_need = need["chempark"] if park == CHEM_PARK[1] else math.ceil(need["park"] / n_parks)
        for _ in range(50):
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(1800, 3000)
            origin = (t.seat[0] + dist * math.cos(ang), t.seat[1] + dist * math.sin(ang))
            df = _park_places(rng, t, park, int(zone_need * 1.6) + 10, origin)
            inside = shapely.contains_xy(
                t.polygon.buffer(-150), df["x"].to_numpy(), df["y"].to_numpy()
            )
            if inside.mean() > 0.97:
                break
        frames.append(df.filter(pl.Series(inside)))
        hubs.append((float(df["x"].mean()), float(df["y"].mean())))
    per_town = math.ceil(need["town"] / len(county.townships) * 1.5) + 20
    for t in county.townships:
        frames.append(_town_places(rng, t, per_town))
        hubs.append(t.seat)
    per_village = math.ceil(need["village"] / county.villages.height * 1.4) + 6
    frames.append(_village_places(rng, county.villages, per_village))
    hub_arr = np.array(hubs)
    frames.append(_remote_places(rng, county, need["remote"] + 10, hub_arr))
    places = pl.concat(frames, how="vertical_relaxed")
    # A park road can stray over a township line: keep each place inside its own township.
    keep = np.zeros(places.height, dtype=bool)
    xs, ys = places["x"].to_numpy(), places["y"].to_numpy()
    tw = places["township"].to_numpy()
    for t in county.townships:
        m = tw == t.name
        keep[m] = shapely.contains_xy(t.polygon, xs[m], ys[m])
    places = places.filter(pl.Series(keep))
    order = rng.permutation(places.height)
    lon, lat = to_lonlat(places["x"].to_numpy(), places["y"].to_numpy())
    places = (
        places.with_columns(lon=pl.Series(lon), lat=pl.Series(lat), _o=pl.Series(order))
        .sort("_o")
        .drop("_o")
        .with_row_index("place_id")
        .with_columns(pl.col("place_id").cast(pl.Int64))
    )
    county.places = places
    county.hubs = hub_arr
    return county


class PlaceAllocator:
    """Hands out places of a zone without reuse, so two unrelated records never share an
    address by accident (shared addresses are planted on purpose, or come from 厂中厂)."""

    def __init__(self, places: pl.DataFrame) -> None:
        self.places = places
        self._free: dict[tuple[str, str | None], list[int]] = {}
        for (zone, tw), grp in places.group_by(["zone", "township"], maintain_order=True):
            self._free[(str(zone), str(tw))] = grp["place_id"].to_list()[::-1]
        self.zones: dict[str, list[str]] = {}
        for zone, tw in self._free:
            self.zones.setdefault(zone, []).append(tw)
        for z in self.zones:
            self.zones[z].sort()

    def take(
        self, rng: np.random.Generator, zone: str, n: int, township: str | None = None
    ) -> list[int]:
        out: list[int] = []
        tws = [township] if township else self.zones[zone]
        while len(out) < n:
            avail = [t for t in tws if self._free.get((zone, t))]
            if not avail:
                raise RuntimeError(f"place pool exhausted for zone {zone!r}")
            weights = np.array([len(self._free[(zone, t)]) for t in avail], dtype=float)
            picks = rng.choice(len(avail), size=n - len(out), p=weights / weights.sum())
            for p in picks.tolist():
                lst = self._free[(zone, avail[p])]
                if lst:
                    out.append(lst.pop())
        return out

    def near(self, place_id: int, zone: str, max_m: float = 3000.0) -> int:
        """A free place of ``zone`` close to another (a driver's house near the depot)."""
        row = self.places.row(place_id, named=True)
        best, best_d = None, float("inf")
        for (z, _t), lst in self._free.items():
            if z != zone or not lst:
                continue
            cand = np.array(lst[-200:])
            sub = self.places[cand]
            d = np.hypot(sub["x"].to_numpy() - row["x"], sub["y"].to_numpy() - row["y"])
            i = int(d.argmin())
            if d[i] < best_d and (d[i] < max_m or best is None):
                best, best_d = int(cand[i]), float(d[i])
        assert best is not None
        for (z, _t), lst in self._free.items():
            if z == zone and best in lst:
                lst.remove(best)
                break
        return best

    def take_near(
        self, rng: np.random.Generator, place_id: int, zone: str, lo: float, hi: float
    ) -> int | None:
        """A free place of ``zone`` between ``lo`` and ``hi`` metres from another (the yard
        behind a gas station, the village road by a house), or None."""
        row = self.places.row(place_id, named=True)
        keys = [k for k, lst in self._free.items() if k[0] == zone and lst]
        if not keys:
            return None
        cand = np.concatenate([np.array(self._free[k], dtype=np.int64) for k in keys])
        x = self.places["x"].to_numpy()[cand]
        y = self.places["y"].to_numpy()[cand]
        d = np.hypot(x - row["x"], y - row["y"])
        ok = np.flatnonzero((d >= lo) & (d <= hi))
        if ok.size == 0:
            return None
        best = int(cand[ok[int(rng.integers(ok.size))]])
        for k in keys:
            if best in self._free[k]:
                self._free[k].remove(best)
                break
        return best
