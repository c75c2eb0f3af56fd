"""Runs inside a separate virtualenv with movingpandas installed (not a project dependency):
reads tracks from Parquet, writes movingpandas' stop segments to Parquet.

    python bench/mp_stops.py TRACKS.parquet OUT.parquet MAX_DIAMETER_M MIN_MINUTES
"""

import sys
import time
from datetime import timedelta

import geopandas as gpd
import movingpandas as mpd
import pandas as pd

src, out, diameter, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
df = pd.read_parquet(src)
t0 = time.perf_counter()
gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
gdf = gdf.set_index("ts")
tc = mpd.TrajectoryCollection(gdf, "plate")
stops = mpd.TrajectoryStopDetector(tc).get_stop_segments(
    min_duration=timedelta(minutes=minutes), max_diameter=diameter
)
# a stop segment's id is "<trajectory id>_<start time>"; the trajectory id is the plate
rows = [
    {"plate": str(t.id).rsplit("_", 1)[0], "start": t.get_start_time(), "end": t.get_end_time()}
    for t in stops.trajectories
]
seconds = time.perf_counter() - t0
pd.DataFrame(rows, columns=["plate", "start", "end"]).to_parquet(out)
print(f"{seconds:.3f}")
