"""Bootstrap confidence intervals per slice, and paired bootstrap of two runs.

Metrics are either a name (see `NAMED_METRICS`: accuracy, error_rate,
macro/micro/weighted F1, macro precision/recall, ``mean:<column>``), which
are evaluated on all resamples at once, or any callable taking the per-sample
DataFrame and returning a float, which is evaluated once per resample.
Intervals are percentile intervals; resampling is seeded and reproducible.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y_true": [0, 1, 1, 0] * 25, "y_pred": [0, 1, 0, 0] * 25,
    ...                    "site": ["flood", "quake"] * 50})
    >>> est = metric_by_slice(df, "accuracy", {"quake": "site == 'quake'"})["quake"]
    >>> est.value
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidInput
from assay.evaluation._weighted import NAMED_METRICS, resample_weights, weighted_metric

Metric = str | Callable[[pd.DataFrame], float]
Tick = Callable[[int], None]  # n more resamples done
_CHUNK_CELLS = 4_000_000  # resamples x samples held in memory at once

__all__ = [
    "NAMED_METRICS",
    "Estimate",
    "Metric",
    "PairedComparison",
    "bootstrap_metric",
    "metric_by_slice",
    "paired_bootstrap",
]


@dataclass(frozen=True)
class Estimate:
    """A metric value with a bootstrap percentile interval."""

    value: float
    low: float
    high: float
    n: int
    confidence: float
    n_resamples: int


@dataclass(frozen=True)
class PairedComparison:
    """metric(A) - metric(B) on shared items, with interval and two-sided bootstrap p-value.

    The p-value is twice the smaller share of resampled differences on either
    side of zero (capped at 1): how often the sign of the difference flips.
    """

    difference: float
    low: float
    high: float
    p_value: float
    n: int
    confidence: float
    n_resamples: int


def _distribution(
    frames: list[pd.DataFrame],
    metric: Metric,
    n_resamples: int,
    seed: int,
    y_true: str,
    y_pred: str,
    tick: Tick | None = None,
) -> tuple[list[float], list[NDArray[np.float64]]]:
    """Point values and resampled values of `metric` on each frame, with shared resamples;
    `tick(n)` hears of `n` more resamples done (a named metric's chunk, a callable's one
    resample), each of all the frames."""
    n = len(frames[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    if isinstance(metric, str):
        fns = [weighted_metric(f, metric, y_true, y_pred) for f in frames]
        points = [float(fn(np.ones((1, n)))[0]) for fn in fns]
        parts: list[list[NDArray[np.float64]]] = [[] for _ in frames]
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            w = resample_weights(n, size, rng)
            for i, fn in enumerate(fns):
                parts[i].append(fn(w))
            if tick is not None:
                tick(size)
        return points, [np.concatenate(p) for p in parts]
    points = [float(metric(f)) for f in frames]
    idx = rng.integers(0, n, size=(n_resamples, n))
    dists = [np.empty(n_resamples) for _ in frames]
    for r, row in enumerate(idx):
        for values, f in zip(dists, frames, strict=True):
            values[r] = float(metric(f.iloc[row]))
        if tick is not None:
            tick(1)
    return points, dists


def _interval(values: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    if np.isnan(values).all():  # undefined in every resample (no detections at all): no interval
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1 or not 0 < confidence < 1:
        raise InvalidInput("n_resamples must be >= 1 and confidence in (0, 1)")


def bootstrap_metric(
    frame: pd.DataFrame,
    metric: Metric,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    tick: Tick | None = None,
) -> Estimate:
    """A metric on a per-sample table with a bootstrap percentile interval over rows
    (`tick(n)`: `n` more of the `n_resamples` done, all of them for an empty table)."""
    _check(n_resamples, confidence)
    if len(frame) == 0:
        nan = float("nan")
        if tick is not None:
            tick(n_resamples)
        return Estimate(nan, nan, nan, 0, confidence, n_resamples)
    (value,), (dist,) = _distribution([frame], metric, n_resamples, seed, y_true, y_pred, tick)
    low, high = _interval(dist, confidence)
    return Estimate(value, low, high, len(frame), confidence, n_resamples)


def _mask(frame: pd.DataFrame, name: str, spec: str | ArrayLike) -> NDArray[np.bool_]:
    if isinstance(spec, str):
        try:
            arr = np.asarray(frame.eval(spec))
        except Exception as exc:  # pandas raises many types for a bad expression
            raise InvalidInput(f"slice {name!r}: cannot evaluate query {spec!r}: {exc}") from exc
    else:
        arr = np.asarray(spec)
    if arr.dtype != np.bool_ or arr.shape != (len(frame),):
        raise InvalidInput(
            f"slice {name!r} must be a boolean mask or query giving one value per row "
            f"({len(frame)}), got dtype {arr.dtype} and shape {arr.shape}"
        )
    return arr


def metric_by_slice(
    frame: pd.DataFrame,
    metric: Metric,
    slices: Mapping[str, str | ArrayLike],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
) -> dict[str, Estimate]:
    """The metric on each slice (boolean mask or `DataFrame.eval` query) with an interval.

    Args:
        frame: One row per sample (e.g. columns y_true, y_pred, and metadata).
        metric: A named metric or a callable `frame -> float`.
        slices: Slice name -> boolean mask or query such as ``"sensor == 'drone'"``.
        n_resamples: Bootstrap resamples per slice.
        confidence: Interval coverage, e.g. 0.95.
        seed: Seed of the resampling; the same seed gives the same intervals.
        y_true: Label column for named metrics.
        y_pred: Prediction column for named metrics.
    """
    out = {}
    for name, spec in slices.items():
        sub = frame[_mask(frame, name, spec)]
        out[name] = bootstrap_metric(
            sub,
            metric,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            y_true=y_true,
            y_pred=y_pred,
        )
    return out


def paired_bootstrap(
    run_a: pd.DataFrame,
    run_b: pd.DataFrame,
    metric: Metric,
    *,
    key: str = "item_id",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    tick: Tick | None = None,
) -> PairedComparison:
    """Difference metric(A) - metric(B) over the items both runs share, resampled jointly.

    Rows are matched on `key`; items present in only one run are left out. `tick(n)` hears
    of `n` more of the `n_resamples` done (each of both runs), as in `bootstrap_metric`.
    """
    _check(n_resamples, confidence)
    for label, f in (("run A", run_a), ("run B", run_b)):
        if key not in f.columns:
            raise InvalidInput(f"{label} has no key column '{key}'")
        if f[key].duplicated().any():
            raise InvalidInput(f"{label} has duplicate values in key column '{key}'")
    keys = pd.Index(run_a[key]).intersection(pd.Index(run_b[key]), sort=False)
    if len(keys) == 0:
        raise InvalidInput(f"the two runs share no items (key column '{key}')")
    a = run_a.set_index(key).loc[keys].reset_index()
    b = run_b.set_index(key).loc[keys].reset_index()
    (va, vb), (da, db) = _distribution([a, b], metric, n_resamples, seed, y_true, y_pred, tick)
    diff = da - db
    low, high = _interval(diff, confidence)
    p = min(1.0, 2 * min(float(np.mean(diff <= 0)), float(np.mean(diff >= 0))))
    return PairedComparison(va - vb, low, high, p, len(keys), confidence, n_resamples)
