"""A generated drone flight: H.264 video in MPEG-TS with a synchronous ST 0601 KLV stream.

Used by the tests, the benchmark and the demo, so none of them needs a real flight file.
The drone flies a straight line over the flooded town at constant height and speed with
its camera pointing straight down; each packet carries time, platform and sensor position
and attitude, field of view, frame center and (optionally) the four full-precision corners.
Faults real encoders make can be planted: bad checksums and items of the wrong length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import require
from assay.ingest.sensors import klv

START_US = 1_785_000_000_000_000  # 2026-07-25T17:20:00Z


@dataclass(frozen=True)
class Flight:
    lat: float = 29.7604
    lon: float = -95.3698
    altitude_m: float = 300.0
    heading: float = 90.0
    speed_mps: float = 15.0
    hfov: float = 40.0
    vfov: float = 30.0


def telemetry_at(
    flight: Flight, t: float, classification: str = "UNCLASSIFIED"
) -> dict[str, klv.Value]:
    """The values a packet at `t` seconds carries (corners from the nadir camera model)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lon, lat, _ = geod.fwd(flight.lon, flight.lat, flight.heading, flight.speed_mps * t)
    half_w = flight.altitude_m * math.tan(math.radians(flight.hfov / 2))
    half_h = flight.altitude_m * math.tan(math.radians(flight.vfov / 2))
    values: dict[str, klv.Value] = {
        "precision_time_stamp": START_US + round(t * 1_000_000),
        "mission_id": "FLOOD-RECON-7",
        "platform_designation": "Survey Quad 2",
        "platform_heading": flight.heading,
        "platform_pitch": 0.0,
        "platform_roll": 0.0,
        "sensor_latitude": lat,
        "sensor_longitude": lon,
        "sensor_true_altitude": flight.altitude_m,
        "sensor_horizontal_fov": flight.hfov,
        "sensor_vertical_fov": flight.vfov,
        "sensor_relative_azimuth": 0.0,
        "sensor_relative_elevation": -90.0,
        "sensor_relative_roll": 0.0,
        "slant_range": flight.altitude_m,
        "target_width": 2 * half_w,
        "frame_center_latitude": lat,
        "frame_center_longitude": lon,
        "frame_center_elevation": 0.0,
        "security_classification": classification,
        "ls_version": 19,
    }
    # Image up is the direction of flight; corners UL, UR, LR, LL.
    for k, (right, fwd) in enumerate(
        ((-half_w, half_h), (half_w, half_h), (half_w, -half_h), (-half_w, -half_h)), 1
    ):
        bearing = (flight.heading + math.degrees(math.atan2(right, fwd))) % 360
        clon, clat, _ = geod.fwd(lon, lat, bearing, math.hypot(right, fwd))
        values[f"corner_latitude_{k}"] = clat
        values[f"corner_longitude_{k}"] = clon
    return values


def write_flight(
    path: Path,
    *,
    seconds: float = 4.0,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    klv_hz: float = 10.0,
    flight: Flight | None = None,
    corners: bool = True,
    bad_checksum_every: int = 0,
    wrong_length_every: int = 0,
    klv_stream: bool = True,
    classification: str = "UNCLASSIFIED",
    seed: int = 7,
    preset: str = "ultrafast",
    klv_from_s: float = 0.0,
    container: str = "mpegts",
) -> list[bytes]:
    """Write the flight to `path` (MPEG-TS, or the FFmpeg `container` named, e.g. "mp4" or
    "matroska" with `klv_stream=False`); returns the KLV packets as written (none before
    `klv_from_s` seconds: telemetry that starts late, as when a link comes up mid-flight)."""
    import av

    fl = flight or Flight()
    rng = np.random.default_rng(seed)
    # Terrain wider than the frame that scrolls as the drone flies: a noisy town grid.
    terrain = rng.integers(60, 120, (height, width * 4, 3), dtype=np.uint8)
    terrain[:, ::40] = (200, 200, 190)
    terrain[::40, :] = (200, 200, 190)
    terrain[height // 2 :, :, 2] = np.maximum(terrain[height // 2 :, :, 2], 150)  # flood water
    written: list[bytes] = []
    n_frames = round(seconds * fps)
    every = max(1, round(fps / klv_hz)) if klv_hz > 0 else 0
    # An MP4 with its index first, as cameras write it for playback while copying.
    opts = {"movflags": "faststart"} if container in ("mp4", "mov") else {}
    with av.open(str(path), "w", format=container, options=opts) as out:
        vs = out.add_stream("libx264", rate=fps, options={"preset": preset, "g": str(fps)})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        ds = out.add_data_stream("klv") if klv_stream else None
        for i in range(n_frames):
            t = i / fps
            shift = (i * 3) % (terrain.shape[1] - width)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(terrain[:, shift : shift + width]), format="rgb24"
            )
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for pkt in vs.encode(frame):
                out.mux(pkt)
            if ds is not None and every and i % every == 0 and t >= klv_from_s:
                values = telemetry_at(fl, t, classification)
                if not corners:
                    values = {k: v for k, v in values.items() if not k.startswith("corner_")}
                k = len(written)
                data = klv.encode(values)
                if wrong_length_every and k % wrong_length_every == 1:
                    data = _wrong_length(values)
                if bad_checksum_every and k % bad_checksum_every == 1:
                    data = data[:-1] + bytes([data[-1] ^ 0x5A])
                written.append(data)
                _mux_data(out, ds, data, round(t * 90_000))
        for pkt in vs.encode():
            out.mux(pkt)
    return written


def _wrong_length(values: dict[str, klv.Value]) -> bytes:
    """A packet whose platform heading (tag 5) is sent in 3 bytes instead of 2."""
    rest = {k: v for k, v in values.items() if k != "platform_heading"}
    return klv.encode(rest, unknown={5: b"\x10\x20\x30"})


def _mux_data(out: Any, stream: Any, data: bytes, pts: int) -> None:
    import av

    pkt = av.Packet(data)
    pkt.stream = stream
    pkt.pts = pkt.dts = pts
    pkt.time_base = Fraction(1, 90_000)
    out.mux(pkt)


def write_scene(path: Path, *, size: int = 2048, gsd: float = 0.5, seed: int = 11) -> None:
    """A georeferenced aerial scene of the flooded town (UTM 15N, `gsd` metres a pixel),
    centred where the generated flight starts; the river's flood plain has no data in one
    corner, as an orthomosaic's edge would."""
    rasterio: Any = require("rasterio", "sensors")
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.empty((3, size, size), np.uint8)
    img[0] = 96 + rng.integers(0, 20, (size, size))
    img[1] = 124 + rng.integers(0, 20, (size, size))
    img[2] = 70 + rng.integers(0, 20, (size, size))
    river = np.abs(yy - (size / 2 + np.sin(xx / 90) * size / 8)) < size / 10
    img[:, river] = np.array([[120], [96], [60]], np.uint8)  # muddy flood water
    blocks = ((xx // 64) % 3 == 0) & ((yy // 64) % 3 == 0) & ~river
    img[:, blocks] = np.array([[170], [40], [40]], np.uint8)  # rooftops
    img[:, :, : size // 8][:, : size // 8] = 0  # a corner without data
    x0, y0 = 270_857.0 - gsd * size / 2, 3_294_589.0 + gsd * size / 2  # UTM of the start
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8",
        crs="EPSG:32615", transform=from_origin(x0, y0, gsd, gsd), nodata=0,
        tiled=True, blockxsize=256, blockysize=256, compress="deflate",
    ) as dst:  # fmt: skip
        dst.write(img)
