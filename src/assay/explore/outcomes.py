"""Evaluation outcomes per item: true positives, false positives and false negatives of a
recorded detection run, re-matched at the IoU threshold the analyst picks.

Matching is the usual greedy one (COCO's): detections by descending score, each taking the
unmatched ground-truth box of its class with the highest IoU at or above the threshold.
Detections below the run's score threshold are left out, as in the run's own counts.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from assay.errors import InvalidInput, NotFound
from assay.labeling.users import User
from assay.store.schema import eval_runs, models_table
from assay.workspace import Workspace

Counts = dict[str, tuple[int, int, int]]  # item id -> (tp, fp, fn)
_CACHE: dict[tuple[str, str, float], Counts] = {}
_LOCK = threading.Lock()


def runs_of(ws: Workspace, dataset: str, user: User | None = None) -> list[dict[str, Any]]:
    """The recorded detection runs on a dataset, newest first (those of a registered model
    above `user` left out: its name and what it found are its own marking's)."""
    with ws.db.read() as conn:
        rows = conn.execute(
            select(
                eval_runs.c.id,
                eval_runs.c.created,
                eval_runs.c.model_name,
                eval_runs.c.commit_id,
                eval_runs.c.task,
                models_table.c.details,
            )
            .select_from(
                eval_runs.outerjoin(models_table, models_table.c.id == eval_runs.c.model_id)
            )
            .where(eval_runs.c.dataset == dataset, eval_runs.c.task == "detection")
            .order_by(eval_runs.c.created.desc())
        ).all()
    return [
        {"id": r.id, "created": r.created, "model": r.model_name, "commit": r.commit_id}
        for r in rows
        if _cleared(ws, user, r.details)
    ]


def _cleared(ws: Workspace, user: User | None, model_details: str | None) -> bool:
    """Whether `user` (None: anyone) may know of a run of the model with these details."""
    if user is None or not model_details:
        return True
    marking = json.loads(model_details).get("marking") or ""
    return ws.scheme.allows(user.clearance, ws.scheme.parse(str(marking)))


def _iou(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_counts(gt: pd.DataFrame, dt: pd.DataFrame, iou: float) -> tuple[int, int, int]:
    """(tp, fp, fn) of one image's detections against its ground truth."""
    dt = dt.sort_values("score", ascending=False, kind="stable")
    g = gt[["x", "y", "w", "h"]].to_numpy(float)
    d = dt[["x", "y", "w", "h"]].to_numpy(float)
    if len(g) == 0 or len(d) == 0:
        return 0, len(d), len(g)
    ious = _iou(d, g)
    same = dt["label"].to_numpy()[:, None] == gt["label"].to_numpy()[None]
    ious = np.where(same, ious, -1.0)
    taken = np.zeros(len(g), bool)
    tp = 0
    for row in ious:
        row = np.where(taken, -1.0, row)
        j = int(row.argmax())
        if row[j] >= iou:
            taken[j] = True
            tp += 1
    return tp, len(d) - tp, len(g) - tp


def outcomes(
    ws: Workspace, dataset: str, run_id: str, iou: float, user: User | None = None
) -> Counts:
    """Per-item (tp, fp, fn) of a run on `dataset` at IoU `iou` (kept per process); a run of
    a model above `user` answers as a missing run."""
    if not 0.0 < iou <= 1.0:
        raise InvalidInput("iou: the IoU threshold must be in (0, 1]")
    if user is not None:
        with ws.db.read() as conn:
            details = conn.execute(
                select(models_table.c.details)
                .select_from(
                    eval_runs.join(models_table, models_table.c.id == eval_runs.c.model_id)
                )
                .where(eval_runs.c.id == run_id)
            ).scalar()
        if not _cleared(ws, user, details):
            raise NotFound(f"no evaluation run {run_id!r} on dataset {dataset!r}")
    key = (ws.db.url, run_id, round(iou, 4))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    from assay.evaluation.runs import load_run

    with ws.db.read() as conn:
        known = conn.execute(
            select(eval_runs.c.id).where(eval_runs.c.id == run_id, eval_runs.c.dataset == dataset)
        ).scalar()
    if known is None:
        raise NotFound(f"no evaluation run {run_id!r} on dataset {dataset!r}")
    run = load_run(ws, run_id)
    if run.task != "detection":
        raise InvalidInput(f"run {run_id!r} is a {run.task} run; outcomes need a detection run")
    boxes = run.boxes()
    boxes = boxes[boxes["suite"].isin(["", "clean"])]
    threshold = float(run.record.get("settings", {}).get("score_threshold", 0.0) or 0.0)
    gt_all = boxes[boxes["kind"] == "gt"]
    dt_all = boxes[(boxes["kind"] == "dt") & (boxes["score"] >= threshold)]
    gt_by = dict(tuple(gt_all.groupby("item_id")))
    dt_by = dict(tuple(dt_all.groupby("item_id")))
    empty = boxes.iloc[0:0]
    counts: Counts = {}
    for item in set(gt_by) | set(dt_by):
        counts[str(item)] = match_counts(gt_by.get(item, empty), dt_by.get(item, empty), iou)
    with _LOCK:
        _CACHE[key] = counts
    return counts
