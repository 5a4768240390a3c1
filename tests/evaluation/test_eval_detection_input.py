"""Bad detection input gives one clear error naming the file and the field or index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assay.errors import InvalidInput
from assay.evaluation import DetectionParams, evaluate_detection, evaluate_detection_files


def _gt() -> dict[str, Any]:
    return {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1, "name": "flooded_road"}, {"id": 2, "name": "debris"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20], "area": 400},
        ],
    }


def _dt() -> list[dict[str, Any]]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20], "score": 0.8},
    ]


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_valid_input_without_iscrowd_evaluates(tmp_path: Path) -> None:
    r = evaluate_detection_files(
        _write(tmp_path, "gt.json", _gt()), _write(tmp_path, "dt.json", _dt())
    )
    assert r.stats[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d[1].pop("score"), r"dt\.json: detections\[1\] is missing the field 'score'"),
        (lambda d: d[0].update(score="high"), r"detections\[0\]\.score must be a finite number"),
        (lambda d: d[1].update(bbox=[1, 2, 3]), r"detections\[1\]\.bbox must be a list of 4"),
        (lambda d: d[0].update(bbox="0 0 1 1"), r"detections\[0\]\.bbox must be a list of 4"),
        (lambda d: d[1].update(image_id=99), r"detections\[1\]\.image_id 99 is not an image id"),
        (lambda d: d[0].update(category_id=7), r"detections\[0\]\.category_id 7 is not a categ"),
        (lambda d: d[1].update(image_id="a"), r"detections\[1\]\.image_id must be an integer"),
        (lambda d: d.append([1, 2]), r"detections\[2\] must be an object, got list"),
        (lambda d: d[0].update(score=float("nan")), r"detections\[0\]\.score must be a finite"),
    ],
)
def test_bad_detections_name_file_and_field(tmp_path: Path, mutate: Any, expected: str) -> None:
    dt = _dt()
    mutate(dt)
    dt_path = tmp_path / "dt.json"
    dt_path.write_text(json.dumps(dt))
    with pytest.raises(InvalidInput, match=expected):
        evaluate_detection_files(_write(tmp_path, "gt.json", _gt()), dt_path)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda g: g.pop("categories"), r"gt\.json: missing the top-level field 'categories'"),
        (lambda g: g["annotations"][1].pop("area"), r"annotations\[1\] is missing .*'area'"),
        (lambda g: g["annotations"][0].update(image_id=5), r"annotations\[0\]\.image_id 5 is not"),
        (lambda g: g["annotations"][1].update(id=1), r"annotations\[1\]\.id 1 is used by more"),
        (lambda g: g["images"].append({"name": "x"}), r"images\[2\] is missing the field 'id'"),
        (lambda g: g.update(images={}), r"'images' must be a list, got dict"),
        (lambda g: g["annotations"][0].update(iscrowd="yes"), r"annotations\[0\]\.iscrowd"),
    ],
)
def test_bad_ground_truth_names_file_and_field(tmp_path: Path, mutate: Any, expected: str) -> None:
    gt = _gt()
    mutate(gt)
    with pytest.raises(InvalidInput, match=expected):
        evaluate_detection_files(
            _write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", _dt())
        )


def test_unreadable_and_invalid_json(tmp_path: Path) -> None:
    gt = _write(tmp_path, "gt.json", _gt())
    broken = tmp_path / "dt.json"
    broken.write_text('[{"image_id": 1,')
    with pytest.raises(InvalidInput, match=r"dt\.json: not valid JSON: .*line 1"):
        evaluate_detection_files(gt, broken)
    with pytest.raises(InvalidInput, match=r"missing\.json: cannot read file"):
        evaluate_detection_files(gt, tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match=r"detections must be a JSON list"):
        evaluate_detection(_gt(), {"foo": 1})


def test_detections_may_be_wrapped_in_annotations_and_use_float_ids() -> None:
    dt = [{**d, "image_id": float(d["image_id"])} for d in _dt()]
    assert evaluate_detection(_gt(), {"annotations": dt}).stats[0] == pytest.approx(1.0)


def test_string_ids_are_supported() -> None:
    gt = _gt()
    for img in gt["images"]:
        img["id"] = f"scene-{img['id']}"
    for ann in gt["annotations"]:
        ann["image_id"] = f"scene-{ann['image_id']}"
    dt = [{**d, "image_id": f"scene-{d['image_id']}"} for d in _dt()]
    assert evaluate_detection(gt, dt).stats[1] == pytest.approx(1.0)


def test_params_are_validated() -> None:
    with pytest.raises(InvalidInput, match="max_dets must be exactly three"):
        DetectionParams(max_dets=(1, 10))
    with pytest.raises(InvalidInput, match="iou_thresholds"):
        DetectionParams(iou_thresholds=(0.9, 0.5))
    assert DetectionParams(max_dets=(100, 1, 10)).max_dets == (1, 10, 100)


def test_boolean_iscrowd_and_tuple_boxes_are_accepted() -> None:
    gt = _gt()
    gt["annotations"][0]["iscrowd"] = False
    dt = [{**d, "bbox": tuple(d["bbox"])} for d in _dt()]
    assert evaluate_detection(gt, dt).stats[0] == pytest.approx(1.0)
