"""Media whose item names have no suffix (`images/0001`, imported from records that name
their files so) are exported by every image format with their type's suffix, as JSONL,
Parquet and STAC write them: a file named `0001` is opened by no viewer and taken by no
`assay ingest`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from assay.formats.io import export_bundle
from assay.workspace import Workspace


def _suffixless(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    Image.new("RGB", (32, 24), (1, 2, 3)).save(src / "images" / "0001", format="PNG")
    Image.new("RGB", (32, 24), (9, 8, 7)).save(src / "images" / "0002", format="JPEG")
    box = {"kind": "box", "label": "boat", "box": [1, 1, 4, 4], "author": "user:ana"}
    records = [
        {"name": f"images/{n}", "file": f"images/{n}", "width": 32, "height": 24, "labels": [box]}
        for n in ("0001", "0002")
    ]
    (src / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    ws.import_labels(src, "jsonl", "raw")
    rows = export_bundle(ws, ws.resolve("raw", default_head=False)).rows
    assert {r.name: r.media_type for r in rows} == {"0001": "image/png", "0002": "image/jpeg"}


# format -> (media folder, how the label file names each image)
LAYOUT = {
    "coco": "images",
    "voc": "JPEGImages",
    "labelstudio": "images",
    "yolo": "images/train",
    "cvat-images": "images",
}


def _named(out: Path, fmt: str) -> list[str]:
    """The image files the export's label files name."""
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        return [img["file_name"] for img in doc["images"]]
    if fmt == "voc":
        return [
            str(ET.parse(p).getroot().findtext("filename"))
            for p in (out / "Annotations").glob("*.xml")
        ]
    if fmt == "labelstudio":
        tasks = json.loads((out / "tasks.json").read_text())
        return [t["data"]["image"].rsplit("images/", 1)[1] for t in tasks]
    if fmt == "cvat-images":
        root = ET.parse(out / "annotations.xml").getroot()
        return [str(img.get("name")) for img in root.iter("image")]
    return [p.with_suffix("").name for p in (out / "labels" / "train").glob("*.txt")]


@pytest.mark.parametrize("fmt", list(LAYOUT))
def test_media_without_a_suffix_is_exported_with_its_types(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    _suffixless(ws, tmp_path)
    out = tmp_path / "out"
    ws.export("raw", fmt, out)
    media = out / LAYOUT[fmt]
    assert sorted(p.name for p in media.iterdir()) == ["0001.png", "0002.jpg"]
    named = sorted(_named(out, fmt))
    assert named == (["0001", "0002"] if fmt == "yolo" else ["0001.png", "0002.jpg"])
    # The folder ingests as the same items, and the export imports back onto them.
    ingested = ws.ingest([media])
    assert (len(ingested.duplicate), ingested.failed) == (2, [])
    again = ws.import_labels(out, fmt, "again")
    assert (again.media, again.new_items, again.regions) == (2, 0, 2)
    names = {r.name for r in export_bundle(ws, ws.resolve("again", default_head=False)).rows}
    if fmt in ("coco", "voc", "labelstudio"):  # they keep the item's name beside the file's
        assert names == {"0001", "0002"}


def test_no_media_export_names_the_items_as_they_are(ws: Workspace, tmp_path: Path) -> None:
    # Without media the label file names the user's own files: the item names, unchanged.
    _suffixless(ws, tmp_path)
    ws.export("raw", "coco", tmp_path / "out", media=False)
    assert sorted(_named(tmp_path / "out", "coco")) == ["0001", "0002"]
