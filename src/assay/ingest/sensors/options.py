"""Video ingest options, kept apart from the decoder so the ingest pipeline can name them
without importing PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VIDEO_TYPES = {
    ".ts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
}


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled and KLV is checked (the `assay ingest` video options)."""

    every: float = 1.0  # seconds between sampled frames; 0 keeps every frame
    scene_change: float | None = None  # also keep a frame whose mean change exceeds this (0-1)
    max_frames: int | None = None
    dedup: int | None = None  # drop a frame within this Hamming distance of a kept one
    klv: Literal["lenient", "strict"] = "lenient"
