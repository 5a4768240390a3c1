"""COCO keeps what COCO holds: crowd RLE masks, multi-polygon objects, the file's area,
supercategory, licenses and info; every export evaluates to AP 1.0 against itself in
pycocotools, for boxes and for masks."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from assay.domain.labels import Region
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats.io import import_bundle
from assay.workspace import Workspace

W, H = 80, 60


def _crowd_masks() -> tuple[dict[str, Any], dict[str, Any]]:
    """A crowd mask as compressed RLE (a string) and another as uncompressed RLE (a list)."""
    m = np.zeros((H, W), dtype=np.uint8, order="F")
    m[30:50, 10:40] = 1
    m[35:45, 45:70] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    compressed = {"size": [H, W], "counts": rle["counts"].decode()}
    m2 = np.zeros((H, W), dtype=np.uint8)
    m2[2:12, 60:75] = 1
    flat = m2.flatten(order="F")
    counts, current, run = [], 0, 0
    for px in flat:
        if px != current:
            counts.append(run)
            current, run = px, 0
        run += 1
    counts.append(run)
    return compressed, {"size": [H, W], "counts": [int(c) for c in counts]}


def _source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(["a.png", "b.png"]):
        Image.new("RGB", (W, H), (k * 80, 90, 160)).save(folder / name)
    crowd, crowd_list = _crowd_masks()
    doc = {
        "info": {"description": "Flood survey 2026", "version": "2.1", "year": 2026},
        "licenses": [{"id": 4, "name": "CC-BY-4.0", "url": "https://example.org/cc-by"}],
        "images": [
            {"id": 21, "file_name": "a.png", "width": W, "height": H, "license": 4},
            {"id": 9, "file_name": "b.png", "width": W, "height": H, "license": 4},
        ],
        "categories": [
            {"id": 5, "name": "person", "supercategory": "human"},
            {"id": 2, "name": "car", "supercategory": "vehicle"},
            {"id": 8, "name": "boat", "supercategory": "vehicle"},
        ],
        "annotations": [
            # One car seen in two parts behind a tree: one object, two rings.
            {
                "id": 100,
                "image_id": 21,
                "category_id": 2,
                "segmentation": [[2, 2, 20, 2, 20, 15, 2, 15], [25, 3, 35, 3, 30, 14]],
                "bbox": [2, 2, 33, 13],
                "area": 290.0,
                "iscrowd": 0,
            },
            # A crowd of people: compressed RLE.
            {
                "id": 101,
                "image_id": 21,
                "category_id": 5,
                "segmentation": crowd,
                "bbox": [10.0, 30.0, 60.0, 20.0],
                "area": 850.0,
                "iscrowd": 1,
            },
            # A box whose area the file states as the mask area of the object (not w*h).
            {
                "id": 102,
                "image_id": 9,
                "category_id": 2,
                "bbox": [40, 20, 20, 10],
                "area": 163.5,
                "segmentation": [[40, 20, 60, 20, 60, 30, 40, 30]],
                "iscrowd": 0,
            },
            # Another crowd: uncompressed RLE, as the COCO files of many tools have it.
            {
                "id": 103,
                "image_id": 9,
                "category_id": 8,
                "segmentation": crowd_list,
                "bbox": [60.0, 2.0, 15.0, 10.0],
                "area": 150.0,
                "iscrowd": 1,
            },
            # A simple polygon.
            {
                "id": 104,
                "image_id": 9,
                "category_id": 5,
                "segmentation": [[5, 40, 15, 42, 12, 55]],
                "bbox": [5, 40, 10, 15],
                "area": 59.0,
                "iscrowd": 0,
            },
        ],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def _strip(a: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in a.items() if k != "id"}
    out["bbox"] = [float(c) for c in a["bbox"]]
    if isinstance(a["segmentation"], list):
        out["segmentation"] = [[float(c) for c in ring] for ring in a["segmentation"]]
    return out


def test_coco_round_trip_keeps_crowds_objects_area_and_file_facts(
    ws: Workspace, tmp_path: Path
) -> None:
    src = _source(tmp_path / "src")
    ws.import_labels(src, "coco", "survey")
    ws.commit("survey", "imported")
    res = ws.export("survey@HEAD", "coco", tmp_path / "out", media=False, strict=True)
    assert res["dropped"] == {}
    got = json.loads((tmp_path / "out" / "annotations.json").read_text())
    want = json.loads(src.read_text())
    assert got["categories"] == want["categories"]
    assert got["licenses"] == want["licenses"]
    assert {k: got["info"][k] for k in want["info"]} == want["info"]
    assert got["info"]["marking"] == "UNCLASSIFIED"
    assert [(im["id"], im["file_name"], im["license"]) for im in got["images"]] == [
        (9, "b.png", 4),
        (21, "a.png", 4),
    ]
    # Annotation for annotation, every field as the file had it (ids are renumbered).
    key = lambda a: (a["image_id"], a["category_id"], a["bbox"][0])  # noqa: E731
    assert sorted(map(_strip, got["annotations"]), key=key) == sorted(
        map(_strip, want["annotations"]), key=key
    )


def _evaluate(gt_path: Path, iou_type: str) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dets = []
        for a in gt.dataset["annotations"]:
            d = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0}
            d["bbox" if iou_type == "bbox" else "segmentation"] = (
                a["bbox"] if iou_type == "bbox" else gt.annToRLE(a)
            )
            dets.append(d)
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_every_coco_export_evaluates_to_ap_1_against_itself(
    ws: Workspace, tmp_path: Path, iou_type: str
) -> None:
    # A file with crowds and multi-part objects, and a dataset of plain boxes and polygons.
    ws.import_labels(_source(tmp_path / "src"), "coco", "survey")
    folder = tmp_path / "img"
    folder.mkdir()
    Image.new("RGB", (W, H), (1, 2, 3)).save(folder / "c.png")
    m = ImportedMedia(name="c.png", path=folder / "c.png", width=W, height=H)
    m.annotations.append(
        ImportedAnnotation(
            [
                Region(kind="box", label="car", box=(1.5, 2.5, 20.0, 10.0)),
                Region(kind="box", label="person", box=(30.0, 30.0, 5.0, 12.0), score=0.7),
                Region(kind="polygon", label="boat", points=((50, 40), (70, 42), (60, 58))),
            ],
            author="user:ana",
        )
    )
    import_bundle(ws, ImportBundle(media=[m]), "plain")
    for name in ("survey", "plain"):
        out = tmp_path / f"out-{name}"
        ws.export(name, "coco", out, media=False)
        doc = json.loads((out / "annotations.json").read_text())
        # Boxes carry their rectangle as segmentation: never [] (pycocotools segm fails on it).
        assert all(a["segmentation"] for a in doc["annotations"])
        assert _evaluate(out / "annotations.json", iou_type) == pytest.approx(1.0)


def test_box_only_segmentation_forms_that_break_pycocotools(tmp_path: Path) -> None:
    """Why boxes are written with a rectangle: `[]` and a missing key both fail segm eval."""
    base = {"images": [{"id": 1, "width": W, "height": H, "file_name": "a.png"}]}
    base["categories"] = [{"id": 1, "name": "car"}]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9], "area": 81}
    for seg, error in (([], IndexError), (None, KeyError)):
        doc = copy.deepcopy(base)
        a = dict(ann)
        if seg is not None:
            a["segmentation"] = seg
        doc["annotations"] = [a]
        path = tmp_path / "gt.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(error):
            _evaluate(path, "segm")
