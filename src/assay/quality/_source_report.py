"""The quality report for a labeling project or a dataset: agreement per control and more.

The annotator table, confusion matrices and suspicious items come from one choices control
(the named one, or the first); agreement is computed for every choices, boxes and spans
control. Time per task is each annotator's mean lead time over the items they answered
(answers without a lead time are left out of the mean).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from assay.errors import InvalidInput
from assay.quality._agreement import (
    MIN_SHARED_TASKS,
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
)
from assay.quality._boxes import box_agreement
from assay.quality._report import QualityReport, quality_report
from assay.quality._sources import ControlInfo, LabelSource

CONTROL_COLUMNS = [
    "control",
    "type",
    "n_items",
    "n_annotators",
    "n_labels",
    "n_items_multi",
    "krippendorff_alpha",
    "fleiss_kappa",
    "mean_pairwise_cohen_kappa",
    "cohen_pairs_left_out",
    "mean_iou",
    "f1_at_50",
]
_NAN = float("nan")


def source_report(
    source: LabelSource,
    *,
    control: str | None = None,
    gold: pd.Series[Any] | None = None,
    method: str = "ds",
    threshold: float = 0.7,
    max_suspicious: int = 50,
    iou_threshold: float = 0.5,
    min_shared: int = MIN_SHARED_TASKS,
) -> QualityReport:
    """Build the quality report for the human answers of a project or dataset.

    Args:
        source: From `project_source` or `dataset_source`.
        control: The choices control for annotators, confusion and suspicious items
            (default: the first choices control).
        gold: Known labels by task; a task may be an item id or a unique item name.
        method: Aggregation method for the reference labels.
        threshold: Items whose aggregate posterior is below this are suspicious.
        max_suspicious: At most this many suspicious items are listed.
        iou_threshold: IoU at which boxes (and spans) match for agreement.
        min_shared: Tasks a pair of annotators must share for its Cohen's kappa to enter
            the mean (per control too); see `quality_report`.

    Raises:
        InvalidInput: No choices control, or it has no answers.
    """
    primary = source.control(control, ("choices",))
    if primary.type != "choices":
        raise InvalidInput(
            f"control {primary.name!r} is a {primary.type} control; the annotator table and "
            "confusion matrices need a choices control"
        )
    frame = source.choices_frame(primary)
    if frame.empty:
        raise InvalidInput(f"{source.label}: control {primary.name!r} has no answers yet")
    gold_ids = _gold_by_id(gold, source.names) if gold is not None else None
    report = quality_report(
        frame[["task", "worker", "label"]],
        gold_ids,
        method=method,
        threshold=threshold,
        max_suspicious=max_suspicious,
        min_shared=min_shared,
    )
    annotators = report.annotators.copy()
    annotators["seconds_per_task"] = _seconds_per_task(source.answers).reindex(annotators.index)
    suspicious = report.suspicious.copy()
    suspicious.insert(1, "name", suspicious["task"].map(source.names))
    return dataclasses.replace(
        report,
        annotators=annotators,
        suspicious=suspicious,
        source=source.label,
        control=primary.name,
        controls=control_agreement(source, iou_threshold, min_shared),
    )


def control_agreement(
    source: LabelSource, iou_threshold: float = 0.5, min_shared: int = MIN_SHARED_TASKS
) -> pd.DataFrame:
    """One row per choices, boxes and spans control (see `CONTROL_COLUMNS`);
    ``cohen_pairs_left_out`` counts the annotator pairs sharing fewer than `min_shared` items,
    left out of the control's mean Cohen's kappa."""
    rows = []
    for c in source.controls:
        if c.type == "choices":
            rows.append(_choices_row(source, c, min_shared))
        elif c.type in ("boxes", "spans"):
            rows.append(_geometry_row(source, c, iou_threshold))
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def _volume(c: ControlInfo, frame: pd.DataFrame) -> dict[str, Any]:
    per_item = frame.groupby("task")["worker"].nunique()
    return {
        "control": c.name,
        "type": c.type,
        "n_items": len(per_item),
        "n_annotators": int(frame["worker"].nunique()),
        "n_labels": len(frame),
        "n_items_multi": int((per_item >= 2).sum()),
    }


def _choices_row(source: LabelSource, c: ControlInfo, min_shared: int) -> dict[str, Any]:
    frame = source.choices_frame(c)[["task", "worker", "label"]]
    row = {**_volume(c, frame), "mean_iou": _NAN, "f1_at_50": _NAN}
    if frame.empty:
        return {
            **row,
            "krippendorff_alpha": _NAN,
            "fleiss_kappa": _NAN,
            "mean_pairwise_cohen_kappa": _NAN,
            "cohen_pairs_left_out": 0,
        }
    cohen = cohen_kappa_pairs(frame, min_shared)
    return {
        **row,
        "krippendorff_alpha": krippendorff_alpha(frame, "nominal"),
        "fleiss_kappa": fleiss_kappa(frame),
        "mean_pairwise_cohen_kappa": cohen.mean,
        "cohen_pairs_left_out": len(cohen.left_out),
    }


def _geometry_row(source: LabelSource, c: ControlInfo, iou_threshold: float) -> dict[str, Any]:
    if c.type == "boxes":
        frame = source.boxes_frame(c)
    else:  # a span [start, end) is compared as a box of height 1 along the text
        spans = source.spans_frame(c)
        frame = spans.assign(x=spans["start"], y=0.0, w=spans["end"] - spans["start"], h=1.0).drop(
            columns=["start", "end"]
        )
    row = {
        **_volume(c, frame),
        "krippendorff_alpha": _NAN,
        "fleiss_kappa": _NAN,
        "mean_pairwise_cohen_kappa": _NAN,
        "cohen_pairs_left_out": _NAN,
    }
    if frame.empty:
        return {**row, "mean_iou": _NAN, "f1_at_50": _NAN}
    agreement = box_agreement(frame[["task", "worker", "label", "x", "y", "w", "h"]], iou_threshold)
    return {**row, "mean_iou": agreement.mean_iou, "f1_at_50": agreement.f1}


def _seconds_per_task(answers: pd.DataFrame) -> pd.Series[Any]:
    known = answers.dropna(subset=["lead_time"])
    per_item = known.groupby(["worker", "item"])["lead_time"].sum()
    return per_item.groupby(level="worker").mean().rename("seconds_per_task")


def _gold_by_id(gold: pd.Series[Any], names: dict[str, str]) -> pd.Series[Any]:
    """Gold keyed by item id; keys that are unique item names are mapped to their ids."""
    by_name: dict[str, str | None] = {}
    for item, name in names.items():
        by_name[name] = None if name in by_name else item
    keys = [str(k) if str(k) in names else (by_name.get(str(k)) or str(k)) for k in gold.index]
    out = pd.Series(gold.to_numpy(), index=pd.Index(keys, name="task"), name=gold.name)
    return out[~out.index.duplicated(keep="first")]
