"""`export --scene`: chip labels back in scene pixels, objects cut by chip borders and
objects in the shared strip merged into one, checked through COCO and pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from assay import Workspace
from assay.domain import Region
from assay.versioning import LabelRecord
from cli_support import item_ids

# A 900 x 500 scene cut with --chip 512 --overlap 64: chips at columns 0 and 388.
OBJECTS = {
    "cut": (300, 100, 300, 80),  # crosses both chips' borders
    "shared": (420, 300, 40, 40),  # inside the shared strip 388..512
    "left": (50, 50, 60, 60),
    "right": (700, 200, 80, 50),
}


def _clip(box: tuple[float, ...], col: int, size: int = 512) -> tuple[float, ...] | None:
    """The part of a scene box a chip at `col` sees, in that chip's pixels."""
    x, y, w, h = box
    x0, x1 = max(x, col), min(x + w, col + size)
    if x1 <= x0:
        return None
    return (x0 - col, y, x1 - x0, h)


def test_scene_export_merges_objects_cut_by_chip_borders(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    arr = np.random.default_rng(2).integers(1, 255, (3, 500, 900), dtype=np.uint8)
    with rasterio.open(
        tmp_path / "s.tif", "w", driver="GTiff", width=900, height=500, count=3, dtype="uint8",
        crs="EPSG:32615", transform=from_origin(270_000, 3_295_000, 0.5, 0.5),
    ) as dst:  # fmt: skip
        dst.write(arr)
    polygon = ((350.0, 420.0), (470.0, 400.0), (470.0, 480.0), (350.0, 470.0))
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([tmp_path / "s.tif"])
    chips = item_ids(ws, children=True)
    assert set(chips) == {"s.tif#col=0&row=0", "s.tif#col=388&row=0"}
    records = []
    for name, col in (("s.tif#col=0&row=0", 0), ("s.tif#col=388&row=0", 388)):
        regions = [
            Region(kind="box", label=label, box=clipped)
            for label, box in OBJECTS.items()
            if (clipped := _clip(box, col)) is not None
        ]
        # A polygon across the border, drawn on each side up to the chip's edge.
        lo, hi = (350.0, 512.0) if col == 0 else (388.0, 470.0)
        regions.append(Region(kind="polygon", label="water", points=tuple(
            (min(max(x, lo), hi) - col, y) for x, y in polygon)))  # fmt: skip
        regions.append(Region(kind="choice", control="damage", label="minor"))
        records.append(LabelRecord(chips[name], regions, authors=["user:ana"]))
    ws.create_dataset("chips")
    ws.add_items("chips", "media_type=image/png")
    ws.set_labels("chips", records)
    ws.close()
    out = tmp_path / "out"
    cli(
        "export",
        "chips",
        "--format",
        "coco",
        "--scene",
        "--no-media",
        "--out",
        out,
        cwd=tmp_path / "ws",
    )
    coco = json.loads((out / "annotations.json").read_text())
    (image,) = coco["images"]
    assert (image["width"], image["height"], image["file_name"]) == (900, 500, "s.tif")
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes = sorted(
        (names[a["category_id"]], tuple(a["bbox"]))
        for a in coco["annotations"]
        if names[a["category_id"]] != "water"
    )
    assert boxes == sorted((label, tuple(float(v) for v in box)) for label, box in OBJECTS.items())
    (water,) = [a for a in coco["annotations"] if names[a["category_id"]] == "water"]
    assert water["bbox"] == [350.0, 400.0, 120.0, 80.0]
    # Without --scene the same dataset exports its two chips.
    cli(
        "export",
        "chips",
        "--format",
        "coco",
        "--no-media",
        "--out",
        tmp_path / "c",
        cwd=tmp_path / "ws",
    )
    assert len(json.loads((tmp_path / "c" / "annotations.json").read_text())["images"]) == 2
