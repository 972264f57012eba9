"""
Dropout on a labelled xarray field
==================================

Climate and weather pipelines carry their arrays as :class:`xarray.DataArray`: values
with named dimensions, coordinates and attributes. numbadrop takes a ``DataArray`` and
gives one back with the same dims, coords, attrs and name, so the labels survive the
noise; a Dask-backed ``DataArray`` stays lazy, and its result is bit-identical to the
NumPy one.

Here a toy temperature field ``(time, lat, lon)`` gets element dropout and locked
dropout (``broadcast_dims`` along ``time``: the same grid cells dropped at every time
step, as for sensor outages), then each panel is drawn with xarray's own plotting,
which reads the labels numbadrop kept.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

import numbadrop as nd

time = np.arange("2026-01-01", "2026-01-05", dtype="datetime64[D]")
lat = np.linspace(-60, 60, 25)
lon = np.linspace(-180, 175, 72)
values = 15 + 15 * np.cos(np.deg2rad(lat))[None, :, None] + np.sin(np.deg2rad(lon))[None, None, :]
values = values + np.arange(len(time))[:, None, None]
field = xr.DataArray(
    values.astype(np.float32),
    dims=("time", "lat", "lon"),
    coords={"time": time, "lat": lat, "lon": lon},
    attrs={"units": "degC", "long_name": "near-surface temperature"},
    name="t2m",
)

dropped = nd.dropout(field, 0.3, rng=7)
locked = nd.dropout(field, 0.3, rng=7, broadcast_dims=field.get_axis_num("time"))

# The labels are the input's, and the values those of the NumPy call.
assert dropped.dims == field.dims and dropped.attrs == field.attrs and dropped.name == "t2m"
assert dropped.coords["lat"].equals(field.coords["lat"])
assert np.array_equal(dropped.values, nd.dropout(field.values, 0.3, rng=7))

# Dask-backed: lazy until computed, the same bits.
lazy = nd.dropout(field.chunk({"time": 1}), 0.3, rng=7)
print(type(lazy.data).__name__, "->", bool((lazy.compute() == dropped).all()))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
field.isel(time=0).plot(ax=axes[0], cmap="viridis")
axes[0].set_title("field, first day")
dropped.isel(time=0).plot(ax=axes[1], cmap="viridis")
axes[1].set_title("dropout p=0.3 (scaled by 1/(1-p))")
(locked.isel(time=-1) == 0).plot(ax=axes[2], cmap="Greys", add_colorbar=False)
axes[2].set_title("locked along time: dropped cells, last day")
plt.show()
