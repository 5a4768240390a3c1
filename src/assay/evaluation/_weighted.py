"""Named metrics evaluated on many bootstrap resamples at once.

A resample is a row of multiplicities (how often each sample was drawn); a
metric maps a (B, n) weight matrix to B values with a few matrix operations,
so 1,000 resamples cost about as much as a few passes over the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.errors import InvalidInput
from assay.evaluation.classification import prf_from_confusion

WeightedFn = Callable[[NDArray[np.float64]], NDArray[np.float64]]

CONFUSION_METRICS = (
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
)
NAMED_METRICS = ("accuracy", "error_rate", *CONFUSION_METRICS, "mean:<column>")


def _column(frame: pd.DataFrame, name: str) -> NDArray[Any]:
    if name not in frame.columns:
        raise InvalidInput(f"the per-sample table has no column '{name}'")
    return frame[name].to_numpy()


def batched_confusion(
    y_true: NDArray[np.int64], y_pred: NDArray[np.int64], n_labels: int, w: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(B, L, L) confusion matrices of weighted samples; columns summed per cell, not per row."""
    cell = y_true * n_labels + y_pred
    order = np.argsort(cell, kind="stable")
    cells, starts = np.unique(cell[order], return_index=True)
    sums = np.add.reduceat(w[:, order], starts, axis=1) if order.size else w[:, :0]
    out = np.zeros((w.shape[0], n_labels * n_labels))
    out[:, cells] = sums
    return out.reshape(w.shape[0], n_labels, n_labels)


def weighted_metric(frame: pd.DataFrame, name: str, y_true: str, y_pred: str) -> WeightedFn:
    """Bind a named metric to a table; the result takes weights (B, n) and returns (B,)."""
    if name.startswith("mean:"):
        values = _column(frame, name[5:]).astype(float)
        return lambda w: (w @ values) / w.sum(axis=1)
    if name in ("accuracy", "error_rate"):
        correct = (_column(frame, y_true) == _column(frame, y_pred)).astype(float)
        if name == "error_rate":
            correct = 1.0 - correct
        return lambda w: (w @ correct) / w.sum(axis=1)
    if name in CONFUSION_METRICS:
        labels, codes = np.unique(
            np.concatenate([_column(frame, y_true), _column(frame, y_pred)]), return_inverse=True
        )
        n = len(frame)
        ti, pi = codes[:n].astype(np.int64), codes[n:].astype(np.int64)
        average, part = name.split("_")

        def fn(w: NDArray[np.float64]) -> NDArray[np.float64]:
            cm = batched_confusion(ti, pi, labels.size, w)
            p, r, f = prf_from_confusion(cm, average, 0.0)  # type: ignore[arg-type]
            return np.asarray({"precision": p, "recall": r, "f1": f}[part])

        return fn
    raise InvalidInput(f"unknown metric {name!r}; named metrics: {', '.join(NAMED_METRICS)}")


def resample_weights(n: int, n_resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """(B, n) multiplicities of B resamples of n items drawn with replacement."""
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = idx + (np.arange(n_resamples) * n)[:, None]
    return (
        np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(float)
    )
