"""One entry point for aggregation by method name, for the CLI, projects and datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._base import Aggregator
from assay.quality._dawid_skene import DawidSkene, OneCoinDawidSkene
from assay.quality._frame import check_long_frame
from assay.quality._glad import GLAD
from assay.quality._majority import MajorityVote, Wawa

Method = Literal["mv", "wawa", "ds", "onecoin", "glad"]
METHODS: tuple[str, ...] = get_args(Method)


def make_aggregator(method: str) -> Aggregator:
    """A fresh estimator for a method name (``mv``, ``wawa``, ``ds``, ``onecoin``, ``glad``)."""
    factories: dict[str, type[Aggregator]] = {
        "mv": MajorityVote,
        "wawa": Wawa,
        "ds": DawidSkene,
        "onecoin": OneCoinDawidSkene,
        "glad": GLAD,
    }
    if method not in factories:
        raise InvalidInput(f"unknown aggregation method {method!r}; choose one of {METHODS}")
    return factories[method]()


def worker_skills(model: Aggregator) -> pd.Series[Any]:
    """A per-worker reliability in [0, 1] (GLAD: sigmoid of the ability) for any fitted model."""
    if isinstance(model, DawidSkene) and not isinstance(model, OneCoinDawidSkene):
        k = len(model.priors_)
        if k == 0:
            return pd.Series([], index=model.workers_, name="skill", dtype=np.float64)
        errors = model.errors_.to_numpy().reshape(-1, k, k)
        diag = np.diagonal(errors, axis1=1, axis2=2)
        skill = diag @ model.priors_.to_numpy(float)
        return pd.Series(skill, index=model.workers_, name="skill")
    if isinstance(model, GLAD):
        alphas = model.alphas_.to_numpy(float)
        return pd.Series(1.0 / (1.0 + np.exp(-alphas)), index=model.alphas_.index, name="skill")
    if isinstance(model, MajorityVote | Wawa | OneCoinDawidSkene):
        return model.skills_
    raise InvalidInput(f"no worker skills for {type(model).__name__}")


@dataclass(frozen=True)
class AggregateResult:
    """The outcome of aggregating a long frame.

    Attributes:
        method: The method name.
        labels: Aggregated label per task (index: task).
        probas: Posterior per task and label.
        confidence: Posterior of the chosen label per task.
        skills: Reliability per worker in [0, 1].
        n_labels: Rows in the input.
        repeated: The (task, worker) pairs with more than one label: task, worker, n_labels.
            Every row is an answer, so each of them is a vote (crowd-kit counts them alike).
    """

    method: str
    labels: pd.Series[Any]
    probas: pd.DataFrame
    confidence: pd.Series[Any]
    skills: pd.Series[Any]
    n_labels: int
    repeated: pd.DataFrame

    @property
    def n_repeated(self) -> int:
        """Labels beyond a worker's first on a task (each counted as a vote)."""
        return int((self.repeated["n_labels"] - 1).sum())

    @property
    def n_tasks(self) -> int:
        return len(self.labels)

    @property
    def n_workers(self) -> int:
        return len(self.skills)

    def to_frame(self) -> pd.DataFrame:
        """One row per task: task, label, confidence."""
        return pd.DataFrame(
            {
                "task": self.labels.index.to_numpy(),
                "label": self.labels.to_numpy(),
                "confidence": self.confidence.to_numpy(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with one record per task."""
        return {
            "method": self.method,
            "n_labels": self.n_labels,
            "n_tasks": self.n_tasks,
            "n_workers": self.n_workers,
            "repeated": repeated_dict(self.repeated),
            "tasks": [
                {"task": _plain(t), "label": _plain(lab), "confidence": round(float(c), 6)}
                for t, lab, c in zip(
                    self.labels.index,
                    self.labels.to_numpy(),
                    self.confidence.to_numpy(),
                    strict=True,
                )
            ],
        }


def repeated_answers(frame: pd.DataFrame) -> pd.DataFrame:
    """The (task, worker) pairs of a long frame with more than one label: task, worker,
    n_labels, sorted by task and worker."""
    counts = frame.groupby(["task", "worker"], sort=True).size()
    return counts[counts > 1].rename("n_labels").reset_index()


_EXAMPLES = 5


def repeated_dict(repeated: pd.DataFrame) -> dict[str, Any]:
    """JSON-ready: the extra labels, the pairs they repeat, and the first few pairs."""
    return {
        "n_labels": int((repeated["n_labels"] - 1).sum()),
        "n_pairs": len(repeated),
        "examples": [
            {"task": _plain(t), "worker": _plain(w), "n_labels": int(n)}
            for t, w, n in repeated.head(_EXAMPLES).itertuples(index=False)
        ],
    }


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def aggregate_frame(data: pd.DataFrame, method: str = "ds") -> AggregateResult:
    """Aggregate a long frame (task, worker, label) with the named method.

    Every row is one answer: a worker who labelled a task twice gives two votes, with every
    method (crowd-kit's estimators count them alike); `AggregateResult.repeated` lists such
    pairs, and the CLI says so.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"task": ["a", "a", "a"], "worker": ["w1", "w2", "w3"],
        ...                    "label": ["rubble", "rubble", "intact"]})
        >>> aggregate_frame(df, "mv").labels.to_dict()
        {'a': 'rubble'}
    """
    frame = check_long_frame(data)
    model = make_aggregator(method)
    model.fit(frame)
    probas = model.probas_
    confidence = pd.Series(
        probas.to_numpy().max(axis=1) if probas.size else np.zeros(len(probas)),
        index=probas.index,
        name="confidence",
    )
    return AggregateResult(
        method=method,
        labels=model.labels_,
        probas=probas,
        confidence=confidence,
        skills=worker_skills(model),
        n_labels=len(frame),
        repeated=repeated_answers(frame),
    )
