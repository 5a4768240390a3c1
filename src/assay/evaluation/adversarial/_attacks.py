"""L-infinity gradient attacks: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.adversarial._models import FloatArray, as_gradient_model

Bounds = tuple[float, float] | None


def _check(
    x: npt.ArrayLike, y: npt.ArrayLike, epsilon: float, clip: Bounds
) -> tuple[FloatArray, npt.NDArray[Any]]:
    inputs = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y)
    if inputs.ndim < 1 or labels.ndim != 1 or len(labels) != len(inputs):
        raise InvalidInput(
            f"y: expected one label per sample ({len(inputs)}), got shape {labels.shape}"
        )
    if not np.all(np.isfinite(inputs)):
        raise InvalidInput("x: contains NaN or infinite values")
    if isinstance(epsilon, bool) or not math.isfinite(epsilon) or epsilon < 0:
        raise InvalidInput(f"epsilon: expected a finite number >= 0, got {epsilon!r}")
    if clip is not None:
        low, high = clip
        if not low < high:
            raise InvalidInput(f"clip: expected (low, high) with low < high, got {clip!r}")
        if inputs.size and (inputs.min() < low or inputs.max() > high):
            raise InvalidInput(
                f"x: values span [{inputs.min():g}, {inputs.max():g}], outside clip {clip!r}; "
                "rescale the inputs or pass the range they live in"
            )
    return inputs, labels


def _project(candidate: FloatArray, x: FloatArray, epsilon: float, clip: Bounds) -> FloatArray:
    out = np.clip(candidate, x - epsilon, x + epsilon)
    if clip is not None:
        out = np.clip(out, clip[0], clip[1])
    return out


def fgsm(
    model: object,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    epsilon: float,
    *,
    clip: Bounds = (0.0, 1.0),
) -> FloatArray:
    """Fast gradient sign method: one step of size `epsilon` up the sign of the loss gradient.

    Args:
        model: anything `as_gradient_model` accepts.
        x: inputs (n, ...), inside `clip`.
        y: true labels (n,).
        epsilon: L-infinity budget.
        clip: valid input range, or None for unbounded inputs.

    Returns:
        Adversarial inputs, float64, with ``|x_adv - x| <= epsilon`` and inside `clip`.
    """
    gradient_model = as_gradient_model(model)
    inputs, labels = _check(x, y, epsilon, clip)
    _, grad = gradient_model.loss_gradient(inputs, labels)
    return _project(inputs + epsilon * np.sign(grad), inputs, epsilon, clip)


def pgd(
    model: object,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    epsilon: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    clip: Bounds = (0.0, 1.0),
    keep_best: bool = True,
) -> FloatArray:
    """Projected gradient descent on the loss, within the L-infinity ball of radius `epsilon`.

    Args:
        model: anything `as_gradient_model` accepts.
        x: inputs (n, ...), inside `clip`.
        y: true labels (n,).
        epsilon: L-infinity budget.
        steps: number of signed-gradient steps.
        step_size: size of each step; default 2.5 * epsilon / steps (Madry et al.).
        random_start: start from a uniform point in the ball (seeded by `seed`).
        seed: seeds the random start.
        clip: valid input range, or None for unbounded inputs.
        keep_best: per sample, return the first iterate that is misclassified, else the one
            with the highest loss (including the start), rather than the last iterate.

    Returns:
        Adversarial inputs, float64, with ``|x_adv - x| <= epsilon`` and inside `clip`.
    """
    gradient_model = as_gradient_model(model)
    inputs, labels = _check(x, y, epsilon, clip)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInput(f"steps: expected an integer >= 1, got {steps!r}")
    if step_size is None:
        size = 2.5 * epsilon / steps
        size = size if size > 0 else epsilon  # a subnormal epsilon underflows the division
    elif isinstance(step_size, bool) or not math.isfinite(step_size) or step_size <= 0:
        raise InvalidInput(f"step_size: expected a finite number > 0, got {step_size!r}")
    else:
        size = float(step_size)
    current = inputs.copy()
    if random_start and epsilon > 0:
        rng = np.random.default_rng(seed)
        current = _project(
            inputs + rng.uniform(-epsilon, epsilon, size=inputs.shape), inputs, epsilon, clip
        )
    best = current.copy()
    best_loss = np.full(len(inputs), -np.inf)
    fooled = np.zeros(len(inputs), dtype=bool)
    for step in range(steps + 1):
        if keep_best:
            loss, grad = gradient_model.loss_gradient(current, labels)
            wrong = np.asarray(gradient_model.predict(current)) != labels
            better = ~fooled & (wrong | (loss > best_loss))
            best[better] = current[better]
            best_loss = np.where(better, loss, best_loss)
            fooled |= wrong
        elif step < steps:
            _, grad = gradient_model.loss_gradient(current, labels)
        if step == steps:
            break
        current = _project(current + size * np.sign(grad), inputs, epsilon, clip)
    return best if keep_best else current
