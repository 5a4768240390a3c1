"""Confidence intervals for an attack success rate (k successes in n attempts), from
SciPy's `binomtest`.

Example:
    >>> lo, hi = wilson(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.1078, 0.6032)
    >>> lo, hi = clopper_pearson(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.0667, 0.6525)
"""

from __future__ import annotations

from typing import Literal


def _interval(
    k: int, n: int, confidence: float, method: Literal["wilson", "exact"]
) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
    return (float(ci.low), float(ci.high))


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927): well behaved near 0 and 1, unlike the Wald
    interval; what a rate from a few dozen probes needs."""
    return _interval(k, n, confidence, "wilson")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact interval (Clopper & Pearson 1934) from beta quantiles: never below the
    nominal coverage, so conservative."""
    return _interval(k, n, confidence, "exact")
