"""Confidence intervals for an attack success rate (k successes in n attempts).

Example:
    >>> lo, hi = wilson(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.1078, 0.6032)
    >>> lo, hi = clopper_pearson(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.0667, 0.6525)
"""

from __future__ import annotations

from statistics import NormalDist


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927): well behaved near 0 and 1, unlike the Wald
    interval; what a rate from a few dozen probes needs."""
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5)
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson 1934) interval from beta quantiles: never below the nominal
    coverage, so conservative."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import beta

    alpha = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)
