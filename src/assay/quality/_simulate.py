"""Synthetic crowds for tests, benchmarks and examples (damage-assessment style labels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import FloatArray

DAMAGE_CLASSES = ("none", "minor", "major", "destroyed")


@dataclass(frozen=True)
class Crowd:
    """A simulated pool of workers with known confusion matrices.

    Attributes:
        truth: True label code per task.
        confusion: ``confusion[w, c, k] = Pr(worker w answers k | true class c)``.
        classes: Label names, by code.
    """

    truth: np.ndarray[Any, np.dtype[np.int64]]
    confusion: FloatArray
    classes: tuple[str, ...]

    @property
    def n_workers(self) -> int:
        return int(self.confusion.shape[0])

    def answer(self, tasks: np.ndarray[Any, Any], workers: np.ndarray[Any, Any], seed: int) -> Any:
        """Draw one answer (label code) per (task, worker) pair."""
        rng = np.random.default_rng(seed)
        cum = self.confusion[workers, self.truth[tasks]].cumsum(axis=1)
        return (rng.random(len(tasks))[:, None] > cum).sum(axis=1)

    def gold(self) -> pd.Series[Any]:
        """The true labels as a Series indexed by task name."""
        names = np.asarray(self.classes, dtype=object)[self.truth]
        return pd.Series(names, index=pd.Index(_task_names(len(self.truth)), name="task"))


def _task_names(n: int) -> list[str]:
    return [f"img{i:06d}" for i in range(n)]


def make_crowd(
    n_tasks: int,
    n_workers: int,
    *,
    accuracy: tuple[float, float] = (0.55, 0.9),
    classes: tuple[str, ...] = DAMAGE_CLASSES,
    spammers: float = 0.0,
    spammer_accuracy: tuple[float, float] = (0.3, 0.6),
    seed: int = 0,
) -> Crowd:
    """Workers with accuracy uniform in `accuracy`, errors skewed toward neighbouring classes.

    A share `spammers` of the workers instead has accuracy uniform in `spammer_accuracy`.
    """
    if n_tasks < 1 or n_workers < 1 or len(classes) < 2:
        raise InvalidInput("a crowd needs at least one task, one worker and two classes")
    rng = np.random.default_rng(seed)
    k = len(classes)
    prior = np.linspace(1.6, 0.4, k)
    truth = rng.choice(k, size=n_tasks, p=prior / prior.sum()).astype(np.int64)
    acc = rng.uniform(*accuracy, size=n_workers)
    n_bad = round(spammers * n_workers)
    if n_bad:
        bad = rng.choice(n_workers, n_bad, replace=False)
        acc[bad] = rng.uniform(*spammer_accuracy, size=n_bad)
    idx = np.arange(k)
    near = 1.0 / (1.0 + np.abs(idx[:, None] - idx[None, :]))
    np.fill_diagonal(near, 0.0)
    noise = rng.dirichlet(np.ones(k), size=(n_workers, k)) * near[None]
    noise /= noise.sum(axis=2, keepdims=True)
    eye = np.eye(k)[None]
    confusion = acc[:, None, None] * eye + (1 - acc[:, None, None]) * noise
    return Crowd(truth=truth, confusion=confusion, classes=tuple(classes))


def simulate_labels(crowd: Crowd, overlap: int, *, seed: int = 0) -> pd.DataFrame:
    """A long frame where every task gets `overlap` labels from distinct random workers."""
    if not 1 <= overlap <= crowd.n_workers:
        raise InvalidInput(f"overlap must be between 1 and {crowd.n_workers}, got {overlap}")
    rng = np.random.default_rng(seed)
    n = len(crowd.truth)
    workers = np.argsort(rng.random((n, crowd.n_workers)), axis=1)[:, :overlap].ravel()
    tasks = np.repeat(np.arange(n), overlap)
    answers = crowd.answer(tasks, workers, seed + 1)
    return pd.DataFrame(
        {
            "task": np.asarray(_task_names(n), dtype=object)[tasks],
            "worker": [f"w{w:04d}" for w in workers],
            "label": np.asarray(crowd.classes, dtype=object)[answers],
        }
    )
