"""Slices, bootstrap intervals, paired bootstrap and McNemar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from assay.errors import InvalidInput
from assay.evaluation import (
    accuracy,
    bootstrap_metric,
    mcnemar,
    metric_by_slice,
    paired_bootstrap,
)


def _frame(n: int = 200, seed: int = 0, skill: float = 0.7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < skill, y, rng.integers(0, 3, n))
    return pd.DataFrame(
        {
            "item_id": np.arange(n),
            "y_true": y,
            "y_pred": pred,
            "sensor": rng.choice(["drone", "satellite"], n),
            "cloud": rng.random(n),
        }
    )


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("accuracy", lambda f: skm.accuracy_score(f.y_true, f.y_pred)),
        ("macro_f1", lambda f: skm.f1_score(f.y_true, f.y_pred, average="macro", zero_division=0)),
        ("micro_f1", lambda f: skm.f1_score(f.y_true, f.y_pred, average="micro", zero_division=0)),
        (
            "weighted_f1",
            lambda f: skm.f1_score(f.y_true, f.y_pred, average="weighted", zero_division=0),
        ),
        (
            "macro_recall",
            lambda f: skm.recall_score(f.y_true, f.y_pred, average="macro", zero_division=0),
        ),
        ("mean:cloud", lambda f: float(f.cloud.mean())),
    ],
)
def test_vectorised_resampling_equals_the_per_resample_loop(name: str, fn) -> None:
    df = _frame(120, seed=3)
    fast = bootstrap_metric(df, name, n_resamples=100, seed=5)
    slow = bootstrap_metric(df, fn, n_resamples=100, seed=5)
    assert fast.value == pytest.approx(slow.value, abs=1e-12)
    assert fast.low == pytest.approx(slow.low, abs=1e-12)
    assert fast.high == pytest.approx(slow.high, abs=1e-12)


def test_interval_is_seeded_and_sensible() -> None:
    df = _frame(400)
    a = bootstrap_metric(df, "accuracy", seed=1)
    b = bootstrap_metric(df, "accuracy", seed=1)
    c = bootstrap_metric(df, "accuracy", seed=2)
    assert a == b and a != c
    assert a.low < a.value < a.high
    se = np.sqrt(a.value * (1 - a.value) / len(df))
    assert a.high - a.low == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_slices_by_query_and_mask() -> None:
    df = _frame(300)
    out = metric_by_slice(
        df,
        "accuracy",
        {
            "drone": "sensor == 'drone'",
            "cloudy": (df.cloud > 0.5).to_numpy(),
            "none": "cloud > 2",
        },
        n_resamples=100,
    )
    drone = df[df.sensor == "drone"]
    assert out["drone"].value == pytest.approx(accuracy(drone.y_true, drone.y_pred))
    assert out["drone"].n == len(drone)
    assert out["cloudy"].n == int((df.cloud > 0.5).sum())
    assert out["none"].n == 0 and np.isnan(out["none"].value)


def test_bad_slices_and_metrics_raise_invalid_input() -> None:
    df = _frame(50)
    with pytest.raises(InvalidInput, match="slice 'x': cannot evaluate"):
        metric_by_slice(df, "accuracy", {"x": "no_such_column == 1"})
    with pytest.raises(InvalidInput, match="boolean mask"):
        metric_by_slice(df, "accuracy", {"x": np.ones(3, dtype=bool)})
    with pytest.raises(InvalidInput, match="unknown metric 'auc'"):
        bootstrap_metric(df, "auc")
    with pytest.raises(InvalidInput, match="no column 'loss'"):
        bootstrap_metric(df, "mean:loss")


def test_paired_bootstrap_on_shared_items() -> None:
    a = _frame(300, seed=1, skill=0.9)
    b = a.copy()
    rng = np.random.default_rng(9)
    flip = rng.random(300) < 0.3
    b.loc[flip, "y_pred"] = (b.loc[flip, "y_true"] + 1) % 3
    b = b.iloc[20:]  # run B misses some items; only shared ones count
    res = paired_bootstrap(a, b, "accuracy", n_resamples=500)
    shared = a.iloc[20:]
    assert res.n == 280
    assert res.difference == pytest.approx(
        accuracy(shared.y_true, shared.y_pred) - accuracy(b.y_true, b.y_pred)
    )
    assert res.low > 0 and res.p_value < 0.01
    same = paired_bootstrap(a, a, "macro_f1", n_resamples=100)
    assert same.difference == 0 and same.p_value == 1.0
    with pytest.raises(InvalidInput, match="share no items"):
        paired_bootstrap(a.iloc[:10], a.iloc[10:20], "accuracy")


@settings(max_examples=60, deadline=None)
@given(b=st.integers(0, 40), c=st.integers(0, 40), both=st.integers(0, 10))
def test_mcnemar_matches_binomial_and_chi_square(b: int, c: int, both: int) -> None:
    ca = np.array([1] * b + [0] * c + [1] * both)
    cb = np.array([0] * b + [1] * c + [1] * both)
    ex = mcnemar(ca, cb)
    assert (ex.b, ex.c) == (b, c)
    ref = 1.0 if b + c == 0 else stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert ex.p_value == pytest.approx(ref, rel=1e-9, abs=1e-15)
    chi = mcnemar(ca, cb, exact=False)
    if b + c:
        stat = (abs(b - c) - 1) ** 2 / (b + c)
        assert chi.statistic == pytest.approx(stat)
        assert chi.p_value == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-9, abs=1e-15)


def test_mcnemar_large_counts_use_log_space() -> None:
    ca = np.array([1] * 1500 + [0] * 1300)
    cb = 1 - ca
    ref = stats.binomtest(1300, 2800, 0.5).pvalue
    assert mcnemar(ca, cb).p_value == pytest.approx(ref, rel=1e-8)
