"""Corruption summaries (mCE, relative mCE, mPC, rPC) and the adversarial suite.

Definitions, after Hendrycks & Dietterich (ICLR 2019), with the ``--baseline`` run in the
place of AlexNet. E is the error: 1 - accuracy for classification, 1 - AP for detection.

* Corruption error of corruption c: ``CE_c = sum_s E(s, c) / sum_s E_base(s, c)``, over the
  severities run; ``mCE`` is the mean of CE_c over the corruptions run.
* Relative corruption error: ``rCE_c = sum_s (E(s, c) - E_clean) /
  sum_s (E_base(s, c) - E_base_clean)``; ``relative mCE`` is its mean. It measures how much
  a model degrades compared with how much the baseline degrades. Undefined (null) where
  the baseline does not degrade.
* mPC (Michaelis et al. 2019): mean performance over every corruption and severity run;
  ``rPC = mPC / clean performance`` (relative performance under corruption, 1.0 means no
  loss). Both need no baseline.

Values below 1 for CE mean fewer errors than the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.adversarial import CallableModel, fgsm, pgd
from assay.evaluation.corruptions import CorruptionSpec
from assay.evaluation.runs._settings import RunSettings


def _mean(values: Sequence[float]) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def corruption_summary(
    rows: list[dict[str, Any]],
    metric: str,
    clean: float,
    baseline: dict[str, Any] | None,
) -> dict[str, Any]:
    """Per corruption and overall numbers from rows ``{corruption, severity, value}``."""
    base_rows: dict[tuple[str, int], float] = {}
    base_clean = None
    if baseline is not None:
        corr = baseline.get("corruptions") or {}
        if corr.get("metric") != metric:
            raise InvalidInput(
                f"baseline run {baseline.get('run_id', '?')}: it has no corruption results "
                f"for {metric}; run it with --suite corruptions"
            )
        base_rows = {(r["corruption"], r["severity"]): r["value"] for r in corr["rows"]}
        base_clean = float(baseline["headline"][metric])
    per: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["corruption"] for r in rows):
        mine = [r for r in rows if r["corruption"] == name]
        entry: dict[str, Any] = {"mean": _mean([r["value"] for r in mine])}
        if baseline is not None and base_clean is not None:
            err, base_err = [], []
            for r in mine:
                key = (name, r["severity"])
                if key not in base_rows:
                    raise InvalidInput(
                        f"baseline run {baseline.get('run_id', '?')}: no result for corruption "
                        f"{name} at severity {r['severity']}; run both with the same "
                        "--corruptions and --severities"
                    )
                err.append(1.0 - r["value"])
                base_err.append(1.0 - base_rows[key])
            den = float(np.sum(base_err))
            rel_den = float(np.sum(np.asarray(base_err) - (1.0 - base_clean)))
            entry["CE"] = float(np.sum(err)) / den if den > 0 else None
            rel_num = float(np.sum(np.asarray(err) - (1.0 - clean)))
            entry["relative_CE"] = rel_num / rel_den if rel_den > 0 else None
        per[name] = entry
    mpc = _mean([r["value"] for r in rows])
    out: dict[str, Any] = {
        "metric": metric,
        "rows": rows,
        "per_corruption": per,
        "mPC": mpc,
        "rPC": (mpc / clean) if mpc is not None and clean > 0 else None,
        "mCE": None,
        "relative_mCE": None,
        "baseline": baseline.get("run_id") if baseline else None,
    }
    if baseline is not None:
        out["mCE"] = _mean([e["CE"] for e in per.values()])
        out["relative_mCE"] = _mean([e["relative_CE"] for e in per.values()])
    return out


def adversarial_rows(
    predict_proba: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]],
    loss_gradient: Callable[..., Any],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    settings: RunSettings,
    attacked: Callable[[int], None] | None = None,
) -> list[tuple[float, npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """(epsilon, predicted class, max |x_adv - x| per sample) for each budget; `attacked`
    is told of the samples attacked, a budget at a time."""

    def predict(z: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.asarray(predict_proba(z.astype(np.float32)).argmax(axis=1), dtype=np.int64)

    model = CallableModel(loss_gradient, predict)
    inputs = x.astype(np.float64)
    out = []
    for eps in settings.epsilons:
        if eps == 0:
            adv = inputs
        elif settings.attack == "fgsm":
            adv = fgsm(model, inputs, y, float(eps))
        else:
            adv = pgd(model, inputs, y, float(eps), steps=settings.attack_steps, seed=settings.seed)
        delta = (
            np.abs(adv - inputs).reshape(len(inputs), -1).max(axis=1)
            if len(inputs)
            else (np.zeros(0))
        )
        out.append((float(eps), predict(adv), delta))
        if attacked is not None:
            attacked(len(inputs))
    return out


NOT_APPLICABLE_ONNX = (
    "not applicable: ONNX models expose no input gradients (onnxruntime runs inference only); "
    "attack the model through the Python API with a CallableClassifier that has loss_gradient"
)
NOT_APPLICABLE_FILE = "not applicable: a prediction file holds fixed outputs; no model to attack"
NOT_APPLICABLE_DETECTION = "not applicable: the adversarial suite attacks image classifiers"
NOT_APPLICABLE_CALLABLE = "not applicable: the model has no loss_gradient"


def passes(settings: RunSettings) -> int:
    """The model's passes over the images a run makes before any attack: the clean one, and
    one per corruption and severity of the corruptions suite."""
    if "corruptions" not in settings.suites:
        return 1
    return 1 + len(settings.corruption_list) * len(settings.severities)


def corruption_specs(src: Any, settings: RunSettings) -> Iterator[CorruptionSpec]:
    """Every (corruption, severity) of the run, in order.

    A prediction file holds fixed outputs, so the suite needs a model that runs on images.
    """
    if not src.runs_images:
        raise InvalidInput(
            f"{src.file or src.name}: the corruptions suite runs a model on corrupted images; "
            "a prediction file holds fixed outputs (use --model)"
        )
    for name in settings.corruption_list:
        for sev in settings.severities:
            yield CorruptionSpec(name, sev, settings.seed)
