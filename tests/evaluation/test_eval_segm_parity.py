"""Segmentation evaluation equals pycocotools' COCOeval(iouType='segm'), bit for bit."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coco_eval_fixtures import _counts, pycocotools_eval, random_coco_segm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from assay.errors import InvalidInput
from assay.evaluation import DetectionParams, evaluate_detection

SEGM = DetectionParams(iou_type="segm")


def assert_same(gt: dict[str, Any], dt: list[dict[str, Any]], max_dets=(1, 10, 100)) -> None:
    ev = pycocotools_eval(gt, dt, max_dets, iou_type="segm")
    ours = evaluate_detection(gt, dt, DetectionParams(iou_type="segm", max_dets=max_dets))
    assert ours.stats == tuple(ev.stats.tolist())
    assert np.array_equal(ours.precision, ev.eval["precision"])
    assert np.array_equal(ours.recall, ev.eval["recall"])
    assert np.array_equal(ours.scores, ev.eval["scores"])
    # per category (area all, largest maxDets) as pycocotools' arrays give it
    for k, c in enumerate(ours.per_class()):
        p = ev.eval["precision"][:, :, k, 0, -1]
        assert c.ap == (float(np.mean(p[p > -1])) if (p > -1).any() else None)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), det_boxes=st.booleans())
def test_matches_pycocotools_on_generated_masks(seed: int, det_boxes: bool) -> None:
    gt, dt = random_coco_segm(np.random.default_rng(seed), det_boxes=det_boxes)
    if not dt:  # pycocotools' loadRes cannot take an empty list
        return
    assert_same(gt, dt)


@pytest.mark.parametrize("seed", [1, 2])
def test_larger_fixture_with_max_dets_cutting_in(seed: int) -> None:
    gt, dt = random_coco_segm(
        np.random.default_rng(seed), n_images=24, n_cats=4, gt_per_image=10, dt_per_image=25
    )
    assert_same(gt, dt)
    assert_same(gt, dt, max_dets=(1, 3, 6))


def _scene() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One image: a crowd region (uncompressed RLE), a two-part object, a polygon."""
    h, w = 40, 60
    crowd = np.zeros((h, w), dtype=np.uint8)
    crowd[20:40, 0:30] = 1
    two = [[40.0, 2.0, 50.0, 2.0, 50.0, 12.0, 40.0, 12.0], [40.0, 20.0, 50.0, 20.0, 50.0, 30.0]]
    gt = {
        # image 3 has neither ground truth nor detections
        "images": [{"id": i, "height": h, "width": w} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "debris"}, {"id": 2, "name": "vehicle"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [h, w], "counts": _counts(crowd)},
                "area": 600.0,
                "iscrowd": 1,
                "bbox": [0, 20, 30, 20],
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": two,
                "area": 150.0,
                "iscrowd": 0,
                "bbox": [40, 2, 10, 28],
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 2,
                "segmentation": [[2.0, 2.0, 20.0, 2.0, 20.0, 15.0, 2.0, 15.0]],
                "area": 234.0,
                "iscrowd": 0,
                "bbox": [2, 2, 18, 13],
            },
        ],
    }

    def rle(polys: list[list[float]]) -> dict[str, Any]:
        r = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        return {"size": r["size"], "counts": r["counts"].decode()}

    dt = [
        # three detections inside the crowd region: all absorbed, none a false positive
        {
            "image_id": 1,
            "category_id": 1,
            "score": 0.9,
            "segmentation": rle([[2, 22, 12, 22, 12, 32, 2, 32]]),
        },
        {
            "image_id": 1,
            "category_id": 1,
            "score": 0.8,
            "segmentation": rle([[14, 22, 28, 22, 28, 38, 14, 38]]),
        },
        {
            "image_id": 1,
            "category_id": 1,
            "score": 0.7,
            "segmentation": rle([[0, 20, 30, 20, 30, 40, 0, 40]]),
        },
        # the two-part object found as a whole
        {"image_id": 1, "category_id": 1, "score": 0.6, "segmentation": rle(two)},
        {
            "image_id": 1,
            "category_id": 2,
            "score": 0.5,
            "segmentation": rle([[2, 2, 20, 2, 20, 14, 2, 14]]),
        },
        # image 2 has no ground truth: a false positive
        {"image_id": 2, "category_id": 2, "score": 0.4, "segmentation": rle([[2, 2, 9, 2, 9, 9]])},
    ]
    return gt, dt


def test_crowd_regions_absorb_detections_and_multi_polygon_objects_match_whole() -> None:
    gt, dt = _scene()
    assert_same(gt, dt)
    r = evaluate_detection(gt, dt, SEGM)
    per = {c.name: c for c in r.per_class()}
    assert per["debris"].ap50 == pytest.approx(1.0)  # crowd hits are neither TP nor FP
    # without the crowd rule the three detections in the crowd region would be false positives
    no_crowd = copy.deepcopy(gt)
    no_crowd["annotations"][0]["iscrowd"] = 0
    assert evaluate_detection(no_crowd, dt, SEGM).per_class()[0].ap50 < 0.7


def test_empty_detections_and_images_without_anything() -> None:
    gt, _ = _scene()
    r = evaluate_detection(gt, [], SEGM)
    assert r.stats[0] == 0.0 and r.stats[8] == 0.0


def test_corrected_mode_uses_mask_area_for_boxed_detections() -> None:
    gt, dt = random_coco_segm(np.random.default_rng(3), n_images=12, det_boxes=True)
    compat = evaluate_detection(gt, dt, SEGM)
    fixed = evaluate_detection(gt, dt, DetectionParams(iou_type="segm", mode="corrected"))
    no_box = [{k: v for k, v in d.items() if k != "bbox"} for d in dt]
    plain = evaluate_detection(gt, no_box, SEGM)
    assert np.array_equal(fixed.precision, plain.precision)  # areas from the masks
    assert compat.stats == tuple(pycocotools_eval(gt, dt, iou_type="segm").stats.tolist())


def test_box_only_detections_are_evaluated_as_box_polygons_like_pycocotools() -> None:
    gt, dt = _scene()
    boxes = [
        {k: v for k, v in d.items() if k != "segmentation"}
        | {"bbox": [float(v) for v in mask_utils.toBbox(d["segmentation"])]}
        for d in dt
    ]
    assert_same(gt, boxes)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("gt", [], "annotations[1].segmentation: empty"),
        ("gt", [[1, 2, 3, 4]], "polygon 0 must be a list of x, y pairs"),
        ("gt", {"size": [40, 60], "counts": [5, 5]}, "add up to 10 pixels"),
        ("gt", {"size": [41, 60], "counts": [2460]}, "differs from the image's [40, 60]"),
        ("dt", {"size": [40, 60], "counts": "0\x7f"}, "detections[0].segmentation: counts is not"),
        ("dt", {"size": [40, 60], "counts": "3P"}, "counts is not a COCO RLE string"),
        ("dt", {"size": [20, 120], "counts": [2400]}, "size [20, 120] differs from the image"),
    ],
)
def test_bad_segmentations_are_one_clear_error(where: str, value: Any, message: str) -> None:
    gt, dt = _scene()
    if where == "gt":
        gt["annotations"][1]["segmentation"] = value
    else:
        dt[0]["segmentation"] = value
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        evaluate_detection(gt, dt, SEGM)


def test_polygon_without_image_size_is_an_error() -> None:
    gt, dt = _scene()
    del gt["images"][0]["height"], gt["images"][0]["width"]
    with pytest.raises(InvalidInput, match=r"needs its image's height and width"):
        evaluate_detection(gt, dt, SEGM)


def test_cli_segm_json_equals_pycocotools(cli: Any, tmp_path: Path) -> None:
    gt, dt = random_coco_segm(np.random.default_rng(12), n_images=10)
    ref = pycocotools_eval(gt, dt, iou_type="segm").stats
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    args = ["--gt", tmp_path / "gt.json", "--predictions", tmp_path / "dt.json"]
    doc = cli("eval", "detection", *args, "--iou-type", "segm", "--json").json()
    assert doc["stats"] == ref.tolist() and doc["iou_type"] == "segm"


def test_coco_export_of_a_workspace_evaluates_like_pycocotools(
    ws: Any, tmp_path: Path, cli: Any
) -> None:
    """Crowd RLE and two-part objects through import, a COCO export and `--iou-type segm`."""
    from PIL import Image

    gt, dt = _scene()
    src = tmp_path / "src"
    src.mkdir()
    for img in gt["images"]:
        img["file_name"] = f"scene_{img['id']}.png"
        Image.new("RGB", (img["width"], img["height"]), (9, 9, 9 * img["id"])).save(
            src / img["file_name"]
        )
    (src / "instances.json").write_text(json.dumps(gt))
    ws.import_labels(src / "instances.json", "coco", "flood")
    ws.export("flood", "coco", tmp_path / "out", media=False)
    exported = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert sum(a["iscrowd"] for a in exported["annotations"]) == 1
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    args = ["--gt", tmp_path / "out" / "annotations.json", "--iou-type", "segm", "--json"]
    doc = cli("eval", "detection", *args, "--predictions", tmp_path / "dt.json").json()
    assert doc["stats"] == pycocotools_eval(exported, dt, iou_type="segm").stats.tolist()
    assert doc["stats"] == pycocotools_eval(gt, dt, iou_type="segm").stats.tolist()
    itself = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "score": 1.0,
            "segmentation": a["segmentation"],
        }
        for a in exported["annotations"]
    ]
    assert evaluate_detection(exported, itself, SEGM).stats[0] == pytest.approx(1.0)
