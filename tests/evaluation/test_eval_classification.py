"""Classification, calibration and PR-curve metrics agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from assay.errors import InvalidInput
from assay.evaluation import (
    accuracy,
    brier_score,
    confusion_matrix,
    expected_calibration_error,
    max_calibration_error,
    precision_recall_curve,
    precision_recall_f1,
    reliability_diagram,
    top_k_accuracy,
)

labels = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5)), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=60, deadline=None)
@given(pairs=labels)
def test_counts_based_metrics_match_sklearn(pairs: list[tuple[int, int]]) -> None:
    t, p = np.array(pairs).T
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p), abs=1e-12)
    cm, lab = confusion_matrix(t, p)
    assert np.array_equal(cm, skm.confusion_matrix(t, p, labels=lab))
    ours = precision_recall_f1(t, p)
    ref = skm.precision_recall_fscore_support(t, p, labels=lab, zero_division=0)
    for a, b in zip((ours.precision, ours.recall, ours.f1, ours.support), ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    for avg in ("macro", "micro", "weighted"):
        o = precision_recall_f1(t, p, average=avg)
        r = skm.precision_recall_fscore_support(t, p, average=avg, zero_division=0)
        np.testing.assert_allclose([o.precision, o.recall, o.f1], r[:3], atol=1e-12)


def test_confusion_matrix_with_given_labels_and_strings() -> None:
    t = np.array(["flood", "fire", "flood", "quake"])
    p = np.array(["flood", "flood", "quake", "quake"])
    cm, lab = confusion_matrix(t, p, labels=["quake", "flood"])
    assert np.array_equal(cm, skm.confusion_matrix(t, p, labels=["quake", "flood"]))
    assert lab.tolist() == ["quake", "flood"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), ties=st.booleans())
def test_top_k_and_brier_match_sklearn(seed: int, k: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(5), size=40)
    if ties:
        probs = np.round(probs, 1) + 1e-3
        probs /= probs.sum(axis=1, keepdims=True)
    t = rng.integers(0, 5, 40)
    t[:5] = np.arange(5)  # every class present, as sklearn infers labels from y_true
    assert top_k_accuracy(t, probs, k) == pytest.approx(
        skm.top_k_accuracy_score(t, probs, k=k, labels=np.arange(5)), abs=1e-12
    )
    assert brier_score(t, probs) == pytest.approx(
        skm.brier_score_loss(t, probs, labels=np.arange(5), scale_by_half=False), abs=1e-12
    )


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_positive_class_reliability_matches_calibration_curve(strategy: str) -> None:
    rng = np.random.default_rng(0)
    p1 = np.round(rng.random(300), 2)  # values on bin edges exercise the edge convention
    y = (rng.random(300) < p1).astype(int)
    diag = reliability_diagram(y, p1, n_bins=10, strategy=strategy, kind="positive")  # type: ignore[arg-type]
    prob_true, prob_pred = calibration_curve(y, p1, n_bins=10, strategy=strategy)
    ok = diag.count > 0
    np.testing.assert_allclose(diag.accuracy[ok], prob_true, atol=1e-12)
    np.testing.assert_allclose(diag.confidence[ok], prob_pred, atol=1e-12)
    assert diag.count.sum() == 300


def test_ece_and_mce_by_hand() -> None:
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    y = np.array([0, 1, 1, 0, 1])
    # top-label confidences .95 .85 .7 .55 .8 ; correct 1 0 1 0 1 ; 2 bins: (0,.5] (.5,1]
    conf, hit = np.array([0.95, 0.85, 0.7, 0.55, 0.8]), np.array([1, 0, 1, 0, 1])
    gap = abs(hit.mean() - conf.mean())
    assert expected_calibration_error(y, probs, n_bins=2) == pytest.approx(gap)
    assert max_calibration_error(y, probs, n_bins=2) == pytest.approx(gap)
    diag = reliability_diagram(y, probs, n_bins=10)
    assert diag.count.sum() == 5
    ok = diag.count > 0
    assert max_calibration_error(y, probs, n_bins=10) == pytest.approx(diag.gaps[ok].max())
    doc = diag.to_dict()
    assert doc["count"][9] == 1 and doc["accuracy"][0] is None


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    conf = np.repeat([0.25, 0.75], 4)
    probs = np.stack([1 - conf, conf], axis=1)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])  # class 1 for 1 of 4 at .25 (top label 0 right 3/4)
    assert expected_calibration_error(y, probs, n_bins=4) == pytest.approx(0.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pr_curve_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 30)
    s = np.round(rng.random(30), 1)
    ours = precision_recall_curve(y, s)
    p, r, thr = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(ours.precision, p, atol=1e-12)
    np.testing.assert_allclose(ours.recall, r, atol=1e-12)
    np.testing.assert_allclose(ours.thresholds, thr, atol=1e-12)
    if y.any():
        assert ours.average_precision() == pytest.approx(skm.average_precision_score(y, s))


def test_shape_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="equal length"):
        accuracy([1, 2], [1])
    with pytest.raises(InvalidInput, match="column indices"):
        top_k_accuracy([0, 3], np.full((2, 3), 1 / 3), 1)
    with pytest.raises(InvalidInput, match="binary"):
        reliability_diagram([0, 1], np.full((2, 3), 1 / 3), kind="positive")
