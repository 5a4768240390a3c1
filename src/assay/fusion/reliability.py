"""How far a source of detections is trusted: measured where something measured exists.

- A model's detections: the precision of its newest evaluation run (`assay eval`; detection
  runs record it in their headline), else the source kind's default.
- People's labels (`labels:DATASET`): the mean score of the label's authors from the quality
  module, measured on the human annotations of the dataset's items (`dataset_source`):
  for a boxes control, the share of an annotator's boxes (on items someone else also labelled)
  that another annotator's box of the same class corroborates (`fuse_boxes` with a quorum of
  two at IoU 0.5); for a choices control, the annotator's accuracy against the Dawid-Skene
  aggregate (`score_annotators`). An annotator's controls pool by the number of answers
  scored. An author with nothing scored (no overlap with anyone) gets the default.

`assay.fusion.fuse` combines these into an entity's confidence (see its docstring).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from assay.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd

    from assay.workspace import Workspace

__all__ = ["annotator_scores"]


def _box_scores(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Worker -> (boxes corroborated by another annotator, boxes on shared items)."""
    from assay.quality import fuse_boxes

    shared = frame.groupby("task")["worker"].transform("nunique") >= 2
    frame = frame[shared]
    if frame.empty:
        return {}
    consensus = fuse_boxes(frame[["task", "worker", "label", "x", "y", "w", "h"]], quorum=2)
    hits: dict[str, int] = defaultdict(int)
    for workers in consensus["workers"]:
        for w in workers:
            hits[str(w)] += 1
    totals = frame.groupby("worker").size()
    return {str(w): (min(hits[str(w)], int(n)), int(n)) for w, n in totals.items()}


def _choice_scores(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Worker -> (answers equal to the aggregate, answers on items with an aggregate)."""
    from assay.quality import aggregate_frame, score_annotators

    data = frame[["task", "worker", "label"]]
    if data.empty or data["worker"].nunique() < 2:
        return {}
    table = score_annotators(data, aggregate=aggregate_frame(data, "ds").labels)
    out = {}
    for w, row in table.iterrows():
        acc = row["accuracy_vs_aggregate"]
        if acc == acc:  # not nan
            out[str(w)] = (round(float(acc) * int(row["n_labels"])), int(row["n_labels"]))
    return out


def annotator_scores(ws: Workspace, dataset: str) -> dict[str, float]:
    """Author (``user:NAME``) -> measured reliability in [0, 1] on `dataset`'s items; authors
    with nothing measurable are left out (see the module docstring)."""
    from assay.quality import dataset_source

    try:
        source = dataset_source(ws, dataset)
    except (InvalidInput, NotFound):  # nobody's answers to measure
        return {}
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for control in source.controls:
        if control.type == "boxes":
            scores = _box_scores(source.boxes_frame(control))
        elif control.type == "choices" and not control.multiple:
            scores = _choice_scores(source.choices_frame(control))
        else:
            continue
        for worker, (hit, n) in scores.items():
            pooled[worker][0] += hit
            pooled[worker][1] += n
    return {w: hit / n for w, (hit, n) in sorted(pooled.items()) if n}
