"""COCO box and mask evaluation, numerically identical to pycocotools.

The default mode, ``"pycocotools"``, reproduces pycocotools' `COCOeval`
(iouType ``bbox``, or ``segm`` with ``DetectionParams(iou_type="segm")``)
including its quirks, so numbers are comparable with published ones. The
``"corrected"`` mode changes exactly two things (three for masks):

* the headline AP (stat 0) is taken at ``max_dets[2]`` instead of the fixed
  100 that pycocotools' `summarize` hard-codes (with custom ``max_dets`` such
  as ``(1, 10, 300)`` pycocotools reports AP at 100 detections, or -1 if 100
  is not among them; see cocoapi issues #558, #584, #565);
* a detection matched to a ground-truth box whose annotation id is 0 counts
  as a true positive (pycocotools tests the stored id for truth and turns such
  a match into a false positive);
* with masks, a detection's area (for the area ranges) is always its mask's
  pixel count (pycocotools takes the box's w * h whenever the first result
  carries a ``bbox``).

Masks (polygons, uncompressed and compressed RLE, crowd regions) are read as
pycocotools' ``annToRLE`` reads them; see `assay.evaluation._segm_input`.

Input is checked more strictly than pycocotools (which silently drops or
crashes): annotations naming an unknown image or category, duplicate
annotation ids, detections naming an unknown image or category are errors;
a missing ``iscrowd`` means 0; an empty detection list evaluates (AP 0 for
every category with ground truth). As in pycocotools, a GT ``ignore`` field is
disregarded (only ``iscrowd`` marks ignore regions) and the detection's area
is its box's w * h.

Example:
    >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "boat"}],
    ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
    ...                        "bbox": [10, 10, 50, 40], "area": 2000, "iscrowd": 0}]}
    >>> dt = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 50, 40], "score": 0.9}]
    >>> round(evaluate_detection(gt, dt).stats[1], 3)
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidInput
from assay.evaluation._coco_input import load_json, read_detections, read_ground_truth
from assay.evaluation._det_accumulate import STAT_LABELS, accumulate, summarize, summarize_value
from assay.evaluation._det_match import match

DetectionMode = Literal["pycocotools", "corrected"]
IouType = Literal["bbox", "segm"]

# The same expressions pycocotools uses, so the thresholds are the same doubles.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(
    np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True).tolist()
)
COCO_REC_THRESHOLDS: tuple[float, ...] = tuple(
    np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True).tolist()
)
COCO_AREA_RANGES: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e5**2),
    ("small", 0.0, 32.0**2),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, 1e5**2),
)
STAT_NAMES: tuple[str, ...] = tuple(s[0] for s in STAT_LABELS)


@dataclass(frozen=True)
class DetectionParams:
    """Evaluation settings; the defaults are COCO's.

    Attributes:
        iou_thresholds: IoU thresholds, ascending.
        rec_thresholds: Recall sampling points, ascending.
        max_dets: Exactly three caps on detections per image and category.
        area_ranges: ``(label, low, high)`` on the annotation's stored ``area``,
            both ends inclusive; the summary uses labels all/small/medium/large.
        mode: ``"pycocotools"`` (default) or ``"corrected"``, see the module doc.
        iou_type: ``"bbox"`` (default) or ``"segm"``: IoU of masks (polygons, RLE), as
            pycocotools' ``iouType='segm'``.
    """

    iou_thresholds: tuple[float, ...] = COCO_IOU_THRESHOLDS
    rec_thresholds: tuple[float, ...] = COCO_REC_THRESHOLDS
    max_dets: tuple[int, ...] = (1, 10, 100)
    area_ranges: tuple[tuple[str, float, float], ...] = COCO_AREA_RANGES
    mode: DetectionMode = "pycocotools"
    iou_type: IouType = "bbox"

    def __post_init__(self) -> None:
        for name in ("iou_thresholds", "rec_thresholds"):
            vals = np.asarray(getattr(self, name), dtype=float)
            if vals.size == 0 or np.any(np.diff(vals) < 0) or vals.min() < 0 or vals.max() > 1:
                raise InvalidInput(f"{name} must be a non-empty ascending list of values in [0, 1]")
        if len(self.max_dets) != 3 or any(int(m) < 1 for m in self.max_dets):
            raise InvalidInput("max_dets must be exactly three positive integers, e.g. 1,10,100")
        object.__setattr__(self, "max_dets", tuple(sorted(int(m) for m in self.max_dets)))
        if not self.area_ranges:
            raise InvalidInput("area_ranges must not be empty")
        if self.mode not in ("pycocotools", "corrected"):
            raise InvalidInput(f"mode must be 'pycocotools' or 'corrected', got {self.mode!r}")
        if self.iou_type not in ("bbox", "segm"):
            raise InvalidInput(f"iou_type must be 'bbox' or 'segm', got {self.iou_type!r}")


@dataclass(frozen=True)
class ClassMetrics:
    """Per-category results at area 'all' and the largest maxDets; None without ground truth."""

    category_id: int | str
    name: str
    ap: float | None
    ap50: float | None
    ap75: float | None
    recall: float | None


@dataclass(frozen=True)
class PRCurve:
    """Interpolated precision at each recall threshold, with the detection score there."""

    recall: tuple[float, ...]
    precision: tuple[float, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class DetectionResult:
    """Everything pycocotools' `COCOeval.eval` holds, plus the 12 stats.

    `precision` and `scores` have shape (T, R, K, A, M), `recall` (T, K, A, M),
    in the order of `params` and `category_ids`; -1 marks categories without GT.
    """

    stats: tuple[float, ...]
    precision: NDArray[np.float64] = field(repr=False)
    recall: NDArray[np.float64] = field(repr=False)
    scores: NDArray[np.float64] = field(repr=False)
    category_ids: tuple[int | str, ...]
    category_names: tuple[str, ...]
    params: DetectionParams

    def _mean(self, arr: NDArray[np.float64]) -> float | None:
        valid = arr[arr > -1]
        return float(np.mean(valid)) if valid.size else None

    def _t(self, iou: float) -> list[int]:
        return np.flatnonzero(np.asarray(self.params.iou_thresholds) == iou).tolist()

    def per_class(self) -> list[ClassMetrics]:
        """AP, AP50, AP75 and recall for each category (area 'all', largest maxDets)."""
        out = []
        for k, (cid, name) in enumerate(zip(self.category_ids, self.category_names, strict=True)):
            p = self.precision[:, :, k, 0, -1]
            out.append(
                ClassMetrics(
                    category_id=cid,
                    name=name,
                    ap=self._mean(p),
                    ap50=self._mean(p[self._t(0.5)]),
                    ap75=self._mean(p[self._t(0.75)]),
                    recall=self._mean(self.recall[:, k, 0, -1]),
                )
            )
        return out

    def pr_curve(
        self, category_id: int | str | None = None, iou: float = 0.5, area: str = "all"
    ) -> PRCurve:
        """Precision-recall curve data at one IoU threshold (largest maxDets).

        With `category_id` None, precision is averaged over categories with GT.
        """
        t, labels = self._t(iou), [a[0] for a in self.params.area_ranges]
        if not t or area not in labels:
            raise InvalidInput(f"no IoU threshold {iou} or area range {area!r} in the params")
        p = self.precision[t[0], :, :, labels.index(area), -1]
        s = self.scores[t[0], :, :, labels.index(area), -1]
        if category_id is None:
            keep = (p > -1).all(axis=0)
            prec = p[:, keep].mean(axis=1) if keep.any() else np.full(p.shape[0], -1.0)
            sc = s[:, keep].mean(axis=1) if keep.any() else np.full(p.shape[0], -1.0)
        else:
            if category_id not in self.category_ids:
                raise InvalidInput(f"category id {category_id!r} is not in the ground truth")
            k = self.category_ids.index(category_id)
            prec, sc = p[:, k], s[:, k]
        return PRCurve(
            recall=self.params.rec_thresholds,
            precision=tuple(prec.tolist()),
            scores=tuple(sc.tolist()),
        )

    def stat_value(
        self, *, ap: bool, iou: float | None = None, area: str = "all", max_det: int = 100
    ) -> float:
        """Any pycocotools-style summary number, e.g. AR at IoU .5 for small objects."""
        from assay.evaluation._det_accumulate import Accumulated

        acc = Accumulated(self.precision, self.recall, self.scores)
        return summarize_value(
            acc,
            np.asarray(self.params.iou_thresholds),
            tuple(a[0] for a in self.params.area_ranges),
            self.params.max_dets,
            ap=ap,
            iou=iou,
            area=area,
            max_det=max_det,
        )

    def summary_lines(self) -> list[str]:
        """The 12 stats formatted as pycocotools prints them."""
        p, lines = self.params, []
        for (_, is_ap, iou, area, mi), value in zip(STAT_LABELS, self.stats, strict=True):
            md = 100 if mi == -1 and p.mode == "pycocotools" else p.max_dets[2 if mi == -1 else mi]
            title = "Average Precision  (AP)" if is_ap else "Average Recall     (AR)"
            ious = (
                f"{p.iou_thresholds[0]:0.2f}:{p.iou_thresholds[-1]:0.2f}"
                if iou is None
                else f"{iou:0.2f}"
            )
            lines.append(
                f" {title} @[ IoU={ious:<9} | area={area:>6s} | maxDets={md:>3d} ] = {value:0.3f}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: stats, their names, per-class metrics and the mode.

        `per_class` is keyed by category name (name and id where names repeat).
        """
        names = list(self.category_names)
        return {
            "stats": list(self.stats),
            "stat_names": list(STAT_NAMES),
            "mode": self.params.mode,
            "iou_type": self.params.iou_type,
            "max_dets": list(self.params.max_dets),
            "per_class": {
                (c.name if names.count(c.name) == 1 else f"{c.name} ({c.category_id})"): {
                    "category_id": c.category_id,
                    "AP": c.ap,
                    "AP50": c.ap50,
                    "AP75": c.ap75,
                    "recall": c.recall,
                }
                for c in self.per_class()
            },
        }


def evaluate_detection(
    ground_truth: Mapping[str, Any],
    detections: Any,
    params: DetectionParams | None = None,
    *,
    gt_source: str = "ground truth",
    dt_source: str = "detections",
) -> DetectionResult:
    """Evaluate COCO-format detections against COCO ground truth (bbox or segm).

    Args:
        ground_truth: A COCO dataset dict (`images`, `annotations`, `categories`).
        detections: A list of `{image_id, category_id, bbox, score}` dicts
            (`segmentation` instead of or beside `bbox` for ``iou_type="segm"``).
        params: Evaluation settings; COCO's defaults if None.
        gt_source: Name used in error messages for the ground truth (e.g. its path).
        dt_source: Name used in error messages for the detections.

    Returns:
        The 12 stats and the full precision/recall/scores arrays.

    Raises:
        InvalidInput: A field is missing or of the wrong type, or a detection
            names an image or category that the ground truth does not have.
    """
    p = params or DetectionParams()
    segm = p.iou_type == "segm"
    gt = read_ground_truth(ground_truth, gt_source, need_bbox=not segm)
    dt = read_detections(detections, gt, dt_source, need_bbox=not segm)
    pairs = None
    if segm:
        from assay.evaluation._segm_input import read_segm

        box_area = p.mode == "pycocotools"
        dt, pairs = read_segm(ground_truth, detections, gt, dt, box_area, gt_source, dt_source)
    iou_thrs = np.asarray(p.iou_thresholds, dtype=float)
    areas = np.asarray([[lo, hi] for _, lo, hi in p.area_ranges], dtype=float)
    m = match(gt, dt, iou_thrs, areas, p.max_dets[-1], pairs)
    acc = accumulate(
        m,
        int(gt.category_ids.size),
        np.asarray(p.rec_thresholds, dtype=float),
        p.max_dets,
        count_id_zero=p.mode == "corrected",
    )
    labels = tuple(a[0] for a in p.area_ranges)
    stats = summarize(acc, iou_thrs, labels, p.max_dets, honour_max_dets=p.mode == "corrected")
    return DetectionResult(
        stats=stats,
        precision=acc.precision,
        recall=acc.recall,
        scores=acc.scores,
        category_ids=tuple(gt.category_ids.tolist()),
        category_names=gt.category_names,
        params=p,
    )


def evaluate_detection_files(
    gt_path: str | Path, dt_path: str | Path, params: DetectionParams | None = None
) -> DetectionResult:
    """Read a COCO ground-truth file and a detections file and evaluate them."""
    return evaluate_detection(
        load_json(gt_path),
        load_json(dt_path),
        params,
        gt_source=str(gt_path),
        dt_source=str(dt_path),
    )
