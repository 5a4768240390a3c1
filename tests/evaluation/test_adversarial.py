"""FGSM and PGD against scikit-learn linear models and plain callables; robust accuracy tables."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import LinearSVC

from assay.errors import InvalidInput
from assay.evaluation.adversarial import (
    CallableModel,
    LinearModelGradient,
    as_gradient_model,
    fgsm,
    pgd,
    robust_accuracy,
)

EPSILONS = [0.0, 0.02, 0.05, 0.1, 0.2]


def two_class(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = 0.5 + (2 * y[:, None] - 1) * 0.12 + rng.normal(0, 0.15, (n, 8))
    return np.clip(x, 0, 1), y


def three_class(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.uniform(0.3, 0.7, (3, 8))
    return np.clip(centres[y] + rng.normal(0, 0.1, (n, 8)), 0, 1), np.array(["a", "b", "c"])[y]


X2, Y2 = two_class()
X3, Y3 = three_class()
LOGREG2 = LogisticRegression().fit(X2, Y2)
LOGREG3 = LogisticRegression().fit(X3, Y3)


def accuracy(model: object, x: np.ndarray, y: np.ndarray) -> float:
    return float((as_gradient_model(model).predict(x) == y).mean())


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression().fit(X2, Y2),
        LogisticRegression().fit(X3, Y3),
        LinearSVC().fit(X3, Y3),
        SGDClassifier(loss="hinge", random_state=0).fit(X2, Y2 * 5 + 1),
    ],
)
def test_closed_form_gradient_matches_finite_differences(estimator: object) -> None:
    model = LinearModelGradient(estimator)
    x = X2[:5] if len(model.classes_) == 2 else X3[:5]
    y = model.classes_[np.arange(5) % len(model.classes_)]
    loss, grad = model.loss_gradient(x, y)
    step = 1e-6
    numeric = np.zeros_like(x)
    for j in range(x.shape[1]):
        bump = np.zeros_like(x)
        bump[:, j] = step
        numeric[:, j] = (
            model.loss_gradient(x + bump, y)[0] - model.loss_gradient(x - bump, y)[0]
        ) / (2 * step)
    assert np.allclose(grad, numeric, atol=1e-5)
    assert np.all(loss >= 0)


def test_logistic_loss_is_the_sklearn_log_loss() -> None:
    model = LinearModelGradient(LOGREG3)
    loss, _ = model.loss_gradient(X3, Y3)
    proba = LOGREG3.predict_proba(X3)
    expected = -np.log(proba[np.arange(len(Y3)), model.class_indices(Y3)])
    assert np.allclose(loss, expected)


@pytest.mark.parametrize(("x", "y"), [(X2, Y2), (X3, Y3)])
def test_fgsm_accuracy_falls_as_epsilon_grows(x: np.ndarray, y: np.ndarray) -> None:
    model = LOGREG2 if len(np.unique(y)) == 2 else LOGREG3
    table = robust_accuracy(model, x, y, EPSILONS, attack="fgsm")
    acc = [row.accuracy for row in table.rows]
    assert acc[0] == pytest.approx(accuracy(model, x, y))
    assert all(b < a for a, b in itertools.pairwise(acc)), acc
    assert acc[0] > 0.8
    assert acc[-1] < 0.3
    assert [row.epsilon for row in table.rows] == EPSILONS


@pytest.mark.parametrize(("x", "y"), [(X2, Y2), (X3, Y3)])
def test_pgd_is_at_least_as_strong_as_fgsm(x: np.ndarray, y: np.ndarray) -> None:
    model = LOGREG2 if len(np.unique(y)) == 2 else LOGREG3
    for epsilon in EPSILONS[1:]:
        after_fgsm = accuracy(model, fgsm(model, x, y, epsilon), y)
        after_pgd = accuracy(model, pgd(model, x, y, epsilon, steps=20, seed=3), y)
        assert after_pgd <= after_fgsm


def test_pgd_beats_fgsm_somewhere_on_a_multiclass_model() -> None:
    gaps = [
        accuracy(LOGREG3, fgsm(LOGREG3, X3, Y3, e), Y3)
        - accuracy(LOGREG3, pgd(LOGREG3, X3, Y3, e, steps=20), Y3)
        for e in (0.03, 0.05, 0.08)
    ]
    assert max(gaps) > 0


def test_pgd_raises_the_loss() -> None:
    model = LinearModelGradient(LOGREG3)
    clean, _ = model.loss_gradient(X3, Y3)
    attacked, _ = model.loss_gradient(pgd(LOGREG3, X3, Y3, 0.05, keep_best=False), Y3)
    assert np.all(attacked >= clean - 1e-9)
    assert attacked.mean() > clean.mean() + 0.1


@settings(max_examples=30, deadline=None)
@given(
    epsilon=st.floats(0, 0.5),
    steps=st.integers(1, 6),
    random_start=st.booleans(),
    seed=st.integers(0, 1000),
    multiclass=st.booleans(),
)
def test_perturbations_stay_within_epsilon_and_range(
    epsilon: float, steps: int, random_start: bool, seed: int, multiclass: bool
) -> None:
    x, y, model = (X3, Y3, LOGREG3) if multiclass else (X2, Y2, LOGREG2)
    x, y = x[:40], y[:40]
    for adversarial in (
        fgsm(model, x, y, epsilon),
        pgd(model, x, y, epsilon, steps=steps, random_start=random_start, seed=seed),
    ):
        assert adversarial.shape == x.shape
        assert np.abs(adversarial - x).max() <= epsilon + 1e-12
        assert adversarial.min() >= 0.0
        assert adversarial.max() <= 1.0


def test_unbounded_inputs_and_image_shaped_inputs() -> None:
    images = X2.reshape(-1, 2, 4)
    out = fgsm(LOGREG2, images, Y2, 0.1, clip=None)
    assert out.shape == images.shape
    assert np.allclose(np.abs(out - images), 0.1)  # every coordinate moves the full budget


def test_pgd_is_deterministic_given_seed() -> None:
    a = pgd(LOGREG3, X3, Y3, 0.05, seed=4)
    assert np.array_equal(a, pgd(LOGREG3, X3, Y3, 0.05, seed=4))
    assert not np.array_equal(
        pgd(LOGREG3, X3, Y3, 0.05, seed=4, keep_best=False),
        pgd(LOGREG3, X3, Y3, 0.05, seed=5, keep_best=False),
    )


def test_callable_model_with_scalar_loss() -> None:
    weights = np.array([1.0, -2.0, 0.5])

    def loss_gradient(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        margin = (2 * y - 1) * (x @ weights)
        loss = float(np.sum(np.log1p(np.exp(-margin))))
        grad = (-(2 * y - 1) / (1 + np.exp(margin)))[:, None] * weights
        return loss, grad

    def predict(x: np.ndarray) -> np.ndarray:
        return (x @ weights > 0).astype(int)

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 3))
    y = predict(x)
    model = CallableModel(loss_gradient, predict)
    table = robust_accuracy(model, x, y, [0.0, 0.05, 0.2], attack="pgd")
    acc = [row.accuracy for row in table.rows]
    assert acc[0] == 1.0
    assert acc[0] > acc[1] > acc[2]
    assert table.rows[2].max_perturbation <= 0.2 + 1e-12


def test_robustness_table_serialises() -> None:
    table = robust_accuracy(LOGREG2, X2, Y2, [0.0, 0.1], attack="pgd", steps=5, seed=2)
    records = json.loads(json.dumps(table.to_records()))
    assert records[0]["attack"] == "pgd"
    assert records[1]["epsilon"] == 0.1
    assert set(records[1]) == {
        "attack",
        "epsilon",
        "accuracy",
        "attack_success_rate",
        "max_perturbation",
        "n",
    }
    assert table.settings["steps"] == 5
    assert "| 0.1 |" in table.to_markdown()
    assert records[1]["attack_success_rate"] > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fgsm(LOGREG2, X2, Y2, -0.1), "epsilon"),
        (lambda: fgsm(LOGREG2, X2, Y2[:-1], 0.1), "one label per sample"),
        (lambda: fgsm(LOGREG2, X2 + 2, Y2, 0.1), "outside clip"),
        (lambda: fgsm(LOGREG2, X2, Y2, 0.1, clip=(1.0, 0.0)), "clip"),
        (lambda: fgsm(LOGREG2, X2[:, :3], Y2, 0.1), "features"),
        (lambda: fgsm(LOGREG2, X2, Y2 + 7, 0.1), "not a class"),
        (lambda: pgd(LOGREG2, X2, Y2, 0.1, steps=0), "steps"),
        (lambda: pgd(LOGREG2, X2, Y2, 0.1, step_size=float("nan")), "step_size"),
        (lambda: fgsm(object(), X2, Y2, 0.1), "cannot take gradients"),
        (lambda: robust_accuracy(LOGREG2, X2, Y2, [], attack="fgsm"), "epsilons"),
        (lambda: robust_accuracy(LOGREG2, X2, Y2, [0.1], attack="cw"), "attack"),  # type: ignore[arg-type]
        (
            lambda: fgsm(CallableModel(lambda x, y: (0.0, x[:, :1]), lambda x: Y2), X2, Y2, 0.1),
            "gradient shape",
        ),
    ],
)
def test_bad_arguments_are_reported(call: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call()  # type: ignore[operator]
