"""The label-quality report: agreement, annotators, confusion matrices, suspicious items."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from assay.quality._aggregate import _plain, aggregate_frame, repeated_dict
from assay.quality._agreement import (
    MIN_SHARED_TASKS,
    CohenPairs,
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
)
from assay.quality._frame import check_long_frame
from assay.quality._scoring import confusion_matrices, score_annotators


@dataclass(frozen=True)
class QualityReport:
    """Everything `assay quality report` shows, computed from one long frame.

    Attributes:
        method: Aggregation method behind the labels of record.
        n_labels, n_tasks, n_workers: Volume.
        label_set: Distinct labels, sorted.
        agreement: ``krippendorff_alpha`` (nominal), ``fleiss_kappa``,
            ``mean_pairwise_cohen_kappa`` (over the pairs sharing enough tasks, see `cohen`).
        annotators: One row per annotator (see `score_annotators`).
        confusion: Per annotator, counts of (reference, given) labels.
        confusion_reference: ``gold`` when gold labels were given, else ``aggregate``.
        suspicious: Tasks whose aggregate posterior is below the threshold, lowest first:
            task, label, confidence, votes.
        threshold: The posterior threshold for suspicious tasks.
        source: Where the labels came from (``project NAME``, ``dataset NAME``, a file).
        control: The choices control behind the annotator table, confusion and suspicious
            tasks (reports built from a project or dataset).
        controls: Agreement per control, one row each (reports built from a project or
            dataset; see `assay.quality.source_report`).
        cohen: The pairs of annotators the mean Cohen's kappa left out (too few shared
            tasks) and the repeated ratings it did not count (see `cohen_kappa_pairs`).
        repeated: The (task, annotator) pairs with more than one label (task, worker,
            n_labels): each is a vote for the aggregation and a rating for alpha and Fleiss.
    """

    method: str
    n_labels: int
    n_tasks: int
    n_workers: int
    label_set: list[Any]
    agreement: dict[str, float]
    annotators: pd.DataFrame
    confusion: dict[Any, pd.DataFrame]
    confusion_reference: str
    suspicious: pd.DataFrame
    threshold: float
    source: str | None = None
    control: str | None = None
    controls: pd.DataFrame | None = None
    cohen: CohenPairs | None = None
    repeated: pd.DataFrame | None = None

    @property
    def criterion(self) -> str:
        """Which tasks are listed as suspicious, as a person reads it."""
        return f"posterior < {self.threshold:g}" if self.threshold < 1 else "every task"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document (nan becomes None)."""
        doc: dict[str, Any] = {}
        if self.source is not None:
            doc["source"] = self.source
        if self.control is not None:
            doc["control"] = self.control
        doc.update(self._body())
        if self.controls is not None:
            doc["controls"] = _records(self.controls)
        return doc

    def _body(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_labels": self.n_labels,
            "n_tasks": self.n_tasks,
            "n_workers": self.n_workers,
            "labels": [_plain(v) for v in self.label_set],
            "agreement": {k: _num(v) for k, v in self.agreement.items()},
            "cohen_kappa_pairs": self.cohen.to_dict() if self.cohen is not None else None,
            "repeated": repeated_dict(self.repeated) if self.repeated is not None else None,
            "annotators": _records(self.annotators.reset_index()),
            "confusion_reference": self.confusion_reference,
            "confusion": {
                str(w): {"labels": [_plain(v) for v in m.index], "counts": m.to_numpy().tolist()}
                for w, m in self.confusion.items()
            },
            "threshold": self.threshold,
            "suspicious": _records(self.suspicious),
        }


def _num(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return round(value, 6) if isinstance(value, float) else value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _num(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _votes(frame: pd.DataFrame, tasks: pd.Index[Any]) -> pd.Series[Any]:
    sub = frame[frame["task"].isin(tasks)]
    counts = sub.groupby(["task", "label"]).size().reset_index(name="n")
    counts = counts.sort_values(["task", "n", "label"], ascending=[True, False, True])
    text = counts["label"].astype(str) + "×" + counts["n"].astype(str)
    return text.groupby(counts["task"]).agg(", ".join)


def quality_report(
    data: pd.DataFrame,
    gold: pd.Series[Any] | None = None,
    *,
    method: str = "ds",
    threshold: float = 0.7,
    max_suspicious: int = 50,
    min_shared: int = MIN_SHARED_TASKS,
) -> QualityReport:
    """Build the quality report for a long frame (task, worker, label[, lead_time]).

    Args:
        data: The labels.
        gold: Optional known label per task (index: task).
        method: Aggregation method for the labels of record (see `aggregate_frame`).
        threshold: Tasks whose aggregate posterior is below this are suspicious (at 1, every
            task).
        max_suspicious: At most this many suspicious tasks are listed.
        min_shared: Tasks a pair of annotators must share for its Cohen's kappa to enter
            the mean; pairs sharing fewer are left out and listed (`QualityReport.cohen`).
    """
    frame = check_long_frame(data)
    cohen = cohen_kappa_pairs(frame, min_shared)
    result = aggregate_frame(frame, method)
    annotators = score_annotators(data, aggregate=result.labels, gold=gold)
    reference = gold if gold is not None else result.labels
    # At 1 every task is listed, certain ones too (a posterior is never above 1).
    below = result.confidence < threshold if threshold < 1 else result.confidence.notna()
    low = result.confidence[below].sort_values(kind="stable")
    low = low.iloc[:max_suspicious]
    suspicious = pd.DataFrame(
        {
            "task": low.index.to_numpy(),
            "label": result.labels.reindex(low.index).to_numpy(),
            "confidence": low.to_numpy(),
            "votes": _votes(frame, low.index).reindex(low.index).to_numpy(),
        }
    )
    agreement = {
        "krippendorff_alpha": krippendorff_alpha(frame, "nominal"),
        "fleiss_kappa": fleiss_kappa(frame),
        "mean_pairwise_cohen_kappa": cohen.mean,
    }
    return QualityReport(
        method=method,
        n_labels=len(frame),
        n_tasks=result.n_tasks,
        n_workers=int(frame["worker"].nunique()),
        label_set=list(result.probas.columns),
        agreement=agreement,
        annotators=annotators,
        confusion=confusion_matrices(frame, reference),
        confusion_reference="gold" if gold is not None else "aggregate",
        suspicious=suspicious,
        threshold=threshold,
        cohen=cohen,
        repeated=result.repeated,
    )
