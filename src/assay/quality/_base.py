"""The estimator contract shared by every aggregator (crowd-kit style).

Input is a long frame (task, worker, label); `fit` learns state into trailing-underscore
attributes; `fit_predict` returns the label per task, `fit_predict_proba` the posteriors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import Encoded, FloatArray, encode, labels_from_probas, posterior_frame


class Aggregator(ABC):
    """Base of the categorical aggregators.

    Attributes:
        labels_: The aggregated label per task (a Series indexed by task, named ``agg_label``).
        probas_: Posterior label probabilities, tasks × labels, rows summing to 1.
    """

    labels_: pd.Series[Any]
    probas_: pd.DataFrame

    @abstractmethod
    def fit(self, data: pd.DataFrame) -> Self:
        """Learn from a long frame with columns task, worker, label."""

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """Fit and return the aggregated label per task."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Fit and return the posterior label probabilities per task."""
        return self.fit(data).probas_

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Posteriors for (possibly new) labels, using the state learned by `fit`.

        Workers the model has not seen count as uninformative; labels outside the fitted label
        set are an error.
        """
        self._check_fitted()
        enc = encode(data, labels=list(self.probas_.columns))
        return posterior_frame(enc, self._posteriors(enc))

    def predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """Most probable label per task for `data`, using the state learned by `fit`."""
        self._check_fitted()
        enc = encode(data, labels=list(self.probas_.columns))
        return labels_from_probas(enc, self._posteriors(enc))

    def _posteriors(self, enc: Encoded) -> FloatArray:
        raise NotImplementedError  # pragma: no cover - every shipped estimator overrides it

    def _store(self, enc: Encoded, probas: FloatArray) -> None:
        self.probas_ = posterior_frame(enc, probas)
        self.labels_ = labels_from_probas(enc, probas)

    def _check_fitted(self) -> None:
        if not hasattr(self, "probas_"):
            raise InvalidInput(f"{type(self).__name__} is not fitted yet; call fit(data) first")


def normalize_rows(scores: FloatArray, fallback: FloatArray | None = None) -> FloatArray:
    """Scale rows to sum to 1; rows summing to 0 take the matching `fallback` row (or uniform)."""
    sums = scores.sum(axis=1, keepdims=True)
    empty = sums[:, 0] <= 0
    out = np.divide(scores, sums, out=np.zeros_like(scores), where=sums > 0)
    if empty.any():
        if fallback is not None:
            out[empty] = normalize_rows(fallback[empty])
        else:
            out[empty] = 1.0 / max(scores.shape[1], 1)
    result: FloatArray = out
    return result
