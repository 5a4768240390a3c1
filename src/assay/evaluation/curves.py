"""Precision-recall curve data for binary (or one-vs-rest) scores, for reports to draw.

Detection PR curves come from `DetectionResult.pr_curve`; reliability diagrams
from `assay.evaluation.calibration.reliability_diagram`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidInput


@dataclass(frozen=True)
class BinaryPRCurve:
    """Points of a PR curve, ordered by increasing recall... as sklearn: decreasing threshold.

    `precision` and `recall` have one more point than `thresholds` (the final
    (recall 0, precision 1) point), exactly like sklearn's `precision_recall_curve`.
    """

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    thresholds: NDArray[np.float64]

    def average_precision(self) -> float:
        """Step-wise AP = sum over thresholds of (R_n - R_{n-1}) * P_n (sklearn's definition)."""
        return float(-np.sum(np.diff(self.recall) * self.precision[:-1]))

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists."""
        return {
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "thresholds": self.thresholds.tolist(),
        }


def precision_recall_curve(
    y_true: ArrayLike, scores: ArrayLike, pos_label: object = 1
) -> BinaryPRCurve:
    """PR curve of scores for the positive class; equals sklearn's `precision_recall_curve`.

    Args:
        y_true: Labels; `pos_label` marks positives.
        scores: Higher means more likely positive.
        pos_label: The positive label.
    """
    t, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    if t.ndim != 1 or t.shape != s.shape or t.size == 0:
        raise InvalidInput(
            f"y_true and scores must be 1-D of equal length, got {t.shape}, {s.shape}"
        )
    y = (t == pos_label).astype(float)
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = 1 + idx - tps
    prec = np.zeros_like(tps)
    np.divide(tps, tps + fps, out=prec, where=(tps + fps) != 0)
    rec = np.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
    return BinaryPRCurve(
        precision=np.hstack((prec[::-1], 1.0)),
        recall=np.hstack((rec[::-1], 0.0)),
        thresholds=s[idx][::-1],
    )
