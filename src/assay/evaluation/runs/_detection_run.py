"""Detection runs: COCO metrics overall and per slice, PR curves, the corruption suite."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from assay.evaluation import bootstrap_metric
from assay.evaluation.runs import _robust
from assay.evaluation.runs._data import EvalData
from assay.evaluation.runs._detect import (
    METRICS,
    ImageBoxes,
    ap_values,
    coco_eval,
    f1_counts,
    holds_size,
    metric_fns,
)
from assay.evaluation.runs._predict import Boxes, Source, file_detections
from assay.evaluation.runs._settings import RunSettings
from assay.evaluation.runs._slices import ALL, SIZES, SliceDef, slice_masks
from assay.evaluation.runs._units import Predictor, Steps


def _gt(data: EvalData) -> list[ImageBoxes]:
    """Each item's objects as `assay export --format coco` writes them (see `EvalItem.objects`)."""
    return [
        ImageBoxes(gt=[(lab, b, int(crowd), area) for lab, b, area, crowd in it.objects()])
        for it in data.items
    ]


def _with(gt: list[ImageBoxes], dets: list[Boxes]) -> list[ImageBoxes]:
    return [ImageBoxes(g.gt, list(d)) for g, d in zip(gt, dets, strict=True)]


def _rows(
    data: EvalData,
    images: list[ImageBoxes],
    thr: float,
    suite: str,
    corruption: str = "",
    severity: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = np.array([f1_counts(im, thr) for im in images], dtype=np.int64).reshape(-1, 3)
    samples = pd.DataFrame(
        {
            "item_id": [it.item_id for it in data.items],
            "suite": suite,
            "corruption": corruption,
            "severity": np.full(len(images), severity, np.int64),
            "epsilon": 0.0,
            "n_gt": [len(im.gt) for im in images],
            "n_dt": [len(im.dt) for im in images],
            "tp": counts[:, 0],
            "fp": counts[:, 1],
            "fn": counts[:, 2],
        }
    )
    recs = []
    for it, im in zip(data.items, images, strict=True):
        if suite == "clean":
            recs += [(it.item_id, "", "", 0, "gt", lab, *b, np.nan, c, a) for lab, b, c, a in im.gt]
        recs += [
            (it.item_id, suite, corruption, severity, "dt", lab, *b, s, 0, b[2] * b[3])
            for lab, b, s in im.dt
        ]
    boxes = pd.DataFrame(
        recs,
        columns=[
            "item_id",
            "suite",
            "corruption",
            "severity",
            "kind",
            "label",
            "x",
            "y",
            "w",
            "h",
            "score",
            "iscrowd",
            "area",
        ],
    )
    return samples, boxes


def run_detection(
    data: EvalData,
    items_df: pd.DataFrame,
    src: Source,
    slices: list[SliceDef],
    settings: RunSettings,
    baseline: dict[str, Any] | None,
    predictor: Predictor | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summary, per-image table, box table and the items table with the columns
    ``scored_<size>`` its object-size slices are taken from; `predictor` says where the model
    runs (default: in this process)."""
    gt = _gt(data)
    dataset_labels = sorted({g[0] for im in gt for g in im.gt})
    steps = predictor.steps if predictor is not None else Steps()
    resampled = len({ALL} | {s.name for s in slices}) * len(METRICS) * settings.n_resamples
    if src.runs_images:
        predictor = replace(predictor or Predictor(src, []), items=data.items, steps=steps)
        steps.plan(_robust.passes(settings), len(data.items), resampled)
        dets = predictor.predict()
    else:
        steps.plan(0, 0, resampled)
        by_item = file_detections(src, data, dataset_labels)
        dets = [by_item[it.item_id] for it in data.items]
    categories = sorted(set(dataset_labels) | set(src.classes) | {d[0] for ds in dets for d in ds})
    clean = _with(gt, dets)
    result = coco_eval(clean, categories)
    items_df = items_df.assign(
        **{f"scored_{size}": [holds_size(im, size) for im in clean] for size in SIZES}
    )
    masks = slice_masks(items_df, slices, "detection")
    sizes = {s.name: s.object_size for s in slices}
    table: dict[str, dict[str, Any]] = {}
    for name, m in masks.items():
        size = None if name == ALL else sizes[name]
        frame = pd.DataFrame({"pos": np.flatnonzero(m)})
        fns = metric_fns(clean, categories, size, settings.score_threshold)
        metrics = {}
        for key, fn in fns.items():
            est = bootstrap_metric(
                frame,
                fn,
                n_resamples=settings.n_resamples,
                confidence=settings.confidence,
                seed=settings.seed,
                tick=steps.add,
            )
            metrics[key] = {"value": est.value, "low": est.low, "high": est.high}
        table[name] = {"n": int(m.sum()), "metrics": metrics}
    pr = {}
    for cid, name in zip(result.category_ids, result.category_names, strict=True):
        curve = result.pr_curve(category_id=cid, iou=0.5)
        if min(curve.precision) > -1:
            pr[name] = {"recall": list(curve.recall), "precision": list(curve.precision)}
    summary: dict[str, Any] = {
        "task": "detection",
        "classes": categories,
        "n_items": len(data.items),
        "n_evaluated": len(data.items),
        "primary_metric": "AP",
        "headline": {k: v["value"] for k, v in table[ALL]["metrics"].items()},
        "coco": result.to_dict(),
        "slices": table,
        "curves": {"pr": pr, "reliability": None},
    }
    samples, boxes = _rows(data, clean, settings.score_threshold, "clean")
    parts, box_parts = [samples], [boxes]
    if "corruptions" in settings.suites:
        crow = []
        for spec in list(_robust.corruption_specs(src, settings)):
            assert predictor is not None  # a prediction file has no images to corrupt
            cname, sev = spec.name, spec.severity
            ims = _with(gt, predictor.predict(spec))
            value = ap_values(coco_eval(ims, categories), None)["AP"]
            s_part, b_part = _rows(data, ims, settings.score_threshold, "corruptions", cname, sev)
            parts.append(s_part)
            box_parts.append(b_part)
            crow.append(
                {"corruption": cname, "severity": sev, "value": value, "spec": spec.to_dict()}
            )
        summary["corruptions"] = _robust.corruption_summary(
            crow, "AP", summary["headline"]["AP"], baseline
        )
    if "adversarial" in settings.suites:
        summary["adversarial"] = {
            "status": "not_applicable",
            "reason": _robust.NOT_APPLICABLE_DETECTION,
        }
    samples_all = pd.concat(parts, ignore_index=True)
    return summary, samples_all, pd.concat(box_parts, ignore_index=True), items_df
