"""Majority vote and Wawa (worker agreement with aggregate)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._base import Aggregator, normalize_rows
from assay.quality._frame import Encoded, FloatArray, encode, plain


def _first_of_run(enc: Encoded) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Mask that keeps one row of each repeated (task, worker, label) triple."""
    keep = np.ones(len(enc.task), dtype=bool)
    if len(keep) > 1:
        same = (
            (enc.task[1:] == enc.task[:-1])
            & (enc.worker[1:] == enc.worker[:-1])
            & (enc.label[1:] == enc.label[:-1])
        )
        keep[1:] = ~same
    return keep


def agreement_with(enc: Encoded, reference: np.ndarray[Any, np.dtype[np.int64]]) -> FloatArray:
    """Per worker, the share of their labels equal to `reference[task]` (a label code per task).

    A repeated (task, worker, label) triple counts once, as in crowd-kit's ``get_accuracy``.
    """
    keep = _first_of_run(enc)
    w, t, y = enc.worker[keep], enc.task[keep], enc.label[keep]
    hits = np.bincount(w, weights=(y == reference[t]).astype(np.float64), minlength=enc.n_workers)
    hits = hits.astype(np.float64)
    totals = np.bincount(w, minlength=enc.n_workers).astype(np.float64)
    return np.divide(hits, totals, out=np.zeros_like(hits), where=totals > 0)


def _weighted_votes(enc: Encoded, worker_weights: FloatArray | None) -> FloatArray:
    votes = enc.task_label_counts()
    if worker_weights is None:
        return normalize_rows(votes)
    weighted = enc.task_label_counts(weights=worker_weights[enc.worker])
    # A task whose workers all weigh 0 falls back to the plain vote.
    return normalize_rows(weighted, fallback=votes)


class MajorityVote(Aggregator):
    """Majority vote, optionally weighted by worker skill.

    Ties: when two or more labels share the largest vote, the label that sorts first wins
    (the same rule as crowd-kit's ``idxmax`` over sorted label columns). The rule depends only
    on the set of votes, never on row order.

    Attributes:
        probas_: Vote shares per task and label.
        labels_: Winning label per task.
        skills_: Per worker, the share of their labels that agree with ``labels_``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"task": ["t1", "t1", "t1"], "worker": ["a", "b", "c"],
        ...                    "label": ["flooded", "flooded", "dry"]})
        >>> MajorityVote().fit_predict(df).to_dict()
        {'t1': 'flooded'}
    """

    skills_: pd.Series[Any]

    def __init__(
        self, skills: pd.Series[Any] | None = None, default_skill: float | None = None
    ) -> None:
        """Args:
        skills: Optional vote weight per worker (index: worker).
        default_skill: Weight of workers missing from `skills`; by default a missing worker
            is an error (crowd-kit's ``on_missing_skill="error"``), so no vote is dropped
            unseen.
        """
        self.skills = skills
        self.default_skill = default_skill

    def _weights(self, enc: Encoded) -> FloatArray | None:
        if self.skills is None:
            return None
        known = self.skills.reindex(enc.workers)
        if self.default_skill is None and known.isna().any():
            missing = enc.workers[int(np.argmax(known.isna().to_numpy()))]
            raise InvalidInput(
                f"worker {plain(missing)!r} has no skill; pass default_skill= to weigh workers "
                "without one"
            )
        weights = known.fillna(self.default_skill or 0.0).to_numpy(float)
        if (weights < 0).any():
            raise InvalidInput("worker skills used as vote weights must be >= 0")
        return np.asarray(weights, dtype=np.float64)

    def fit(self, data: pd.DataFrame) -> Self:
        enc = encode(data)
        probas = _weighted_votes(enc, self._weights(enc))
        self._store(enc, probas)
        best = np.argmax(probas, axis=1) if probas.size else np.zeros(0, np.int64)
        self.skills_ = pd.Series(
            agreement_with(enc, best), index=enc.workers.rename("worker"), name="skill"
        )
        return self

    def _posteriors(self, enc: Encoded) -> FloatArray:
        return _weighted_votes(enc, self._weights(enc))


class Wawa(Aggregator):
    """Worker Agreement With Aggregate: majority vote weighted by agreement with majority vote.

    Each worker's skill is the share of their labels equal to the plain majority vote; the
    final label is the skill-weighted vote (ties as in `MajorityVote`).

    Attributes:
        skills_: Per worker agreement with the plain majority vote.
        probas_: Skill-weighted vote shares.
        labels_: Winning label per task.
    """

    skills_: pd.Series[Any]

    def fit(self, data: pd.DataFrame) -> Self:
        enc = encode(data)
        mv = normalize_rows(enc.task_label_counts())
        best = np.argmax(mv, axis=1) if mv.size else np.zeros(0, np.int64)
        skills = agreement_with(enc, best)
        self.skills_ = pd.Series(skills, index=enc.workers.rename("worker"), name="skill")
        self._store(enc, _weighted_votes(enc, skills))
        return self

    def _posteriors(self, enc: Encoded) -> FloatArray:
        weights = self.skills_.reindex(enc.workers).fillna(0.0).to_numpy(float)
        return _weighted_votes(enc, np.asarray(weights, dtype=np.float64))
