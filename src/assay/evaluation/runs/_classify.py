"""Classification runs: per-sample rows, per-slice metrics with intervals, curves, suites."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from assay.errors import InvalidInput
from assay.evaluation import (
    bootstrap_metric,
    expected_calibration_error,
    precision_recall_curve,
    reliability_diagram,
)
from assay.evaluation.runs import _robust
from assay.evaluation.runs._data import EvalData, EvalItem, to_batch
from assay.evaluation.runs._predict import Source, file_probabilities
from assay.evaluation.runs._settings import RunSettings
from assay.evaluation.runs._slices import SliceDef, slice_masks
from assay.evaluation.runs._units import Predictor, Steps
from assay.models import gradient_of

METRICS = ("accuracy", "macro_f1", "brier", "ece")
N_BINS = 15


def rows_for(
    items: list[EvalItem],
    y: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float64],
    classes: list[str],
    suite: str,
    corruption: str = "",
    severity: int = 0,
    epsilon: float = 0.0,
) -> pd.DataFrame:
    """Per-sample results of one pass."""
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1.0
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame(
        {
            "item_id": [it.item_id for it in items],
            "suite": suite,
            "corruption": corruption,
            "severity": np.full(len(items), severity, np.int64),
            "epsilon": np.full(len(items), epsilon, np.float64),
            "y_true": names[y] if len(y) else [],
            "y_pred": names[pred] if len(y) else [],
            "confidence": probs.max(axis=1) if len(probs) else [],
            "correct": pred == y,
            "brier": ((probs - onehot) ** 2).sum(axis=1),
            "probs": list(probs),
        }
    )


def _ece(frame: pd.DataFrame) -> float:
    if len(frame) == 0:
        return float("nan")
    hit = frame["correct"].to_numpy(bool).astype(np.int64)
    return expected_calibration_error(
        hit, frame["confidence"].to_numpy(float), N_BINS, kind="positive"
    )


_MEASURED: dict[str, Any] = {  # METRICS, as `bootstrap_metric` computes them
    "accuracy": "accuracy",
    "macro_f1": "macro_f1",
    "brier": "mean:brier",
    "ece": _ece,
}


def slice_metrics(
    frame: pd.DataFrame, settings: RunSettings, steps: Steps | None = None
) -> dict[str, Any]:
    """Every metric of one slice with its bootstrap interval (`steps` hears of the
    resamples)."""
    kw: dict[str, Any] = {
        "n_resamples": settings.n_resamples,
        "confidence": settings.confidence,
        "seed": settings.seed,
        "tick": steps.add if steps is not None else None,
    }
    out = {}
    for key, metric in _MEASURED.items():
        est = bootstrap_metric(frame, metric, **kw)
        out[key] = {"value": est.value, "low": est.low, "high": est.high}
    return {"n": len(frame), "metrics": out}


def _curves(
    y: npt.NDArray[np.int64], probs: npt.NDArray[np.float64], classes: list[str]
) -> dict[str, Any]:
    pr = {}
    for k, name in enumerate(classes):
        if not (y == k).any():
            continue
        c = precision_recall_curve(y == k, probs[:, k], pos_label=True)
        pr[name] = {
            "recall": c.recall.tolist(),
            "precision": c.precision.tolist(),
            "ap": c.average_precision(),
        }
    rel = reliability_diagram(y, probs, N_BINS).to_dict() if len(y) else None
    return {"pr": pr, "reliability": rel}


def run_classification(
    data: EvalData,
    items_df: pd.DataFrame,
    src: Source,
    slices: list[SliceDef],
    settings: RunSettings,
    baseline: dict[str, Any] | None,
    predictor: Predictor | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Summary and per-sample table of a classification run; `predictor` says where the
    model runs (default: in this process)."""
    steps = predictor.steps if predictor is not None else Steps()
    masks = slice_masks(items_df, slices)
    resampled = len(masks) * len(METRICS) * settings.n_resamples
    labelled = [it for it in data.items if it.choice() is not None]
    if not labelled:
        raise InvalidInput(
            f"{data.dataset}@{data.commit_id[:12]}: no item has a 'choice' label; "
            "classification needs one class of record per item"
        )
    if src.probabilities is not None:
        kept, probs = file_probabilities(src, data)
        have = {it.item_id for it in kept}
        missing = [it for it in labelled if it.item_id not in have]
        if missing:  # scored on the rows given alone, the run would answer for fewer items
            raise InvalidInput(
                f"{src.probabilities.source}: no row for {len(missing)} of the {len(labelled)} "
                f"item(s) with a class of record in {data.dataset}@{data.commit_id[:12]} "
                f"(first: {missing[0].name or missing[0].item_id[:12]}); give each a row, or "
                "evaluate a commit of the items you predicted"
            )
        keep = {it.item_id for it in labelled}
        mask = np.asarray([it.item_id in keep for it in kept], dtype=bool)
        items, probs = [it for it in kept if it.item_id in keep], probs[mask]
        predictor = None
        steps.plan(0, 0, resampled)
    else:
        items = labelled
        predictor = replace(predictor or Predictor(src, []), items=items, steps=steps)
        attacked = "adversarial" in settings.suites and src.has_gradients
        adversarial = len(settings.epsilons) if attacked else 0
        steps.plan(_robust.passes(settings) + adversarial, len(items), resampled)
        probs = predictor.predict()
    classes = list(src.classes)
    index = {c: k for k, c in enumerate(classes)}
    for it in items:
        if it.choice() not in index:
            raise InvalidInput(
                f"model {src.ref or src.name}: item {it.name} is labelled {it.choice()!r}, "
                f"which is not among the model's classes ({', '.join(classes)})"
            )
    y = np.asarray([index[str(it.choice())] for it in items], dtype=np.int64)
    samples = [rows_for(items, y, probs, classes, "clean")]
    clean = samples[0]
    pos = {iid: k for k, iid in enumerate(items_df["item_id"])}
    member = [pos[i] for i in clean["item_id"]]
    table = {
        name: slice_metrics(clean[m[member]].reset_index(drop=True), settings, steps)
        for name, m in masks.items()
    }
    headline = {k: v["value"] for k, v in table["all"]["metrics"].items()}
    summary: dict[str, Any] = {
        "task": "classification",
        "classes": classes,
        "n_items": len(data.items),
        "n_evaluated": len(items),
        "n_unlabelled": len(data.items) - len(labelled),
        "n_without_prediction": len(labelled) - len(items),
        "primary_metric": "accuracy",
        "headline": headline,
        "slices": table,
        "curves": _curves(y, probs, classes),
    }
    if "corruptions" in settings.suites:
        crow = []
        for spec in list(_robust.corruption_specs(src, settings)):
            assert predictor is not None  # a prediction file has no images to corrupt
            name, sev = spec.name, spec.severity
            part = rows_for(items, y, predictor.predict(spec), classes, "corruptions", name, sev)
            samples.append(part)
            crow.append(
                {
                    "corruption": name,
                    "severity": sev,
                    "value": float(part["correct"].mean()),
                    "spec": spec.to_dict(),
                }
            )
        summary["corruptions"] = _robust.corruption_summary(
            crow, "accuracy", headline["accuracy"], baseline
        )
    if "adversarial" in settings.suites:
        images = predictor.images if predictor is not None and src.has_gradients else []
        summary["adversarial"] = _adversarial(
            src,
            images,
            items,
            y,
            classes,
            settings,
            samples,
            steps if predictor is not None else None,
        )
    return summary, pd.concat(samples, ignore_index=True)


def _adversarial(
    src: Source,
    images: list[Any],
    items: list[EvalItem],
    y: npt.NDArray[np.int64],
    classes: list[str],
    settings: RunSettings,
    samples: list[pd.DataFrame],
    steps: Steps | None = None,
) -> dict[str, Any]:
    grad = gradient_of(src.adapter) if src.adapter is not None else None
    if grad is None:
        reason = (
            _robust.NOT_APPLICABLE_FILE
            if src.kind == "predictions"
            else _robust.NOT_APPLICABLE_ONNX
            if src.kind == "onnx"
            else _robust.NOT_APPLICABLE_CALLABLE
        )
        return {"status": "not_applicable", "reason": reason}
    x = to_batch(images, src.adapter.input_size, src.name)
    rows = []
    for eps, pred, delta in _robust.adversarial_rows(
        src.adapter.predict_proba, grad, x, y, settings, steps.add if steps else None
    ):
        onehot = np.zeros((len(pred), len(classes)))
        onehot[np.arange(len(pred)), pred] = 1.0
        part = rows_for(items, y, onehot, classes, "adversarial", epsilon=eps)
        samples.append(part)
        rows.append(
            {
                "epsilon": eps,
                "accuracy": float(part["correct"].mean()),
                "max_perturbation": float(delta.max()) if len(delta) else 0.0,
                "n": len(part),
            }
        )
    return {"status": "ok", "attack": settings.attack, "steps": settings.attack_steps, "rows": rows}
