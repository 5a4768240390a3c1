"""Classification metrics on numpy arrays, matching scikit-learn's definitions.

Labels may be any sortable values for the count-based metrics; probability
based metrics (top-k, Brier) take `y_true` as column indices into `probs`.

Example:
    >>> import numpy as np
    >>> accuracy(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]))
    0.75
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidInput

Average = Literal["macro", "micro", "weighted"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise InvalidInput(
            f"y_true and y_pred must be 1-D and of equal length, got {t.shape} and {p.shape}"
        )
    if t.size == 0:
        raise InvalidInput("no samples: y_true is empty")
    return t, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of samples whose prediction equals the label."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None
) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """Counts with true labels as rows and predictions as columns.

    Returns:
        `(matrix, labels)`; labels default to the sorted union of both inputs.
        Samples whose label or prediction is not in `labels` are left out (as sklearn).
    """
    t, p = _pair(y_true, y_pred)
    lab = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    n = lab.size
    order = np.argsort(lab, kind="stable")
    sorted_lab = lab[order]

    def index(v: NDArray[Any]) -> NDArray[np.int64]:
        pos = np.minimum(np.searchsorted(sorted_lab, v), n - 1)
        return np.where(sorted_lab[pos] == v, order[pos], -1)

    ti, pi = index(t), index(p)
    ok = (ti >= 0) & (pi >= 0)
    cm = np.bincount(ti[ok] * n + pi[ok], minlength=n * n).reshape(n, n)
    return cm.astype(np.int64), lab


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 per label (arrays) or averaged (floats), with support."""

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    support: NDArray[np.int64]
    labels: NDArray[Any]


def _ratio(num: NDArray[Any], den: NDArray[Any], zero_division: float) -> NDArray[np.float64]:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def prf_from_confusion(
    cm: NDArray[Any], average: Average | None = None, zero_division: float = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Precision, recall, F1 from one or a batch (..., L, L) of confusion matrices.

    Follows sklearn: F1 is computed from per-label counts (2tp / (2tp + fp + fn)),
    macro averages the per-label values, micro pools the counts.
    """
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    pred = cm.sum(axis=-2).astype(float)
    true = cm.sum(axis=-1).astype(float)
    if average == "micro":
        tp, pred, true = tp.sum(-1), pred.sum(-1), true.sum(-1)
    prec = _ratio(tp, pred, zero_division)
    rec = _ratio(tp, true, zero_division)
    f1 = _ratio(2 * tp, pred + true, zero_division)
    if average == "macro":
        return prec.mean(-1), rec.mean(-1), f1.mean(-1)
    if average == "weighted":
        w = _ratio(true, true.sum(-1, keepdims=True) * np.ones_like(true), 0.0)
        return (prec * w).sum(-1), (rec * w).sum(-1), (f1 * w).sum(-1)
    return prec, rec, f1


def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    average: Average | None = None,
    zero_division: float = 0.0,
) -> PRF:
    """Per-label or averaged precision, recall and F1 (sklearn's `precision_recall_fscore_support`).

    Args:
        y_true: True labels.
        y_pred: Predicted labels.
        labels: Labels to report, in this order; default the sorted union.
        average: None for per-label arrays, or "macro", "micro", "weighted".
        zero_division: Value used where a ratio has a zero denominator.
    """
    cm, lab = confusion_matrix(y_true, y_pred, labels)
    p, r, f = prf_from_confusion(cm, average, zero_division)
    return PRF(
        precision=np.asarray(p),
        recall=np.asarray(r),
        f1=np.asarray(f),
        support=cm.sum(axis=1),
        labels=lab,
    )


def _probs(y_true: ArrayLike, probs: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    t, p = np.asarray(y_true), np.asarray(probs, dtype=float)
    if p.ndim != 2 or t.ndim != 1 or t.size != p.shape[0] or t.size == 0:
        raise InvalidInput(
            "probs must be (n_samples, n_classes) and y_true (n_samples,), "
            f"got {p.shape}, {t.shape}"
        )
    if t.dtype.kind not in "iu" or t.min() < 0 or t.max() >= p.shape[1]:
        raise InvalidInput(f"y_true must hold column indices 0..{p.shape[1] - 1} into probs")
    return t.astype(np.int64), p


def top_k_accuracy(y_true: ArrayLike, scores: ArrayLike, k: int = 5) -> float:
    """Share of samples whose label is among the k highest scores.

    Ties rank the higher class index first, as sklearn's `top_k_accuracy_score`.
    """
    t, s = _probs(y_true, scores)
    if k < 1:
        raise InvalidInput(f"k must be at least 1, got {k}")
    ranked = np.argsort(s, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float(np.mean((ranked == t[:, None]).any(axis=1)))


def brier_score(y_true: ArrayLike, probs: ArrayLike) -> float:
    """Multiclass Brier score: mean over samples of sum over classes of (p - onehot)^2.

    Lies in [0, 2]; equals sklearn's `brier_score_loss(..., scale_by_half=False)`.
    """
    t, p = _probs(y_true, probs)
    onehot = np.zeros_like(p)
    onehot[np.arange(t.size), t] = 1.0
    return float(np.mean(np.sum((onehot - p) ** 2, axis=1)))
