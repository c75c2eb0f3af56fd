import numpy as np
import pytest

from screening import coords

# (wgs lon, wgs lat, gcj lon, gcj lat) from published implementations' own test suites
# (eviltransform: Shanghai, Shenzhen, Beijing; coordtransform: 116.404, 39.915).
WGS_GCJ = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), WGS_GCJ)
def test_wgs84_to_gcj02_matches_published_points(wlon, wlat, glon, glat):
    lon, lat = coords.wgs84_to_gcj02(wlon, wlat)
    assert coords.haversine_m(lon, lat, glon, glat) < 0.01


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), WGS_GCJ)
def test_gcj02_inverse_recovers_wgs84(wlon, wlat, glon, glat):
    lon, lat = coords.gcj02_to_wgs84(glon, glat)
    assert coords.haversine_m(lon, lat, wlon, wlat) < 0.01


def test_bd09_published_points():
    # coordtransform / gcoord reference values
    assert np.allclose(
        coords.gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), atol=1e-9
    )
    assert np.allclose(
        coords.bd09_to_gcj02(116.404, 39.915), (116.39762729119315, 39.90865673957631), atol=1e-9
    )
    assert np.allclose(coords.bd09_to_wgs84(123, 45), (122.98762210, 44.99171540), atol=1e-5)


def test_offsets_are_hundreds_of_metres_in_the_sample_region():
    lon, lat = coords.wgs84_to_gcj02(117.0, 33.65)
    assert 300 < coords.haversine_m(117.0, 33.65, lon, lat) < 900


def test_vectorised_round_trip_and_nan_and_outside_china():
    rng = np.random.default_rng(0)
    lon = rng.uniform(100, 125, 1000)
    lat = rng.uniform(20, 45, 1000)
    for crs in ("gcj02", "bd09"):
        x, y = coords.to_wgs84(*coords.from_wgs84(lon, lat, crs), crs)
        assert coords.haversine_m(x, y, lon, lat).max() < 2.0  # BD-09 inverse is ~1 m
    x, y = coords.to_wgs84(np.array([np.nan, 2.35]), np.array([np.nan, 48.85]), "gcj02")
    assert np.isnan(x[0]) and np.isnan(y[0])
    assert (x[1], y[1]) == (2.35, 48.85)  # Paris is not shifted


def test_unknown_crs_is_an_error():
    with pytest.raises(ValueError, match="unknown crs"):
        coords.to_wgs84(1.0, 2.0, "utm")


def test_utm_zone_by_longitude():
    assert coords.utm_epsg(117.0) == 32650
    assert coords.utm_epsg(113.5) == 32649
