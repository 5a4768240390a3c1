"""Decision support: detections and reports fused into entities and tracks, kept as pictures.

`pictures` saves and reads versions of a picture (entities); `fuse` (with the `fusion` extra,
Stone Soup) builds them from detections on georeferenced items, field reports and external
tracks; `scenario` simulates a ground-truth world to measure fusion against.
"""

from __future__ import annotations

from assay.fusion import pictures

__all__ = ["pictures"]
