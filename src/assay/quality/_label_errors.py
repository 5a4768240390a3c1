"""Ranking items whose label of record is likely wrong, for a review queue.

Two sources of evidence:

* model predicted probabilities (confident learning, via cleanlab: the ``quality`` extra);
* several annotators per item: CROWDLAB (cleanlab) when model probabilities are available,
  else the Dawid–Skene posterior of the consensus label.

Every function returns a DataFrame sorted by ``rank`` (1 = most likely wrong) with a
``score`` in [0, 1] where lower means more suspicious.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput, require
from assay.quality._dawid_skene import DawidSkene
from assay.quality._frame import check_long_frame, factorize_sorted, plain

_LABEL_ISSUE_COLUMNS = ("item", "given_label", "predicted_label", "score", "is_issue")
_MULTI_COLUMNS = ("task", "consensus_label", "score", "annotator_agreement", "num_annotations")


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["score", frame.columns[0]], kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def _probas_matrix(
    pred_probs: pd.DataFrame | np.ndarray[Any, Any], classes: Sequence[Any] | None
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[Any]]:
    if isinstance(pred_probs, pd.DataFrame):
        return pred_probs.to_numpy(dtype=np.float64), list(pred_probs.columns)
    matrix = np.asarray(pred_probs, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidInput(f"pred_probs must be 2-D (items × classes), got shape {matrix.shape}")
    if classes is None:
        classes = list(range(matrix.shape[1]))
    if len(classes) != matrix.shape[1]:
        raise InvalidInput(f"{len(classes)} classes for {matrix.shape[1]} pred_probs columns")
    return matrix, list(classes)


def _rows_for(pred_probs: pd.DataFrame, ids: pd.Index[Any], what: str) -> pd.DataFrame:
    """The rows of `pred_probs` for `ids`, in that order, matched by index (not position)."""
    doubled = pred_probs.index[pred_probs.index.duplicated()]
    if len(doubled):
        raise InvalidInput(f"pred_probs has more than one row for {what} {plain(doubled[0])!r}")
    at = pred_probs.index.get_indexer(ids)
    if (at < 0).any():
        missing = ids[int(np.flatnonzero(at < 0)[0])]
        raise InvalidInput(f"pred_probs has no row for {what} {plain(missing)!r}")
    return pred_probs.iloc[at]


def _check_distributions(matrix: np.ndarray[Any, Any], ids: pd.Index[Any], what: str) -> None:
    """Each row of model probabilities lies in [0, 1] and sums to 1 (to 1e-4)."""
    outside = ((matrix < 0) | (matrix > 1) | np.isnan(matrix)).any(axis=1)
    if outside.any():
        bad = plain(ids[int(np.argmax(outside))])
        raise InvalidInput(f"pred_probs row for {what} {bad!r} has a value outside [0, 1]")
    sums = matrix.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-4
    if off.any():
        row = int(np.argmax(off))
        raise InvalidInput(
            f"pred_probs row for {what} {plain(ids[row])!r} sums to {sums[row]:g}, not 1"
        )


def rank_label_issues(
    labels: Sequence[Any] | pd.Series[Any],
    pred_probs: pd.DataFrame | np.ndarray[Any, Any],
    *,
    classes: Sequence[Any] | None = None,
    filter_by: str = "prune_by_noise_rate",
) -> pd.DataFrame:
    """Confident learning: rank items by how likely their given label is wrong.

    `pred_probs` must be out-of-sample (cross-validated) model probabilities.

    Args:
        labels: Given label per item (a Series keeps its index as the item id).
        pred_probs: Items × classes; a DataFrame's columns name the classes. When `labels`
            is a Series and `pred_probs` a DataFrame, rows are matched by index (every item
            needs exactly one row); otherwise by position.
        classes: Class names for an array `pred_probs` (default 0..K-1).
        filter_by: cleanlab's ``find_label_issues`` method for the ``is_issue`` flag.

    Returns:
        Columns item, given_label, predicted_label, score (cleanlab self-confidence),
        is_issue, rank.
    """
    series = labels if isinstance(labels, pd.Series) else pd.Series(list(labels))
    if isinstance(labels, pd.Series) and isinstance(pred_probs, pd.DataFrame):
        pred_probs = _rows_for(pred_probs, series.index, "item")
    matrix, names = _probas_matrix(pred_probs, classes)
    if len(series) != len(matrix):
        raise InvalidInput(f"{len(series)} labels for {len(matrix)} pred_probs rows")
    codes = pd.Index(names).get_indexer(pd.Index(series))
    if (codes < 0).any():
        bad = series.iloc[int(np.flatnonzero(codes < 0)[0])]
        raise InvalidInput(f"given label {bad!r} is not one of the classes {names}")
    _check_distributions(matrix, series.index, "item")
    if len(series) == 0:
        return _ranked(pd.DataFrame(columns=list(_LABEL_ISSUE_COLUMNS)))
    require("cleanlab", "quality")
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    scores = get_label_quality_scores(codes, matrix)
    issues = find_label_issues(codes, matrix, filter_by=filter_by)
    frame = pd.DataFrame(
        {
            "item": series.index.to_numpy(),
            "given_label": series.to_numpy(),
            "predicted_label": np.asarray(names, dtype=object)[matrix.argmax(axis=1)],
            "score": scores,
            "is_issue": issues,
        }
    )
    return _ranked(frame)


def rank_multiannotator_issues(
    data: pd.DataFrame,
    pred_probs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rank tasks labelled by several annotators by how likely the consensus is wrong.

    With `pred_probs` (tasks × labels, index task, out-of-sample model probabilities) this is
    CROWDLAB (cleanlab ``get_label_quality_multiannotator``): the score is the consensus
    quality score. Without a model the score is the Dawid–Skene posterior of the consensus
    label.

    The columns of `pred_probs` are the classes: every label given must be one, and a class
    no annotator chose keeps its probability (the consensus may be that class). CROWDLAB
    takes one label per annotator and task and needs some task labelled twice.

    Returns:
        Columns task, consensus_label, score, annotator_agreement, num_annotations, rank.
    """
    frame = check_long_frame(data)
    if frame.empty:
        return _ranked(pd.DataFrame(columns=list(_MULTI_COLUMNS)))
    t_codes, tasks = factorize_sorted(frame["task"])
    y_codes, labels = factorize_sorted(frame["label"])
    n_tasks = len(tasks)
    num = np.bincount(t_codes, minlength=n_tasks)
    if pred_probs is None:
        model = DawidSkene().fit(frame)
        probas = model.probas_.reindex(index=tasks, columns=labels).to_numpy()
        consensus = probas.argmax(axis=1)
        score = probas[np.arange(n_tasks), consensus]
    else:
        labels, y_codes, consensus, score = _crowdlab(
            frame, t_codes, y_codes, tasks, labels, pred_probs
        )
    agree = np.bincount(t_codes, weights=(y_codes == consensus[t_codes]), minlength=n_tasks)
    result = pd.DataFrame(
        {
            "task": tasks.to_numpy(),
            "consensus_label": labels.take(consensus).to_numpy(),
            "score": score,
            "annotator_agreement": agree / num,
            "num_annotations": num,
        }
    )
    return _ranked(result)


def _crowdlab(
    frame: pd.DataFrame,
    t_codes: np.ndarray[Any, Any],
    y_codes: np.ndarray[Any, Any],
    tasks: pd.Index[Any],
    labels: pd.Index[Any],
    pred_probs: pd.DataFrame,
) -> tuple[pd.Index[Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """CROWDLAB over every class of `pred_probs` (also those no annotator chose).

    Returns the classes (the columns of `pred_probs`), the given labels and the consensus as
    codes into them, and the consensus quality score.
    """
    classes = pd.Index(pred_probs.columns)
    at = classes.get_indexer(labels)
    if (at < 0).any():
        bad = labels[int(np.flatnonzero(at < 0)[0])]
        raise InvalidInput(
            f"label {plain(bad)!r} is not a column of pred_probs (columns: {list(classes)})"
        )
    probs = _rows_for(pred_probs, tasks, "task")
    empty = probs.isna().to_numpy().any(axis=1)
    if empty.any():
        bad = plain(tasks[int(np.argmax(empty))])
        raise InvalidInput(f"pred_probs has an empty value for task {bad!r}")
    _check_distributions(probs.to_numpy(dtype=np.float64), tasks, "task")
    w_codes, workers = factorize_sorted(frame["worker"])
    cell = t_codes * len(workers) + w_codes
    uniq, counts = np.unique(cell, return_counts=True)
    if (counts > 1).any():
        first = int(uniq[counts > 1][0])
        raise InvalidInput(
            f"worker {plain(workers[first % len(workers)])!r} labelled task "
            f"{plain(tasks[first // len(workers)])!r} more than once; CROWDLAB takes one label per "
            "annotator and task"
        )
    if not (np.bincount(t_codes, minlength=len(tasks)) > 1).any():
        raise InvalidInput(
            "CROWDLAB needs a task labelled by two annotators or more; here every task has "
            "one label (rank with rank_label_issues, or without pred_probs)"
        )
    wide = np.full((len(tasks), len(workers)), np.nan)
    wide[t_codes, w_codes] = at[y_codes]
    require("cleanlab", "quality")
    from cleanlab.multiannotator import get_label_quality_multiannotator

    out = get_label_quality_multiannotator(
        pd.DataFrame(wide),
        probs.to_numpy(dtype=np.float64),
        return_detailed_quality=False,
        return_annotator_stats=False,
        verbose=False,
    )
    quality = out["label_quality"]
    consensus = quality["consensus_label"].to_numpy(dtype=np.int64)
    score = quality["consensus_quality_score"].to_numpy(dtype=np.float64)
    return classes, at[y_codes], consensus, score
