"""supervision's dataset readers (``sv.DetectionDataset.from_yolo / from_coco /
from_pascal_voc``) read assay's YOLO, COCO and VOC exports and find the same boxes and classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import supervision as sv
from PIL import Image

from assay.workspace import Workspace

CATEGORIES = [(3, "boat"), (1, "person"), (7, "debris")]
# image -> (category id, x, y, w, h), whole pixels so that VOC holds them exactly
BOXES = {
    "a.png": [(3, 4, 6, 20, 10), (1, 30, 2, 8, 16)],
    "b.png": [(7, 0, 0, 64, 48)],
    "c.png": [],
    "d.png": [(1, 10, 10, 5, 5), (1, 40, 20, 12, 12), (3, 2, 30, 20, 15)],
}


def _coco_source(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    for i, (name, boxes) in enumerate(BOXES.items(), 1):
        Image.new("RGB", (64, 48), (i * 40, 90, 160)).save(folder / "images" / name)
        images.append({"id": i, "file_name": name, "width": 64, "height": 48})
        for cat, x, y, w, h in boxes:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cat,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c, "name": n} for c, n in CATEGORIES],
    }
    (folder / "annotations.json").write_text(json.dumps(doc))
    return folder / "annotations.json"


def _expected() -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    names = dict(CATEGORIES)
    return {
        name: sorted((names[c], (x, y, x + w, y + h)) for c, x, y, w, h in boxes)
        for name, boxes in BOXES.items()
    }


def _seen(ds: Any) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    out = {}
    for path, _image, det in ds:
        out[Path(path).name] = sorted(
            (ds.classes[int(c)], tuple(round(float(v), 3) for v in xyxy))
            for xyxy, c in zip(det.xyxy, det.class_id, strict=True)
        )
    return out


@pytest.fixture
def exported(ws: Workspace, tmp_path: Path) -> Path:
    ws.import_labels(_coco_source(tmp_path / "src"), "coco", "harbour")
    for fmt in ("yolo", "yolo-seg", "coco", "voc"):
        ws.export("harbour", fmt, tmp_path / fmt)
    return tmp_path


@pytest.mark.parametrize("fmt", ["yolo", "yolo-seg"])
def test_supervision_reads_the_yolo_exports(exported: Path, fmt: str) -> None:
    root = exported / fmt
    ds = sv.DetectionDataset.from_yolo(
        images_directory_path=str(root / "images/train"),
        annotations_directory_path=str(root / "labels/train"),
        data_yaml_path=str(root / "data.yaml"),
    )
    assert _seen(ds) == _expected()  # 6 decimals of 64 px: exact to 0.001 px


def test_supervision_reads_the_coco_export(exported: Path) -> None:
    root = exported / "coco"
    ds = sv.DetectionDataset.from_coco(
        images_directory_path=str(root / "images"),
        annotations_path=str(root / "annotations.json"),
    )
    assert _seen(ds) == _expected()


def test_supervision_reads_the_voc_export(exported: Path) -> None:
    root = exported / "voc"
    ds = sv.DetectionDataset.from_pascal_voc(
        images_directory_path=str(root / "JPEGImages"),
        annotations_directory_path=str(root / "Annotations"),
    )
    assert set(ds.classes) <= {"boat", "person", "debris"}
    assert _seen(ds) == _expected()
