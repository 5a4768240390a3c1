"""GLAD: worker ability and task difficulty (Whitehill et al., NeurIPS 2009).

Follows crowd-kit 1.4 (``crowdkit/aggregation/classification/glad.py``): ability ``alpha_w``,
log inverse difficulty ``beta_j``, ``Pr(correct) = sigmoid(alpha_w * exp(beta_j))``, wrong
answers uniform over the other K-1 labels, Gaussian priors (mean 1, sd 1) on alpha and beta,
EM with a conjugate-gradient M-step (scipy, the ``quality`` extra). The per-row sums are
``np.bincount`` calls over integer codes.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from assay.errors import InvalidInput, require
from assay.quality._base import Aggregator
from assay.quality._dawid_skene import _softmax_cols
from assay.quality._frame import Encoded, FloatArray, encode

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class GLAD(Aggregator):
    """GLAD aggregation.

    Args:
        n_iter: Maximum EM iterations.
        tol: Stop when the expected log-likelihood per (label, class) improves by less.
        m_step_max_iter: Conjugate-gradient iterations per M-step.
        m_step_tol: Conjugate-gradient tolerance.

    Attributes:
        probas_: Posterior per task and label.
        labels_: Most probable label per task.
        alphas_: Worker ability (Series indexed by worker).
        betas_: Log inverse task difficulty (Series indexed by task).
        priors_: Class prior (uniform).
        loss_history_: Objective per (label, class) after each iteration.
    """

    alphas_: pd.Series[Any]
    betas_: pd.Series[Any]
    priors_: pd.Series[Any]
    loss_history_: list[float]

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        m_step_max_iter: int = 25,
        m_step_tol: float = 1e-2,
    ) -> None:
        if n_iter < 0:
            raise InvalidInput(f"n_iter must be >= 0, got {n_iter}")
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_max_iter = m_step_max_iter
        self.m_step_tol = m_step_tol

    def fit(self, data: pd.DataFrame) -> Self:
        optimize: Any = require("scipy.optimize", "quality")
        enc = encode(data)
        k = enc.n_labels
        model = _GladModel(enc)
        alpha = np.ones(enc.n_workers)
        beta = np.ones(enc.n_tasks)
        log_prior = np.full(k, -np.log(k)) if k else np.zeros(0)
        probas = model.posteriors(alpha, beta, log_prior)
        q = model.objective(alpha, beta, probas)
        self.loss_history_ = []
        n_w = enc.n_workers
        for _ in range(self.n_iter if k > 1 else 0):
            last_q = q
            probas = model.posteriors(alpha, beta, log_prior)

            def f(x: FloatArray, post: FloatArray = probas) -> float:
                return -model.objective(x[:n_w], x[n_w:], post)

            def df(x: FloatArray, post: FloatArray = probas) -> FloatArray:
                return -model.gradient(x[:n_w], x[n_w:], post)

            res = optimize.minimize(
                f,
                np.concatenate([alpha, beta]),
                method="CG",
                jac=df,
                tol=self.m_step_tol,
                options={"disp": False, "maxiter": self.m_step_max_iter},
            )
            alpha, beta = res.x[:n_w].copy(), res.x[n_w:].copy()
            q = model.objective(alpha, beta, probas) / (len(enc.task) * k)
            self.loss_history_.append(q)
            if q - last_q < self.tol:
                break
        self._store(enc, probas)
        self.alphas_ = pd.Series(alpha, index=enc.workers.rename("worker"), name="alpha")
        self.betas_ = pd.Series(beta, index=enc.tasks.rename("task"), name="beta")
        self.priors_ = pd.Series(np.exp(log_prior), index=enc.labels.rename("label"), name="prior")
        return self

    def _posteriors(self, enc: Encoded) -> FloatArray:
        alpha = self.alphas_.reindex(enc.workers).fillna(0.0).to_numpy(float)
        beta = self.betas_.reindex(enc.tasks).fillna(1.0).to_numpy(float)
        log_prior = np.log(self.priors_.to_numpy(float))
        return _GladModel(enc).posteriors(alpha, beta, log_prior)


class _GladModel:
    """Vectorised likelihood, objective and gradient of GLAD over encoded rows."""

    def __init__(self, enc: Encoded) -> None:
        self.enc = enc
        self.k = enc.n_labels
        self.log_km1 = np.log(self.k - 1) if self.k > 1 else 0.0
        self.task_label = enc.task * self.k + enc.label

    def _terms(self, alpha: FloatArray, beta: FloatArray) -> tuple[FloatArray, FloatArray]:
        ab = alpha[self.enc.worker] * np.exp(beta[self.enc.task])
        log_sigma = -np.logaddexp(0.0, -ab)
        log_wrong = -np.logaddexp(0.0, ab) - self.log_km1
        return log_sigma, log_wrong

    def posteriors(self, alpha: FloatArray, beta: FloatArray, log_prior: FloatArray) -> FloatArray:
        enc, k = self.enc, self.k
        log_sigma, log_wrong = self._terms(alpha, beta)
        base = np.bincount(enc.task, weights=log_wrong, minlength=enc.n_tasks)
        hit = np.bincount(
            self.task_label, weights=log_sigma - log_wrong, minlength=enc.n_tasks * k
        ).reshape(enc.n_tasks, k)
        loglik_t = hit.T + base + log_prior[:, None]
        return np.ascontiguousarray(_softmax_cols(loglik_t).T)

    def objective(self, alpha: FloatArray, beta: FloatArray, probas: FloatArray) -> float:
        log_sigma, log_wrong = self._terms(alpha, beta)
        p_obs = probas[self.enc.task, self.enc.label]
        q = float((p_obs * log_sigma + (1.0 - p_obs) * log_wrong).sum())
        q -= float(0.5 * ((alpha - 1.0) ** 2).sum() + _HALF_LOG_2PI * len(alpha))
        q -= float(0.5 * ((beta - 1.0) ** 2).sum() + _HALF_LOG_2PI * len(beta))
        return q if np.isfinite(q) else -np.inf

    def gradient(self, alpha: FloatArray, beta: FloatArray, probas: FloatArray) -> FloatArray:
        enc = self.enc
        exp_beta = np.exp(beta[enc.task])
        sigma = 1.0 / (1.0 + np.exp(-alpha[enc.worker] * exp_beta))
        resid = (probas[enc.task, enc.label] - sigma) * exp_beta
        d_alpha = np.bincount(enc.worker, weights=resid, minlength=enc.n_workers)
        d_beta = np.bincount(enc.task, weights=resid * alpha[enc.worker], minlength=enc.n_tasks)
        return np.concatenate([d_alpha - (alpha - 1.0), d_beta - (beta - 1.0)])
