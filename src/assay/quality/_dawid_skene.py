"""Dawid–Skene (full confusion matrices) and one-coin Dawid–Skene, vectorised with numpy.

The algorithm follows crowd-kit 1.4 (``crowdkit/aggregation/classification/dawid_skene.py``):
majority-vote initialisation, M-step ``errors[w, k, c] = Σ posteriors`` clipped at 1e-10 and
normalised over the observed label k, E-step in log space, and the stopping rule on the
evidence lower bound per label. Tasks, workers and labels are integer codes; each step is a
handful of ``np.bincount`` calls over the rows, never a Python loop over tasks.

Every row is one answer, as in crowd-kit: a worker who labelled a task twice (the same label
or two) gives two votes, in the confusion counts and in the task's likelihood alike.
`assay.quality.aggregate_frame` lists such repeats and the CLI says so.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._base import Aggregator
from assay.quality._frame import Encoded, FloatArray, IntArray, encode
from assay.quality._majority import _weighted_votes

_EPS = 1e-10


def _softmax_cols(loglik: FloatArray) -> FloatArray:
    """Softmax over axis 0 of a (labels × tasks) array, in place.

    The label axis comes first because numpy reduces over a short leading axis far faster
    than over a short trailing one.
    """
    if loglik.size == 0:
        return loglik
    loglik -= np.maximum.reduce(loglik, axis=0)
    np.exp(loglik, out=loglik)
    loglik /= np.add.reduce(loglik, axis=0)
    return loglik


def _accumulate(task: IntArray, pair: IntArray, probas_t: FloatArray, n_pairs: int) -> FloatArray:
    """``acc[w*K + k, c] = Σ_{rows of worker w with label k} probas[task, c]``.

    `probas_t` is the (labels × tasks) posterior.
    """
    k = probas_t.shape[0]
    acc = np.empty((k, n_pairs), dtype=np.float64)
    for c in range(k):
        acc[c] = np.bincount(pair, weights=probas_t[c][task], minlength=n_pairs)
    return acc.T


def _log_likelihood_t(
    task: IntArray, pair: IntArray, log_errors: FloatArray, log_priors: FloatArray, n_tasks: int
) -> FloatArray:
    """``loglik[c, j] = log p[c] + Σ_{rows of task j} log e[w, y, c]``, labels × tasks."""
    k = log_errors.shape[1]
    loglik = np.empty((k, n_tasks), dtype=np.float64)
    cols = np.ascontiguousarray(log_errors.T)
    for c in range(k):
        loglik[c] = np.bincount(task, weights=cols[c][pair], minlength=n_tasks)
        loglik[c] += log_priors[c]
    return loglik


def _entropy(probas_t: FloatArray) -> float:
    clipped = np.clip(probas_t, _EPS, None)
    return float(-np.einsum("ij,ij->", clipped, np.log(clipped)))


class DawidSkene(Aggregator):
    """Dawid–Skene EM with a full confusion matrix per worker.

    ``errors_[w, k, c] = Pr(worker w answers k | true label c)``. Golden labels, when given,
    clamp the posteriors of their tasks at every iteration.

    Args:
        n_iter: Maximum EM iterations.
        tol: Stop when the evidence lower bound per label improves by less than this.

    Attributes:
        probas_: Posterior per task and label.
        labels_: Most probable label per task (ties: the label that sorts first).
        priors_: Class prior (Series indexed by label).
        errors_: Confusion matrices, rows (worker, observed label), columns true label.
        loss_history_: Evidence lower bound per label after each iteration.
        n_iter_: Iterations run.
    """

    priors_: pd.Series[Any]
    errors_: pd.DataFrame
    workers_: pd.Index[Any]
    loss_history_: list[float]
    _given: np.ndarray[Any, np.dtype[np.bool_]]
    n_iter_: int

    def __init__(self, n_iter: int = 100, tol: float = 1e-5) -> None:
        if n_iter < 0:
            raise InvalidInput(f"n_iter must be >= 0, got {n_iter}")
        self.n_iter = n_iter
        self.tol = tol

    def _m_step(self, acc: FloatArray, n_workers: int, k: int) -> FloatArray:
        """``errors[w, k, c]``: the clipped sums normalised over the labels `w` gave.

        As in crowd-kit, a label the worker never gave takes no share of a column; otherwise
        a class with no posterior mass among the worker's tasks (all clipped) would be spread
        over all K labels instead of the labels the worker used. Those unused rows are then
        set to the clip value, for predicting on new data.
        """
        given = self._given.reshape(n_workers, k, 1)
        errors = np.where(given, np.clip(acc, _EPS, None).reshape(n_workers, k, k), 0.0)
        totals = errors.sum(axis=1, keepdims=True)
        np.divide(errors, totals, out=errors, where=totals > 0)
        errors[~np.broadcast_to(given, errors.shape)] = _EPS
        return errors.reshape(n_workers * k, k)

    def fit(self, data: pd.DataFrame, true_labels: pd.Series[Any] | None = None) -> Self:
        """Fit by EM.

        Args:
            data: Long frame with columns task, worker, label.
            true_labels: Optional golden label per task (index: task); clamps posteriors.
        """
        enc = encode(data)
        k, n_w, n_t = enc.n_labels, enc.n_workers, enc.n_tasks
        pair = enc.worker * k + enc.label
        self._given = np.bincount(pair, minlength=n_w * k) > 0
        gold_rows, gold_codes = _gold(enc, true_labels)

        probas_t = np.ascontiguousarray(_weighted_votes(enc, None).T)
        probas_t[:, gold_rows] = np.eye(k)[:, gold_codes]
        priors = probas_t.mean(axis=1) if n_t else np.zeros(k)
        acc = _accumulate(enc.task, pair, probas_t, n_w * k)
        errors = self._m_step(acc, n_w, k)
        loss = -np.inf
        self.loss_history_ = []
        iterations = 0
        for _ in range(self.n_iter if k > 1 else 0):
            iterations += 1
            log_p = np.log(np.clip(priors, _EPS, None))
            loglik = _log_likelihood_t(enc.task, pair, np.log(errors), log_p, n_t)
            probas_t = _softmax_cols(loglik)
            probas_t[:, gold_rows] = np.eye(k)[:, gold_codes]
            priors = probas_t.mean(axis=1)
            acc = _accumulate(enc.task, pair, probas_t, n_w * k)
            errors = self._m_step(acc, n_w, k)
            new_loss = self._elbo(acc, errors, priors, probas_t) / len(pair)
            self.loss_history_.append(new_loss)
            if new_loss - loss < self.tol:
                break
            loss = new_loss

        probas = np.ascontiguousarray(probas_t.T)
        self.n_iter_ = iterations
        self._store(enc, probas)
        self._set_params(enc, priors, errors)
        return self

    def fit_predict(
        self, data: pd.DataFrame, true_labels: pd.Series[Any] | None = None
    ) -> pd.Series[Any]:
        return self.fit(data, true_labels).labels_

    def fit_predict_proba(
        self, data: pd.DataFrame, true_labels: pd.Series[Any] | None = None
    ) -> pd.DataFrame:
        return self.fit(data, true_labels).probas_

    @staticmethod
    def _elbo(
        acc: FloatArray, errors: FloatArray, priors: FloatArray, probas_t: FloatArray
    ) -> float:
        log_p = np.log(np.clip(priors, _EPS, None))
        joint = float((acc * (np.log(errors) + log_p)).sum())
        return joint + _entropy(probas_t)

    def _set_params(self, enc: Encoded, priors: FloatArray, errors: FloatArray) -> None:
        labels = enc.labels.rename("label")
        self.workers_ = enc.workers.rename("worker")
        self.priors_ = pd.Series(priors, index=labels, name="prior")
        rows = pd.MultiIndex.from_product([enc.workers, enc.labels], names=["worker", "label"])
        self.errors_ = pd.DataFrame(errors, index=rows, columns=labels)

    def _posteriors(self, enc: Encoded) -> FloatArray:
        k = enc.n_labels
        errors = self.errors_.to_numpy().reshape(-1, k, k)
        codes = np.asarray(self.workers_.get_indexer(enc.workers), dtype=np.int64)[enc.worker]
        seen = codes >= 0
        pair = codes[seen] * k + enc.label[seen]
        log_p = np.log(np.clip(self.priors_.to_numpy(float), _EPS, None))
        loglik = _log_likelihood_t(
            enc.task[seen], pair, np.log(errors.reshape(-1, k)), log_p, enc.n_tasks
        )
        return np.ascontiguousarray(_softmax_cols(loglik).T)


class OneCoinDawidSkene(DawidSkene):
    """Dawid–Skene with one accuracy ``s_w`` per worker (Zhang et al., JMLR 2016).

    The confusion matrix has ``s_w`` on the diagonal and ``(1 - s_w) / (K - 1)`` elsewhere;
    ``s_w`` is the mean posterior of the labels the worker gave (as in crowd-kit).

    Attributes:
        skills_: Accuracy per worker.
        (and the attributes of `DawidSkene`)
    """

    skills_: pd.Series[Any]

    def fit(self, data: pd.DataFrame, true_labels: pd.Series[Any] | None = None) -> Self:
        self._skills: FloatArray = np.zeros(0)
        super().fit(data, true_labels)
        workers = self.workers_
        skills = self._skills if len(self._skills) == len(workers) else np.ones(len(workers))
        self.skills_ = pd.Series(skills, index=workers, name="skill")
        return self

    def _m_step(self, acc: FloatArray, n_workers: int, k: int) -> FloatArray:
        by_worker = acc.reshape(n_workers, k, k)
        counts = by_worker.sum(axis=(1, 2))
        correct = np.trace(by_worker, axis1=1, axis2=2)
        skills = np.divide(correct, counts, out=np.zeros_like(correct), where=counts > 0)
        self._skills = skills
        off = (1.0 - skills) / max(k - 1, 1)
        errors = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
        idx = np.arange(k)
        errors[:, idx, idx] = skills[:, None]
        np.clip(errors, _EPS, 1.0 - _EPS, out=errors)
        return errors.reshape(n_workers * k, k)


def _gold(enc: Encoded, true_labels: pd.Series[Any] | None) -> tuple[IntArray, IntArray]:
    if true_labels is None or len(true_labels) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.asarray(enc.tasks.get_indexer(true_labels.index), dtype=np.int64)
    codes = np.asarray(enc.labels.get_indexer(pd.Index(true_labels)), dtype=np.int64)
    unknown = (rows >= 0) & (codes < 0)
    if unknown.any():
        bad = true_labels.iloc[int(np.flatnonzero(unknown)[0])]
        raise InvalidInput(f"golden label {bad!r} is not among the labels in the data")
    keep = (rows >= 0) & (codes >= 0)
    return rows[keep], codes[keep]
