"""Calibration: reliability-diagram bins, ECE, MCE.

Choices that decide whether two ECE numbers are comparable are explicit
arguments and recorded in the result: number of bins, equal-width
(``"uniform"``) or equal-mass (``"quantile"``) bins, and whether the
confidence is the top-label probability or the positive-class probability of
a binary problem. Bins are ``(lo, hi]`` with the first bin closed, the
convention of sklearn's `calibration_curve`, so a binary ``"positive"``
diagram equals `calibration_curve` on its non-empty bins.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> round(expected_calibration_error(np.array([0, 0, 1, 1]), p, n_bins=10), 3)
    0.3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidInput

Strategy = Literal["uniform", "quantile"]
Kind = Literal["top_label", "positive"]


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin data for a reliability diagram; empty bins have count 0 and NaN means.

    Attributes:
        edges: Bin edges, length n_bins + 1.
        count: Samples per bin.
        accuracy: Observed frequency per bin (share correct, or share positive).
        confidence: Mean predicted probability per bin.
        strategy: "uniform" or "quantile" bins.
        kind: "top_label" or "positive".
    """

    edges: NDArray[np.float64]
    count: NDArray[np.int64]
    accuracy: NDArray[np.float64]
    confidence: NDArray[np.float64]
    strategy: Strategy
    kind: Kind

    @property
    def gaps(self) -> NDArray[np.float64]:
        """|accuracy - confidence| per bin (NaN for empty bins)."""
        return np.abs(self.accuracy - self.confidence)

    def ece(self) -> float:
        """Expected calibration error: count-weighted mean gap."""
        ok = self.count > 0
        return float(np.sum(self.count[ok] * self.gaps[ok]) / self.count.sum())

    def mce(self) -> float:
        """Maximum calibration error: the largest gap over non-empty bins."""
        ok = self.count > 0
        return float(self.gaps[ok].max())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready bins (empty bins as null) for a report to draw."""

        def clean(a: NDArray[np.float64]) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in a]

        return {
            "edges": self.edges.tolist(),
            "count": self.count.tolist(),
            "accuracy": clean(self.accuracy),
            "confidence": clean(self.confidence),
            "strategy": self.strategy,
            "kind": self.kind,
            "ece": self.ece(),
            "mce": self.mce(),
        }


def _confidence(
    y_true: ArrayLike, probs: ArrayLike, kind: Kind
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t, p = np.asarray(y_true), np.asarray(probs, dtype=float)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    if p.ndim != 2 or t.ndim != 1 or t.size != p.shape[0] or t.size == 0:
        raise InvalidInput(
            f"probs must be (n_samples,) or (n_samples, n_classes) matching y_true, got {p.shape}"
        )
    if t.dtype.kind not in "iub" or t.min() < 0 or t.max() >= p.shape[1]:
        raise InvalidInput(f"y_true must hold class indices 0..{p.shape[1] - 1}")
    if kind == "positive":
        if p.shape[1] != 2:
            raise InvalidInput("kind='positive' needs a binary problem (two probability columns)")
        return p[:, 1], (t == 1).astype(float)
    return p.max(axis=1), (p.argmax(axis=1) == t).astype(float)


def reliability_diagram(
    y_true: ArrayLike,
    probs: ArrayLike,
    n_bins: int = 15,
    strategy: Strategy = "uniform",
    kind: Kind = "top_label",
) -> ReliabilityDiagram:
    """Bin predictions by confidence and compare with observed accuracy.

    Args:
        y_true: Class indices.
        probs: (n, C) probabilities, or (n,) positive-class probabilities of a binary task.
        n_bins: Number of bins (15 as torchmetrics; 10 is also common).
        strategy: "uniform" equal-width bins on [0, 1], or "quantile" equal-mass bins.
        kind: "top_label" (confidence = max probability, outcome = correct) or
            "positive" (binary; confidence = P(class 1), outcome = label is 1).
    """
    if n_bins < 1:
        raise InvalidInput(f"n_bins must be at least 1, got {n_bins}")
    conf, hit = _confidence(y_true, probs, kind)
    if strategy == "quantile":
        edges = np.percentile(conf, np.linspace(0, 100, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise InvalidInput(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=hit, minlength=n_bins) / count
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
    return ReliabilityDiagram(
        edges=edges,
        count=count.astype(np.int64),
        accuracy=acc,
        confidence=mean_conf,
        strategy=strategy,
        kind=kind,
    )


def expected_calibration_error(
    y_true: ArrayLike,
    probs: ArrayLike,
    n_bins: int = 15,
    strategy: Strategy = "uniform",
    kind: Kind = "top_label",
) -> float:
    """ECE = sum over bins of (bin size / n) * |accuracy - confidence| (Guo et al. 2017)."""
    return reliability_diagram(y_true, probs, n_bins, strategy, kind).ece()


def max_calibration_error(
    y_true: ArrayLike,
    probs: ArrayLike,
    n_bins: int = 15,
    strategy: Strategy = "uniform",
    kind: Kind = "top_label",
) -> float:
    """MCE = the largest |accuracy - confidence| over non-empty bins."""
    return reliability_diagram(y_true, probs, n_bins, strategy, kind).mce()
