"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' kappa, Cohen's kappa.

All functions take the long format (unit/task, coder/worker, value/label); missing ratings
are simply absent rows.

Edge cases, the same for every coefficient here:

* Every pairable rating is the same value: ``1.0``. Observed agreement is perfect and the
  chance correction is 0/0; we follow nltk's ``AnnotationTask.alpha`` (scikit-learn and
  statsmodels return ``nan`` for Cohen's and Fleiss' kappa in this case).
* A single rater, or no unit rated at least twice (nothing to pair): ``nan``.
* A worker who rated the same task more than once: every rating is a value for
  Krippendorff's alpha and Fleiss' kappa; Cohen's kappa takes one label per worker and task,
  the value that sorts first (so results do not depend on row order), and `cohen_kappa_pairs`
  counts the ratings it left out (`repeated_ratings`), which the quality report states.

The mean pairwise Cohen's kappa of the quality report averages the pairs of workers sharing at
least `MIN_SHARED_TASKS` tasks, each pair with the same weight; a kappa on one or two shared
tasks is -1, 0 or 1 by chance, and would count as much as one on hundreds. The pairs left out
are listed with their number of shared tasks (`cohen_kappa_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import Encoded, FloatArray, IntArray, encode, label_codes, plain

Level = Literal["nominal", "ordinal", "interval", "ratio"]
# Shared tasks a pair of workers needs for its Cohen's kappa to enter the report's mean.
MIN_SHARED_TASKS = 5


def _pairs_within_groups(group: IntArray) -> tuple[IntArray, IntArray]:
    """Every ordered index pair (i, j), i == j included, with ``group[i] == group[j]``.

    `group` must be sorted.
    """
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, n])
    size_of = np.repeat(sizes, sizes)
    start_of = np.repeat(starts, sizes)
    left = np.repeat(np.arange(n), size_of)
    first_pair = np.repeat(np.cumsum(size_of) - size_of, size_of)
    right = np.repeat(start_of, size_of) + (np.arange(len(left)) - first_pair)
    return left, right


def _delta2(level: Level, values: FloatArray, marginals: FloatArray) -> FloatArray:
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        nominal: FloatArray = (c != k).astype(np.float64)
        return nominal
    if level == "interval":
        return np.asarray((c - k) ** 2, dtype=np.float64)
    if level == "ratio":
        total = c + k
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total == 0, 0.0, ((c - k) / np.where(total == 0, 1, total)) ** 2)
        return np.asarray(out, dtype=np.float64)
    cum = np.cumsum(marginals)
    lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
    hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
    between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)
    return np.asarray(
        (between - (marginals[:, None] + marginals[None, :]) / 2) ** 2, dtype=np.float64
    )


def krippendorff_alpha(
    data: pd.DataFrame,
    level: Level = "nominal",
    *,
    value_order: Sequence[Any] | None = None,
) -> float:
    """Krippendorff's alpha for any number of coders, with missing data.

    Matches ``fast-krippendorff`` (coincidence matrix, δ² by level of measurement) and, at the
    nominal level, ``nltk.metrics.agreement.AnnotationTask.alpha``.

    Args:
        data: Long frame with columns task (unit), worker (coder), label (value).
        level: ``nominal``, ``ordinal``, ``interval`` or ``ratio``. Interval and ratio need
            numeric labels (ratio: >= 0, from an absolute zero); ordinal uses `value_order`,
            else numeric labels in numeric order (words have no order of their own: they
            need `value_order`, as ``krippendorff.alpha`` needs ``value_domain``).
        value_order: For ordinal data with non-numeric labels, the labels from low to high.

    Returns:
        Alpha in [-1, 1]; 1.0 when every pairable value is identical; nan when no unit has
        two values.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"],
        ...                    "label": ["dry", "dry", "flooded", "flooded"]})
        >>> krippendorff_alpha(df)
        1.0
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise InvalidInput(f"unknown level of measurement {level!r}")
    enc = encode(data, labels=value_order)
    if level in ("interval", "ratio"):
        try:
            values = enc.labels.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{level} alpha needs numeric labels: {exc}") from exc
        if level == "ratio" and (values < 0).any():
            raise InvalidInput(
                f"ratio alpha needs labels >= 0, got {plain(enc.labels[values < 0][0])!r}"
            )
    else:
        if (
            level == "ordinal"
            and value_order is None
            and enc.n_labels
            and not pd.api.types.is_numeric_dtype(enc.labels.dtype)
        ):
            raise InvalidInput(
                "ordinal alpha on non-numeric labels needs value_order (the labels from low "
                f"to high); got labels {list(enc.labels)}"
            )
        values = np.arange(enc.n_labels, dtype=np.float64)
    m_u = np.bincount(enc.task, minlength=enc.n_tasks)
    pairable = m_u[enc.task] >= 2
    task, label = enc.task[pairable], enc.label[pairable]
    if len(task) == 0:
        return float("nan")
    v = enc.n_labels
    left, right = _pairs_within_groups(task)
    keep = left != right
    left, right = left[keep], right[keep]
    weights = 1.0 / (m_u[task[left]] - 1.0)
    observed = np.bincount(label[left] * v + label[right], weights=weights, minlength=v * v)
    observed = observed.reshape(v, v)
    n_c = observed.sum(axis=1)
    n = n_c.sum()
    expected = (np.outer(n_c, n_c) - np.diag(n_c)) / (n - 1.0)
    delta2 = _delta2(level, values, n_c)
    d_o = float((observed * delta2).sum())
    d_e = float((expected * delta2).sum())
    if d_e == 0.0:
        return 1.0 if d_o == 0.0 else float("nan")
    return 1.0 - d_o / d_e


def fleiss_kappa(
    data: pd.DataFrame,
    method: Literal["fleiss", "randolph"] = "fleiss",
    *,
    labels: Sequence[Any] | None = None,
) -> float:
    """Fleiss' kappa (or Randolph's free-marginal kappa) from a long frame.

    Subjects may have different numbers of ratings: ``P_i`` uses each subject's own count
    ``n_i`` and ``p_j`` pools all ratings (the usual generalisation; identical to Fleiss when
    every subject has the same number of ratings). Subjects with fewer than two ratings are
    left out.

    Args:
        data: Long frame with columns task, worker, label.
        method: ``fleiss``, or ``randolph`` (chance agreement ``1/K``).
        labels: Every category raters could choose, also those nobody chose (the columns of
            statsmodels' count table). Randolph's ``K`` is their number; defaults to the
            labels in `data`. Fleiss' kappa does not depend on unused categories.

    Returns:
        Kappa; 1.0 when every rating is the same label; nan when no subject has two ratings.
    """
    if method not in ("fleiss", "randolph"):
        raise InvalidInput(f"unknown Fleiss method {method!r}; use 'fleiss' or 'randolph'")
    enc = encode(data, labels=labels)
    counts = enc.task_label_counts()
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if len(n_i) == 0:
        return float("nan")
    p_i = ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1.0))
    p_bar = float(p_i.mean())
    if method == "randolph":
        p_e = 1.0 / enc.n_labels
    else:
        p_j = counts.sum(axis=0) / n_i.sum()
        p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return 1.0 if p_bar >= 1.0 else float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def _kappa_from_tables(tables: FloatArray, weights: FloatArray) -> FloatArray:
    """Cohen's kappa for a stack of (K × K) contingency tables; weights are disagreement costs."""
    totals = tables.sum(axis=(1, 2))
    safe = np.where(totals > 0, totals, 1.0)
    obs = tables / safe[:, None, None]
    expected = obs.sum(axis=2)[:, :, None] * obs.sum(axis=1)[:, None, :]
    d_o = (obs * weights).sum(axis=(1, 2))
    d_e = (expected * weights).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(d_e > 0, 1.0 - d_o / np.where(d_e > 0, d_e, 1.0), np.nan)
    kappa = np.where((d_e == 0) & (d_o == 0), 1.0, kappa)
    return np.asarray(np.where(totals > 0, kappa, np.nan), dtype=np.float64)


def _weight_matrix(k: int, weights: Literal["linear", "quadratic"] | None) -> FloatArray:
    idx = np.arange(k, dtype=np.float64)
    diff = np.abs(idx[:, None] - idx[None, :])
    if weights is None:
        return (diff > 0).astype(np.float64)
    if weights == "linear":
        return diff
    if weights == "quadratic":
        return diff**2
    raise InvalidInput(f"unknown kappa weights {weights!r}; use None, 'linear' or 'quadratic'")


def cohen_kappa(
    first: Sequence[Any],
    second: Sequence[Any],
    weights: Literal["linear", "quadratic"] | None = None,
    *,
    labels: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa of two aligned label sequences (weighted on sorted labels if asked).

    Matches ``sklearn.metrics.cohen_kappa_score`` except that two identical constant raters
    give 1.0 (scikit-learn: nan). Empty input gives nan.

    Args:
        first: One rater's labels.
        second: The other rater's labels, item by item.
        weights: None, ``linear`` or ``quadratic`` disagreement weights over label positions.
        labels: The whole scale, in order, also points nobody chose (scikit-learn's
            ``labels``); weights count steps along it. Defaults to the sorted labels given.
    """
    if len(first) != len(second):
        raise InvalidInput(f"rater sequences differ in length: {len(first)} vs {len(second)}")
    both = pd.Series(list(first) + list(second), dtype=object)
    codes, scale = label_codes(both, labels)
    k = max(len(scale), 1)
    a, b = codes[: len(first)], codes[len(first) :]
    table = np.bincount(a * k + b, minlength=k * k).astype(np.float64).reshape(1, k, k)
    return float(_kappa_from_tables(table, _weight_matrix(k, weights))[0])


def _first_per_task_worker(enc: Encoded) -> npt.NDArray[np.bool_]:
    """Rows that are a worker's first rating of a task (its label that sorts first)."""
    keep = np.ones(len(enc.task), dtype=bool)
    keep[1:] = (enc.task[1:] != enc.task[:-1]) | (enc.worker[1:] != enc.worker[:-1])
    return keep


def pairwise_cohen_kappa(
    data: pd.DataFrame,
    weights: Literal["linear", "quadratic"] | None = None,
    min_common: int = 1,
    *,
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Cohen's kappa for every pair of workers over the tasks both labelled.

    `weights` and `labels` are as in `cohen_kappa`. A worker who labelled a task more than
    once counts with the label that sorts first (`cohen_kappa_pairs` counts the others).

    Returns:
        A frame with columns worker_a, worker_b (worker_a < worker_b), n_common, kappa, for
        pairs sharing at least `min_common` tasks.
    """
    enc = encode(data, labels=labels)
    keep = _first_per_task_worker(enc)
    task, worker, label = enc.task[keep], enc.worker[keep], enc.label[keep]
    left, right = _pairs_within_groups(task)
    sel = worker[left] < worker[right]
    left, right = left[sel], right[sel]
    k, n_w = max(enc.n_labels, 1), enc.n_workers
    pair_code = worker[left] * n_w + worker[right]
    uniq, pair_idx = np.unique(pair_code, return_inverse=True)
    cells = (pair_idx * k + label[left]) * k + label[right]
    tables = np.bincount(cells, minlength=len(uniq) * k * k).astype(np.float64)
    tables = tables.reshape(len(uniq), k, k)
    kappa = _kappa_from_tables(tables, _weight_matrix(k, weights))
    n_common = tables.sum(axis=(1, 2)).astype(np.int64)
    out = pd.DataFrame(
        {
            "worker_a": enc.workers.take(uniq // n_w).to_numpy(),
            "worker_b": enc.workers.take(uniq % n_w).to_numpy(),
            "n_common": n_common,
            "kappa": kappa,
        }
    )
    return out[out["n_common"] >= min_common].reset_index(drop=True)


def mean_pairwise_cohen_kappa(data: pd.DataFrame, min_common: int = 1) -> float:
    """Unweighted mean of `pairwise_cohen_kappa` over pairs with a defined kappa (nan if none).

    The quality report takes ``min_common=MIN_SHARED_TASKS`` (see `cohen_kappa_pairs`)."""
    pairs = pairwise_cohen_kappa(data, min_common=min_common)["kappa"].dropna()
    return float(pairs.mean()) if len(pairs) else float("nan")


@dataclass(frozen=True)
class CohenPairs:
    """The mean pairwise Cohen's kappa as the quality report takes it, and what it left out.

    Attributes:
        mean: Unweighted mean kappa of the pairs sharing at least `min_shared` tasks (nan if
            none).
        min_shared: The shared tasks a pair needs to enter the mean.
        n_pairs: Pairs in the mean.
        left_out: Pairs sharing fewer tasks: worker_a, worker_b, n_common, kappa.
        repeated_ratings: Ratings left out because their worker had rated the task already
            (Cohen's kappa takes one label per worker and task, the one that sorts first).
    """

    mean: float
    min_shared: int
    n_pairs: int
    left_out: pd.DataFrame
    repeated_ratings: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nan becomes None)."""
        return {
            "min_shared_tasks": self.min_shared,
            "n_pairs": self.n_pairs,
            "left_out": [
                {
                    "worker_a": plain(a),
                    "worker_b": plain(b),
                    "n_common": int(n),
                    "reason": f"shares {int(n)} task(s), fewer than {self.min_shared}",
                }
                for a, b, n in zip(
                    self.left_out["worker_a"],
                    self.left_out["worker_b"],
                    self.left_out["n_common"].to_numpy(np.int64),
                    strict=True,
                )
            ],
            "repeated_ratings": self.repeated_ratings,
        }


def cohen_kappa_pairs(data: pd.DataFrame, min_shared: int = MIN_SHARED_TASKS) -> CohenPairs:
    """Mean pairwise Cohen's kappa over the pairs of workers sharing at least `min_shared`
    tasks, each pair weighing the same, with the pairs and repeated ratings it left out.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3, 1, 4, 4],
        ...                    "worker": ["a", "b", "a", "b", "a", "b", "c", "a", "a"],
        ...                    "label": ["x", "x", "y", "y", "x", "y", "x", "x", "y"]})
        >>> pairs = cohen_kappa_pairs(df, min_shared=3)
        >>> pairs.n_pairs, pairs.left_out[["worker_a", "worker_b"]].values.tolist()
        (1, [['a', 'c'], ['b', 'c']])
        >>> pairs.repeated_ratings  # a labelled task 4 twice
        1
    """
    if min_shared < 1:
        raise InvalidInput(f"min_shared must be >= 1, got {min_shared}")
    enc = encode(data)
    repeated = int((~_first_per_task_worker(enc)).sum())
    pairs = pairwise_cohen_kappa(data)
    kept = pairs[pairs["n_common"] >= min_shared]
    defined = kept["kappa"].dropna()
    return CohenPairs(
        mean=float(defined.mean()) if len(defined) else float("nan"),
        min_shared=min_shared,
        n_pairs=len(kept),
        left_out=pairs[pairs["n_common"] < min_shared].reset_index(drop=True),
        repeated_ratings=repeated,
    )
