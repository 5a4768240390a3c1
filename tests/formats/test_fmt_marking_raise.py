"""An import of any format over bytes already held raises the item's marking, never lowers it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from assay.domain.labels import Region
from assay.formats import REGISTRY
from assay.versioning import LabelRecord
from assay.workspace import Workspace


def test_every_reader_raises_an_existing_items_marking(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "frame_000001.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src")
    ws.add_items("src")
    box = Region(kind="box", control="label", label="car", box=(2, 2, 10, 10))
    ws.set_labels("src", [LabelRecord(item, [box])])
    held = ["CUI"]
    # GeoJSON and STAC carry georeferenced items only (this PNG has none): their imports
    # raise markings in test_fmt_geo_roundtrip.py.
    readers = [r for r in REGISTRY.readers() if r not in ("geojson", "stac")]
    assert {"coco", "labelstudio", "yolo", "voc", "jsonl", "parquet"} <= set(readers)
    for i, fmt in enumerate(readers):
        out = tmp_path / fmt
        ws.export("src", fmt, out)
        source = out / "annotations.json" if fmt == "coco" else out
        report = ws.import_labels(source, fmt, f"copy{i}", marking=f"CUI/C{i}")
        old = "/".join(held) if i else "UNCLASSIFIED"
        held.append(f"C{i}")
        assert [c.to_dict() for c in report.raised] == [
            {"item": item, "old": old, "new": "/".join(held)}
        ], fmt
        # The same import with a lower marking changes nothing.
        again = ws.import_labels(source, fmt, f"copy{i}", marking="UNCLASSIFIED")
        assert again.raised == [], fmt
    marks = [e.details for e in ws.audit_log() if e.action == "item.mark"]
    assert [m["via"] for m in marks] == ["import"] * len(readers)


def test_a_no_media_reimport_raises_the_items_it_names(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "scene.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src")
    ws.add_items("src")
    for fmt in ("jsonl", "parquet"):
        ws.export("src", fmt, tmp_path / fmt, media=False)
    first = ws.import_labels(tmp_path / "jsonl", "jsonl", "again", marking="SECRET")
    assert [c.to_dict() for c in first.raised] == [
        {"item": item, "old": "UNCLASSIFIED", "new": "SECRET"}
    ]
    second = ws.import_labels(tmp_path / "parquet", "parquet", "again", marking="CUI/SAR")
    assert [c.new for c in second.raised] == ["SECRET/SAR"]
