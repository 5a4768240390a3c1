"""Detection metrics of a run: COCO AP through `evaluate_detection`, F1 at IoU 0.5.

Images are the bootstrap unit (a clustered bootstrap): a resample draws images with
replacement, renumbers them and evaluates again, so AP intervals respect that boxes in one
image are not independent. Results are cached per resample, so AP and AP50 share one
evaluation. F1 counts, per image, true positives (a detection with score >= the threshold
matched greedily, best score first, to an unmatched ground-truth box of its class with IoU
>= 0.5), false positives and missed boxes; with an object size, boxes outside the COCO area
range are left out of the counts as COCOeval ignores them. Precision (tp / (tp + fp)) and
recall (tp / (tp + fn)) come from the same counts; `assay fuse` takes a model's precision from
its newest run as the reliability of its detections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assay.domain.labels import box_iou
from assay.evaluation import DetectionResult, evaluate_detection
from assay.evaluation.runs._slices import SIZE_RANGES

Box = tuple[float, float, float, float]
METRICS = ("AP", "AP50", "F1", "precision", "recall")


@dataclass
class ImageBoxes:
    """Ground truth and detections of one image."""

    gt: list[tuple[str, Box, int]] = field(default_factory=list)  # label, xywh, iscrowd
    dt: list[tuple[str, Box, float]] = field(default_factory=list)  # label, xywh, score


def coco_eval(images: Sequence[ImageBoxes], categories: Sequence[str]) -> DetectionResult:
    """COCO evaluation of the images as given (a repeated image counts twice)."""
    cat = {c: k for k, c in enumerate(categories, 1)}
    anns: list[dict[str, object]] = []
    dets: list[dict[str, object]] = []
    for i, im in enumerate(images, 1):
        for label, b, crowd in im.gt:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cat[label],
                    "bbox": list(b),
                    "area": b[2] * b[3],
                    "iscrowd": crowd,
                }
            )
        dets.extend(
            {"image_id": i, "category_id": cat[label], "bbox": list(b), "score": s}
            for label, b, s in im.dt
        )
    gt = {
        "images": [{"id": i} for i in range(1, len(images) + 1)],
        "categories": [{"id": k, "name": c} for c, k in cat.items()],
        "annotations": anns,
    }
    return evaluate_detection(gt, dets)


def _nan(v: float) -> float:
    return float("nan") if v < 0 else float(v)


def ap_values(result: DetectionResult, size: str | None) -> dict[str, float]:
    """AP@[.5:.95] and AP50 for all boxes or one COCO size range (NaN without ground truth)."""
    area = size or "all"
    return {
        "AP": _nan(result.stat_value(ap=True, area=area)),
        "AP50": _nan(result.stat_value(ap=True, iou=0.5, area=area)),
    }


def _in_size(b: Box, size: str | None) -> bool:
    if size is None:
        return True
    lo, hi = SIZE_RANGES[size]
    return lo <= b[2] * b[3] <= hi


def holds_size(im: ImageBoxes, size: str) -> bool:
    """Whether COCO scores anything of the image in `size`'s area range (bounds included, as
    pycocotools' areaRng): a ground-truth box that is no crowd region, or a detection.
    Anything else it ignores, so an image without either adds nothing to AP_small (or F1)."""
    return any(c == 0 and _in_size(b, size) for _lab, b, c in im.gt) or any(
        _in_size(b, size) for _lab, b, _s in im.dt
    )


def f1_counts(im: ImageBoxes, threshold: float, size: str | None = None) -> tuple[int, int, int]:
    """(true positives, false positives, missed boxes) of one image at IoU 0.5."""
    dets = sorted((d for d in im.dt if d[2] >= threshold), key=lambda d: -d[2])
    used = [False] * len(im.gt)
    tp = fp = 0
    for label, b, _s in dets:
        best, best_iou = -1, 0.5
        for j, (gl, gb, _c) in enumerate(im.gt):
            if not used[j] and gl == label:
                iou = box_iou(b, gb)
                if iou >= best_iou:
                    best, best_iou = j, iou
        if best >= 0:
            used[best] = True
            if _in_size(im.gt[best][1], size):
                tp += 1
        elif _in_size(b, size):
            fp += 1
    fn = sum(1 for j, g in enumerate(im.gt) if not used[j] and g[2] == 0 and _in_size(g[1], size))
    return tp, fp, fn


def f1_of(tp: float, fp: float, fn: float) -> float:
    den = 2 * tp + fp + fn
    return float(2 * tp / den) if den else float("nan")


def metric_fns(
    images: Sequence[ImageBoxes], categories: Sequence[str], size: str | None, threshold: float
) -> dict[str, Callable[[pd.DataFrame], float]]:
    """Bootstrap-ready metrics over a frame with a ``pos`` column indexing `images`."""
    cache: dict[bytes, dict[str, float]] = {}

    def ap(frame: pd.DataFrame) -> dict[str, float]:
        pos = frame["pos"].to_numpy(np.int64)
        key = pos.tobytes()
        if key not in cache:
            cache[key] = ap_values(coco_eval([images[p] for p in pos], categories), size)
        return cache[key]

    counts = np.array([f1_counts(im, threshold, size) for im in images], dtype=np.float64)

    def f1(frame: pd.DataFrame) -> float:
        tp, fp, fn = counts[frame["pos"].to_numpy(np.int64)].sum(axis=0)
        return f1_of(tp, fp, fn)

    def precision(frame: pd.DataFrame) -> float:  # the fusion's reliability of the model
        tp, fp, _ = counts[frame["pos"].to_numpy(np.int64)].sum(axis=0)
        return float(tp / (tp + fp)) if tp + fp else float("nan")

    def recall(frame: pd.DataFrame) -> float:
        tp, _, fn = counts[frame["pos"].to_numpy(np.int64)].sum(axis=0)
        return float(tp / (tp + fn)) if tp + fn else float("nan")

    return {
        "AP": lambda f: ap(f)["AP"],
        "AP50": lambda f: ap(f)["AP50"],
        "F1": f1,
        "precision": precision,
        "recall": recall,
    }
