"""McNemar's test for two classifiers judged on the same items.

Only the discordant pairs carry information: b = items A got right and B got
wrong, c = the reverse. The exact test is a two-sided binomial test of b
against Binomial(b + c, 1/2); the chi-square test uses (|b - c| - 1)^2 / (b + c)
with continuity correction. Both follow statsmodels' `mcnemar`.

Example:
    >>> r = mcnemar([1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 1, 0])
    >>> (r.b, r.c, round(r.p_value, 3))
    (3, 0, 0.25)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from assay.errors import InvalidInput


@dataclass(frozen=True)
class McNemarResult:
    """Test outcome. `statistic` is min(b, c) for the exact test, the chi-square value otherwise."""

    statistic: float
    p_value: float
    b: int
    c: int
    exact: bool


def _binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exact integers for small n, log-space otherwise."""
    if n <= 1000:
        return float(sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    i = np.arange(k + 1)
    lg = np.vectorize(math.lgamma)
    logp = math.lgamma(n + 1) - lg(i + 1) - lg(n - i + 1) - n * math.log(2)
    top = float(logp.max())
    return float(math.exp(top) * np.sum(np.exp(logp - top)))


def mcnemar(
    correct_a: ArrayLike, correct_b: ArrayLike, exact: bool = True, correction: bool = True
) -> McNemarResult:
    """McNemar's test of paired correctness.

    Args:
        correct_a: Per-item correctness (bool or 0/1) of run A.
        correct_b: The same items, run B.
        exact: Binomial test if True (the default, as statsmodels), else chi-square.
        correction: Continuity correction of the chi-square test.
    """
    a, b_ = np.asarray(correct_a), np.asarray(correct_b)
    if a.ndim != 1 or a.shape != b_.shape:
        raise InvalidInput(
            f"correct_a and correct_b must be 1-D of equal length, got {a.shape}, {b_.shape}"
        )
    if not (np.isin(a, [0, 1]).all() and np.isin(b_, [0, 1]).all()):
        raise InvalidInput("correctness must be boolean or 0/1")
    a, b_ = a.astype(bool), b_.astype(bool)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = b + c
    if exact:
        k = min(b, c)
        return McNemarResult(float(k), min(1.0, 2 * _binom_cdf_half(k, n)), b, c, True)
    if n == 0:
        return McNemarResult(0.0, 1.0, b, c, False)
    stat = (abs(b - c) - (1.0 if correction else 0.0)) ** 2 / n
    return McNemarResult(stat, math.erfc(math.sqrt(stat / 2)), b, c, False)
