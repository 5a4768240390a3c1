"""Long-format label frames: validation and integer encoding.

Every estimator works on integer codes: tasks, workers and labels are factorised once, with
their distinct values in sorted order, and the rows are put in a canonical order. Results
therefore do not depend on the row order of the input, and the numeric kernels never touch
Python objects.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from assay.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LONG_COLUMNS = ("task", "worker", "label")


def check_long_frame(data: object, columns: Sequence[str] = LONG_COLUMNS) -> pd.DataFrame:
    """Check that `data` is a long-format DataFrame and return the needed columns.

    Raises:
        InvalidInput: `data` is not a DataFrame, lacks a column or has a missing value.
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidInput(
            f"label frame lacks column(s) {', '.join(missing)}; "
            f"expected columns {', '.join(columns)} (got {', '.join(map(str, data.columns))})"
        )
    frame = data.loc[:, list(columns)]
    nulls = frame.isna().to_numpy().any(axis=1)
    if nulls.any():
        row = int(np.flatnonzero(nulls)[0])
        raise InvalidInput(f"label frame row {row} has an empty value in {', '.join(columns)}")
    return frame


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages show ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def factorize_sorted(values: pd.Series[Any] | pd.Index[Any]) -> tuple[IntArray, pd.Index[Any]]:
    """Factorise to codes whose uniques are sorted, so codes do not depend on row order.

    Values that cannot be compared with each other (say, ints mixed with strings) are ordered
    by type name, then by their string form.
    """
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(values, sort=False)
        order = sorted(range(len(uniques)), key=lambda i: _sort_key(uniques[i]))
        remap = np.empty(len(order), dtype=np.int64)
        remap[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int64)
        codes = remap[codes]
        uniques = pd.Index([uniques[i] for i in order], dtype=object)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


@dataclass(frozen=True)
class Encoded:
    """A long label frame as integer codes, rows in canonical (task, worker, label) order."""

    tasks: pd.Index[Any]
    workers: pd.Index[Any]
    labels: pd.Index[Any]
    task: IntArray
    worker: IntArray
    label: IntArray

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def task_label_counts(self, weights: FloatArray | None = None) -> FloatArray:
        """Votes (or summed weights) per task and label, shape (n_tasks, n_labels)."""
        k = self.n_labels
        flat = np.bincount(self.task * k + self.label, weights=weights, minlength=self.n_tasks * k)
        return flat.astype(np.float64).reshape(self.n_tasks, k)


def label_codes(
    values: pd.Series[Any], labels: Sequence[Hashable] | None = None
) -> tuple[IntArray, pd.Index[Any]]:
    """Codes of `values` in `labels` (default: their sorted distinct values), and that set.

    Raises:
        InvalidInput: `labels` repeats a label, or a value is not in `labels`.
    """
    if labels is None:
        return factorize_sorted(values)
    label_index = pd.Index(list(labels))
    if label_index.has_duplicates:
        twice = label_index[label_index.duplicated()][0]
        raise InvalidInput(f"the label set lists {plain(twice)!r} more than once")
    codes = np.asarray(label_index.get_indexer(pd.Index(values)), dtype=np.int64)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise InvalidInput(
            f"label {plain(values.iloc[row])!r} (row {row}) is not in the label set "
            f"{list(label_index)}"
        )
    return codes, label_index


def encode(data: pd.DataFrame, labels: Sequence[Hashable] | None = None) -> Encoded:
    """Validate a long frame and encode it (see `Encoded`).

    Args:
        data: DataFrame with columns task, worker, label.
        labels: The label set, in the order of the output columns. Defaults to the sorted
            distinct labels of `data`. Labels outside this set are an error.

    Raises:
        InvalidInput: A column is missing, a value is empty, or a label is not in `labels`.
    """
    frame = check_long_frame(data)
    t, tasks = factorize_sorted(frame["task"])
    w, workers = factorize_sorted(frame["worker"])
    y, label_index = label_codes(frame["label"], labels)
    n_w, n_k = max(len(workers), 1), max(len(label_index), 1)
    if len(tasks) * n_w * n_k < 2**62:
        order = np.argsort((t * n_w + w) * n_k + y)
    else:  # pragma: no cover - needs more than 2**62 (task, worker, label) combinations
        order = np.lexsort((y, w, t))
    return Encoded(tasks, workers, label_index, t[order], w[order], y[order])


def task_index(values: pd.Index[Any]) -> pd.Index[Any]:
    """Name an index of tasks ``task``."""
    return values.rename("task")


def posterior_frame(enc: Encoded, probas: FloatArray) -> pd.DataFrame:
    """Wrap a (task × label) posterior array as a DataFrame like crowd-kit's ``probas_``."""
    return pd.DataFrame(
        probas,
        index=task_index(enc.tasks),
        columns=enc.labels.rename("label"),
    )


def labels_from_probas(enc: Encoded, probas: FloatArray) -> pd.Series[Any]:
    """Most probable label per task; ties go to the label that sorts first (crowd-kit's idxmax)."""
    if probas.size == 0:
        return pd.Series([], index=task_index(enc.tasks), dtype=object, name="agg_label")
    best = np.argmax(probas, axis=1)
    return pd.Series(
        enc.labels.take(best).to_numpy(), index=task_index(enc.tasks), name="agg_label"
    )
