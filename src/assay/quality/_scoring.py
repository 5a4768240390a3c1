"""Annotator scoring: accuracy against gold and against the aggregate, confusion, time per task."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import check_long_frame, factorize_sorted


def _hits(frame: pd.DataFrame, reference: pd.Series[Any]) -> tuple[pd.Series[Any], pd.Series[Any]]:
    """Per worker: labels on tasks with a reference, and how many equal the reference."""
    ref = frame["task"].map(reference)
    known = ref.notna()
    sub = frame[known]
    equal = (sub["label"].to_numpy() == ref[known].to_numpy()).astype(np.int64)
    grouped = pd.DataFrame({"worker": sub["worker"].to_numpy(), "hit": equal}).groupby("worker")
    return grouped["hit"].size(), grouped["hit"].sum()


def score_annotators(
    data: pd.DataFrame,
    aggregate: pd.Series[Any] | None = None,
    gold: pd.Series[Any] | None = None,
) -> pd.DataFrame:
    """One row per annotator with their volume, accuracy and speed.

    Args:
        data: Long frame (task, worker, label); an optional ``lead_time`` column holds the
            seconds each label took.
        aggregate: Label of record per task (index: task), e.g. ``aggregate_frame(...).labels``.
        gold: Known true label per task (index: task).

    Returns:
        A frame indexed by worker with columns ``n_labels``, ``n_tasks``,
        ``accuracy_vs_aggregate`` (if `aggregate`), ``n_gold`` and ``accuracy_vs_gold`` (if
        `gold`; nan for a worker with no gold task), and ``seconds_per_task`` (mean lead time
        per distinct task) when a ``lead_time`` column exists.
    """
    frame = check_long_frame(data)
    workers = pd.Index(factorize_sorted(frame["worker"])[1], name="worker")
    out = pd.DataFrame(index=workers)
    grouped = frame.groupby("worker")
    out["n_labels"] = grouped.size().reindex(workers).astype(np.int64)
    out["n_tasks"] = grouped["task"].nunique().reindex(workers).astype(np.int64)
    if aggregate is not None:
        n, hit = _hits(frame, aggregate)
        out["accuracy_vs_aggregate"] = (hit / n).reindex(workers)
    if gold is not None:
        n, hit = _hits(frame, gold)
        out["n_gold"] = n.reindex(workers).fillna(0).astype(np.int64)
        out["accuracy_vs_gold"] = (hit / n).reindex(workers)
    if "lead_time" in data.columns:
        seconds = pd.to_numeric(data["lead_time"], errors="coerce")
        if seconds.isna().any() or (seconds < 0).any():
            bad = int(np.flatnonzero(seconds.isna().to_numpy() | (seconds < 0).to_numpy())[0])
            raise InvalidInput(
                f"lead_time in row {bad} is {data['lead_time'].iloc[bad]!r}; expected seconds >= 0"
            )
        total = seconds.groupby(frame["worker"]).sum().reindex(workers)
        out["seconds_per_task"] = total / out["n_tasks"]
    return out


def confusion_matrices(data: pd.DataFrame, reference: pd.Series[Any]) -> dict[Any, pd.DataFrame]:
    """Each annotator's confusion matrix against a reference label per task.

    Rows are the reference label (index name ``reference``), columns the annotator's label
    (``given``); cells count labels. All matrices share the same sorted label set. Tasks
    without a reference are left out.
    """
    frame = check_long_frame(data)
    ref = frame["task"].map(reference)
    known = ref.notna().to_numpy()
    sub, ref = frame[known], ref[known]
    codes, labels = factorize_sorted(pd.concat([sub["label"], ref], ignore_index=True))
    k = len(labels)
    given, truth = codes[: len(sub)], codes[len(sub) :]
    w_codes, workers = factorize_sorted(sub["worker"])
    cells = (w_codes * k + truth) * k + given
    counts = np.bincount(cells, minlength=len(workers) * k * k).reshape(len(workers), k, k)
    rows, cols = labels.rename("reference"), labels.rename("given")
    return {w: pd.DataFrame(counts[i], index=rows, columns=cols) for i, w in enumerate(workers)}
