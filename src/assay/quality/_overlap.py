"""Adaptive overlap: ask for another label only where the aggregate is still unsure."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._base import Aggregator
from assay.quality._dawid_skene import _softmax_cols
from assay.quality._frame import FloatArray, encode


def one_coin_posterior(
    data: pd.DataFrame,
    labels: Sequence[Hashable],
    skills: pd.Series[Any] | None = None,
    default_skill: float = 0.7,
) -> pd.DataFrame:
    """Posterior per task when worker w answers right with probability ``skills[w]``.

    Wrong answers are uniform over the other labels and the prior is uniform, so a single
    label from a worker of skill 0.9 gives that label a posterior of 0.9.

    Args:
        data: Long frame (task, worker, label).
        labels: The full label set (its size matters even if some labels are unseen).
        skills: Accuracy per worker in (0, 1); missing workers get `default_skill`.
        default_skill: Accuracy assumed for workers without a known skill.
    """
    enc = encode(data, labels=labels)
    k = enc.n_labels
    if k < 2:
        raise InvalidInput("adaptive overlap needs a label set of at least two labels")
    known = skills.reindex(enc.workers) if skills is not None else None
    acc = np.full(enc.n_workers, default_skill) if known is None else known.fillna(default_skill)
    acc = np.clip(np.asarray(acc, dtype=np.float64), 1e-6, 1 - 1e-6)
    right, wrong = np.log(acc)[enc.worker], np.log((1 - acc) / (k - 1))[enc.worker]
    base = np.bincount(enc.task, weights=wrong, minlength=enc.n_tasks)
    hit = np.bincount(enc.task * k + enc.label, weights=right - wrong, minlength=enc.n_tasks * k)
    loglik: FloatArray = np.asarray(hit.reshape(enc.n_tasks, k).T + base, dtype=np.float64)
    probas = np.ascontiguousarray(_softmax_cols(loglik).T)
    return pd.DataFrame(probas, index=enc.tasks.rename("task"), columns=enc.labels.rename("label"))


@dataclass(frozen=True)
class AdaptiveOverlap:
    """Decide, per task, whether to ask for one more label.

    Ask while the aggregate posterior of the leading label is below `target` and the task has
    fewer than `max_labels` labels; always ask until `min_labels`. Stop otherwise.

    Attributes:
        target: Posterior the leading label must reach to stop.
        max_labels: Hard cap on labels per task.
        min_labels: Labels every task gets regardless of confidence.

    Example:
        >>> import pandas as pd
        >>> policy = AdaptiveOverlap(target=0.9, max_labels=4)
        >>> one = pd.DataFrame({"task": ["t"], "worker": ["ana"], "label": ["flooded"]})
        >>> policy.needs_more(one, labels=["dry", "flooded"], skills=pd.Series({"ana": 0.8}))
        True
    """

    target: float = 0.95
    max_labels: int = 5
    min_labels: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.target <= 1.0:
            raise InvalidInput(f"target must be in (0, 1], got {self.target}")
        if not 1 <= self.min_labels <= self.max_labels:
            raise InvalidInput(
                f"need 1 <= min_labels <= max_labels, got {self.min_labels} and {self.max_labels}"
            )

    def posteriors(
        self,
        data: pd.DataFrame,
        *,
        labels: Sequence[Hashable] | None = None,
        skills: pd.Series[Any] | None = None,
        model: Aggregator | None = None,
    ) -> pd.DataFrame:
        """Posterior per task: from a fitted `model` if given, else one-coin with `skills`."""
        if model is not None:
            return model.predict_proba(data)
        if labels is None:
            raise InvalidInput("give the label set (labels=...) or a fitted model")
        return one_coin_posterior(data, labels, skills)

    def decide(
        self,
        data: pd.DataFrame,
        *,
        labels: Sequence[Hashable] | None = None,
        skills: pd.Series[Any] | None = None,
        model: Aggregator | None = None,
        tasks: Sequence[Hashable] | None = None,
    ) -> pd.DataFrame:
        """Decide for every task at once.

        Args:
            data: Labels so far (task, worker, label).
            labels: Label set, for the one-coin posterior.
            skills: Accuracy per worker, for the one-coin posterior.
            model: A fitted aggregator whose ``predict_proba`` gives the posterior instead.
            tasks: All tasks to decide on, including ones without labels yet.

        Returns:
            Indexed by task: n_labels, label (leading), confidence, ask_more.
        """
        probas = self.posteriors(data, labels=labels, skills=skills, model=model)
        counts = data.groupby("task").size()
        index = probas.index if tasks is None else pd.Index(list(tasks), name="task")
        n = counts.reindex(index).fillna(0).astype(np.int64)
        conf = probas.max(axis=1).reindex(index).fillna(0.0)
        leading = probas.idxmax(axis=1).reindex(index) if probas.shape[1] else conf * np.nan
        ask = (n < self.min_labels) | ((conf < self.target) & (n < self.max_labels))
        return pd.DataFrame({"n_labels": n, "label": leading, "confidence": conf, "ask_more": ask})

    def required_labels(
        self,
        data: pd.DataFrame,
        *,
        labels: Sequence[Hashable] | None = None,
        skills: pd.Series[Any] | None = None,
        model: Aggregator | None = None,
        tasks: Sequence[Hashable] | None = None,
    ) -> pd.Series[Any]:
        """Labels each task needs in all: what it has, plus one while it should ask for more.

        This is the number a queue compares with a task's submissions to keep it open: a
        task with ``n`` labels stays open while its requirement exceeds ``n``. Arguments
        are those of `decide`; tasks without labels need `min_labels`.
        """
        d = self.decide(data, labels=labels, skills=skills, model=model, tasks=tasks)
        n = d["n_labels"].to_numpy(np.int64)
        need = np.where(d["ask_more"].to_numpy(bool), np.maximum(n + 1, self.min_labels), n)
        return pd.Series(need, index=d.index, name="required_labels")

    def needs_more(
        self,
        task_labels: pd.DataFrame,
        *,
        labels: Sequence[Hashable] | None = None,
        skills: pd.Series[Any] | None = None,
        model: Aggregator | None = None,
    ) -> bool:
        """Whether one task, with these labels so far (worker, label[, task]), needs another."""
        frame = task_labels if "task" in task_labels.columns else task_labels.assign(task=0)
        if frame["task"].nunique() > 1:
            raise InvalidInput("needs_more takes the labels of one task; use decide() for many")
        if frame.empty:
            return True
        decision = self.decide(frame, labels=labels, skills=skills, model=model)
        return bool(decision["ask_more"].iloc[0])
