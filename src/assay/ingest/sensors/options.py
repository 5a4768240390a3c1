"""Sensor ingest options, kept apart from the decoders so the ingest pipeline can name them
without importing PyAV or rasterio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assay.errors import InvalidInput

VIDEO_TYPES = {
    ".ts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",  # as DJI and other drones record
}
# Read as scenes through rasterio's bundled GDAL. TIFFs are scenes only when georeferenced;
# a plain TIFF stays an image.
SCENE_TYPES = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".ntf": "application/vnd.nitf",
    ".nitf": "application/vnd.nitf",
    ".jp2": "image/jp2",
}
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled and KLV is checked (the `assay ingest` video options)."""

    every: float = 1.0  # seconds between sampled frames; 0 keeps every frame
    scene_change: float | None = None  # also keep a frame whose mean change exceeds this (0-1)
    max_frames: int | None = None
    dedup: int | None = None  # drop a frame within this Hamming distance of a kept one
    klv: Literal["lenient", "strict"] = "lenient"


@dataclass(frozen=True)
class ChipOptions:
    """How a georeferenced scene is cut into chips (the `assay ingest` scene options)."""

    size: int = 512
    overlap: int = 64
    bands: tuple[int, ...] | None = None  # 1-based bands of the display rendering
    # Percentiles mapped to 0 and 255; None: 8-bit bands as they are, others 2 to 98.
    stretch: tuple[float, float] | None = None


@dataclass(frozen=True)
class SensorOptions:
    video: VideoOptions = VideoOptions()
    chips: ChipOptions = ChipOptions()


def display_bands(count: int, options: ChipOptions) -> tuple[int, ...]:
    """The 1-based bands a chip's PNG shows for a scene of `count` bands (InvalidInput for
    bands the scene lacks, or more than a PNG holds)."""
    if options.bands:
        bad = [b for b in options.bands if not 1 <= b <= count]
        if bad:
            raise InvalidInput(f"--bands {bad[0]}: the scene has bands 1 to {count}")
        if len(options.bands) > 4:
            shown = len(options.bands)
            raise InvalidInput(f"--bands: a chip's PNG shows 1 to 4 bands, not {shown}")
        return options.bands
    return (1, 2, 3) if count >= 3 else (1,)


def display_percentiles(
    dtypes: tuple[str, ...], bands: tuple[int, ...], options: ChipOptions
) -> list[float] | None:
    """The percentiles the display stretch maps to 0 and 255 (None: 8-bit, shown as is)."""
    if options.stretch is not None:
        return list(options.stretch)
    return None if all(dtypes[b - 1] == "uint8" for b in bands) else [2.0, 98.0]
