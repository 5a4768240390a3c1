"""YOLO class ids through a workspace: kept as the file has them, new classes appended, and
what a layout cannot carry reported with the export."""

from __future__ import annotations

from pathlib import Path

import yaml
from PIL import Image

from assay.workspace import Workspace


def _yolo(root: Path, image: str, color: int, names: list[str], rows: str) -> Path:
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    Image.new("RGB", (64, 48), (color, 90, 160)).save(root / "images/train" / image)
    (root / "labels/train" / image).with_suffix(".txt").write_text(rows)
    (root / "data.yaml").write_text(
        yaml.safe_dump({"train": "images/train", "names": names}, allow_unicode=True)
    )
    return root


def test_class_ids_stay_and_new_classes_append(ws: Workspace, tmp_path: Path) -> None:
    # café is listed second and used, mug is listed and never used: both keep their index.
    first = _yolo(tmp_path / "a", "x.png", 10, ["cup", "café", "mug"], "1 0.5 0.5 0.2 0.2\n")
    ws.import_labels(first, "yolo", "kitchen")
    second = _yolo(
        tmp_path / "b", "y.png", 20, ["bowl", "cup"], "0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n"
    )
    ws.import_labels(second, "yolo", "kitchen")
    for fmt in ("yolo", "yolo-seg"):
        out = tmp_path / fmt
        ws.export("kitchen", fmt, out, media=False)
        doc = yaml.safe_load((out / "data.yaml").read_text())
        assert doc["names"] == {0: "cup", 1: "café", 2: "mug", 3: "bowl"}
        assert [ln.split()[0] for ln in (out / "labels/train/x.txt").read_text().splitlines()] == [
            "1"
        ]
        assert [ln.split()[0] for ln in (out / "labels/train/y.txt").read_text().splitlines()] == [
            "3",
            "0",
        ]


def test_each_layout_reports_what_it_converts(ws: Workspace, tmp_path: Path) -> None:
    src = _yolo(
        tmp_path / "src",
        "x.png",
        30,
        ["roof", "car"],
        "0 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.5 0.5 0.2 0.2\n",  # a polygon and a box
    )
    ws.import_labels(src, "yolo", "mixed")
    det = ws.export("mixed", "yolo", tmp_path / "det", media=False)
    assert det["dropped"] == {"polygon outline (written as its bounding box)": 1}
    seg = ws.export("mixed", "yolo-seg", tmp_path / "seg", media=False)
    assert seg["dropped"] == {"box (written as a 4-corner polygon)": 1}
