#!/usr/bin/python3
"""Makes sample/air.zarr, the small Zarr v2 dataset shipped with zarrstore.

Run with Debian's Python (python3-zarr 2, python3-xarray):

    /usr/bin/python3 scripts/make-sample.py [OUT]   # default: sample/air.zarr

It is deterministic: a fixed seed and fixed timestamps, so re-running it rewrites the same
bytes. The dataset looks like NCEP air temperature: `air` (time=20, lat=25, lon=53, float32)
stored in 5x10x20 chunks, so no dimension is divisible by its chunk size and every edge
chunk is partial; zlib-compressed; a blosc-compressed 2-D `land` mask; CF attributes;
consolidated `.zmetadata`.
"""

import os
import shutil
import sys

import numcodecs
import numpy as np
import xarray as xr

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "sample", "air.zarr"
)


def make_dataset() -> xr.Dataset:
    rng = np.random.RandomState(20130101)
    time = np.datetime64("2013-01-01T00:00") + np.arange(20) * np.timedelta64(6, "h")
    lat = np.linspace(75.0, 15.0, 25, dtype=np.float32)
    lon = np.linspace(200.0, 330.0, 53, dtype=np.float32)
    t = np.arange(20)[:, None, None]
    la = np.deg2rad(lat)[None, :, None]
    lo = np.deg2rad(lon)[None, None, :]
    # A cold pole, a warm equator, a travelling wave and a daily cycle, plus a little weather.
    air = (
        300.0
        - 45.0 * np.sin(la) ** 2
        + 6.0 * np.cos(3 * lo - 0.3 * t) * np.cos(la)
        + 2.5 * np.sin(2 * np.pi * t / 4.0)
        + rng.normal(0.0, 0.4, size=(20, 25, 53))
    )
    # Hundredths of a kelvin, as the NCEP reanalysis stores them: smaller after compression.
    air = np.round(air, 2).astype(np.float32)
    land = ((np.sin(lo * 5) + np.cos(la * 7)) > 0.6).astype(np.uint8)[0]

    ds = xr.Dataset(
        {
            "air": (("time", "lat", "lon"), air, {
                "long_name": "4xDaily Air temperature at sigma level 995",
                "standard_name": "air_temperature",
                "units": "degK",
                "var_desc": "Air temperature",
                "level_desc": "Surface",
            }),
            "land": (("lat", "lon"), land, {
                "long_name": "Land mask",
                "flag_values": [0, 1],
                "flag_meanings": "sea land",
            }),
        },
        coords={
            "time": ("time", time, {"long_name": "Time", "standard_name": "time"}),
            "lat": ("lat", lat, {"long_name": "Latitude", "standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"long_name": "Longitude", "standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={
            "Conventions": "CF-1.6",
            "title": "4x daily NMC reanalysis (sample)",
            "description": "Synthetic air temperature shaped like xarray's air_temperature tutorial dataset; made by scripts/make-sample.py.",
            "platform": "Model",
        },
    )
    return ds


def main() -> None:
    ds = make_dataset()
    encoding = {
        "air": {
            "chunks": (5, 10, 20),
            "compressor": numcodecs.Zlib(level=6),
            "dtype": "float32",
            "_FillValue": np.float32(np.nan),
        },
        "land": {"chunks": (25, 53), "compressor": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1)},
        "time": {"units": "hours since 1800-01-01", "calendar": "standard", "dtype": "int64"},
    }
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    ds.to_zarr(OUT, mode="w", consolidated=True, encoding=encoding)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
