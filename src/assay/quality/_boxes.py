"""Bounding-box consensus and agreement across annotators.

crowd-kit has no box aggregator; this is an IoU-cluster vote with reliability-weighted
coordinate fusion (in the spirit of weighted box fusion). Boxes are ``x, y, w, h`` in pixels,
top-left origin, as everywhere in assay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import FloatArray, check_long_frame

BOX_COLUMNS = ("task", "worker", "label", "x", "y", "w", "h")


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in `a` (n × 4, xywh) with every box in `b` (m × 4)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(
        np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    out: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _box_frame(data: pd.DataFrame) -> pd.DataFrame:
    frame = check_long_frame(data, BOX_COLUMNS)
    coords = frame[["x", "y", "w", "h"]].apply(pd.to_numeric, errors="coerce")
    bad = coords.isna().any(axis=1).to_numpy() | (coords[["w", "h"]] < 0).any(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"box row {row} has a missing, non-numeric or negative coordinate")
    return frame.assign(**{c: coords[c].astype(np.float64) for c in ("x", "y", "w", "h")})


def _cluster(
    boxes: FloatArray, workers: list[Any], weights: FloatArray, threshold: float
) -> list[list[int]]:
    """Greedy clustering: each box joins the best-overlapping cluster lacking its worker."""
    clusters: list[list[int]] = []
    fused = np.zeros((0, 4))
    for i in range(len(boxes)):
        best = -1
        if len(clusters):
            ious = iou_matrix(boxes[i : i + 1], fused)[0]
            for j in np.argsort(-ious, kind="stable"):
                if ious[j] < threshold:
                    break
                if all(workers[m] != workers[i] for m in clusters[j]):
                    best = int(j)
                    break
        if best < 0:
            clusters.append([i])
            fused = np.vstack([fused, boxes[i]])
        else:
            clusters[best].append(i)
            w = weights[clusters[best]]
            fused[best] = (boxes[clusters[best]] * w[:, None]).sum(axis=0) / w.sum()
    return clusters


def fuse_boxes(
    data: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    quorum: int = 2,
    skills: pd.Series[Any] | None = None,
) -> pd.DataFrame:
    """Consensus boxes per image and class.

    Boxes of the same image (``task``) and class (``label``) are matched across annotators by
    IoU against each cluster's fused box (one box per annotator per cluster); coordinates are
    averaged with the annotators' reliabilities as weights; clusters drawn by fewer than
    `quorum` annotators are dropped. Boxes are visited from the most reliable annotator down,
    so the result does not depend on row order.

    Args:
        data: Columns task, worker, label, x, y, w, h.
        iou_threshold: Minimum IoU for a box to join a cluster.
        quorum: Minimum number of distinct annotators behind a kept box.
        skills: Reliability per worker (default 1 for everyone; missing workers get 1).

    Returns:
        Columns task, label, x, y, w, h, support (annotators behind the box), score (their
        summed reliability over that of all annotators of the image), workers.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidInput(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if quorum < 1:
        raise InvalidInput(f"quorum must be >= 1, got {quorum}")
    frame = _box_frame(data)
    weight = frame["worker"].map(skills).fillna(1.0) if skills is not None else 1.0
    frame = frame.assign(
        weight=np.clip(np.asarray(weight, dtype=np.float64) * np.ones(len(frame)), 1e-9, None)
    )
    image_weight: dict[Any, float] = (
        frame.drop_duplicates(["task", "worker"]).groupby("task")["weight"].sum().to_dict()
    )
    frame = frame.assign(_w=frame["worker"].astype(str)).sort_values(
        ["task", "label", "weight", "_w", "x", "y", "w", "h"],
        ascending=[True, True, False, True, True, True, True, True],
        kind="stable",
    )
    out: list[dict[str, Any]] = []
    for (task, label), group in frame.groupby(["task", "label"], sort=True):
        boxes = group[["x", "y", "w", "h"]].to_numpy()
        workers = group["worker"].tolist()
        weights = group["weight"].to_numpy()
        for members in _cluster(boxes, workers, weights, iou_threshold):
            if len(members) < quorum:
                continue
            w = weights[members]
            x, y, bw, bh = (boxes[members] * w[:, None]).sum(axis=0) / w.sum()
            out.append(
                {
                    "task": task,
                    "label": label,
                    "x": x,
                    "y": y,
                    "w": bw,
                    "h": bh,
                    "support": len(members),
                    "score": float(w.sum() / image_weight[task]),
                    "workers": sorted(str(workers[m]) for m in members),
                }
            )
    columns = ["task", "label", "x", "y", "w", "h", "support", "score", "workers"]
    return pd.DataFrame(out, columns=columns)


@dataclass(frozen=True)
class BoxAgreement:
    """Pairwise box agreement between annotators.

    Attributes:
        mean_iou: Mean IoU of the box pairs matched at the threshold (nan if none).
        f1: ``2 · matches / (boxes of a + boxes of b)`` pooled over annotator pairs and
            images (nan if no image has two annotators).
        n_matches: Matched box pairs.
        n_pairs: (image, annotator pair) combinations compared.
    """

    mean_iou: float
    f1: float
    n_matches: int
    n_pairs: int


def _greedy_matches(a: FloatArray, b: FloatArray, threshold: float) -> list[float]:
    ious = iou_matrix(a, b)
    found: list[float] = []
    while ious.size and ious.max() >= threshold:
        i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
        found.append(float(ious[i, j]))
        ious[i, :] = -1.0
        ious[:, j] = -1.0
    return found


def box_agreement(data: pd.DataFrame, iou_threshold: float = 0.5) -> BoxAgreement:
    """Mean matched IoU and F1 at `iou_threshold` over every pair of annotators per image.

    Only boxes of the same class match; each box matches at most one (greedy, highest IoU
    first). An annotator who drew nothing on an image is not in the data and is not compared.
    """
    frame = _box_frame(data)
    ious: list[float] = []
    boxes_total, pairs = 0, 0
    for _, image in frame.groupby("task", sort=True):
        by_worker = {w: g for w, g in image.groupby("worker", sort=True)}
        names = list(by_worker)
        for i, wa in enumerate(names):
            for wb in names[i + 1 :]:
                pairs += 1
                a, b = by_worker[wa], by_worker[wb]
                boxes_total += len(a) + len(b)
                for label, ga in a.groupby("label"):
                    gb = b[b["label"] == label]
                    if len(gb):
                        ious += _greedy_matches(
                            ga[["x", "y", "w", "h"]].to_numpy(),
                            gb[["x", "y", "w", "h"]].to_numpy(),
                            iou_threshold,
                        )
    return BoxAgreement(
        mean_iou=float(np.mean(ious)) if ious else float("nan"),
        f1=2.0 * len(ious) / boxes_total if boxes_total else float("nan"),
        n_matches=len(ious),
        n_pairs=pairs,
    )
