"""Models an attack can differentiate: sklearn linear models, torch modules, plain callables.

Each adapter exposes the same two methods: `loss_gradient(x, y)` returning per-sample losses
and the gradient of the summed loss with respect to `x`, and `predict(x)` returning labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput, require

FloatArray = npt.NDArray[np.float64]
LossGradient = Callable[[FloatArray, npt.NDArray[Any]], tuple[Any, Any]]


@runtime_checkable
class GradientModel(Protocol):
    """What the attacks need from a model."""

    def loss_gradient(self, x: FloatArray, y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Per-sample losses (n,) and d(sum of losses)/dx, shaped like `x`."""
        ...

    def predict(self, x: FloatArray) -> npt.NDArray[Any]:
        """Predicted labels (n,), comparable with the `y` given to `loss_gradient`."""
        ...


class LinearModelGradient:
    """Cross-entropy gradients of a fitted scikit-learn linear classifier, in closed form.

    Works with any estimator exposing `coef_`, `intercept_` and `classes_`
    (LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...). Its decision scores are
    treated as logits: for LogisticRegression that is exactly its training loss; for a linear SVM
    it is the usual smooth surrogate (the hinge loss has zero gradient beyond the margin, which
    would stall an attack). Inputs of any shape are flattened to (n, features).

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> x = np.array([[0.1, 0.2], [0.9, 0.8]]); y = np.array([0, 1])
        >>> model = LinearModelGradient(LogisticRegression().fit(x, y))
        >>> loss, grad = model.loss_gradient(x, y)
        >>> grad.shape
        (2, 2)
    """

    def __init__(self, estimator: Any) -> None:
        for attribute in ("coef_", "intercept_", "classes_"):
            if not hasattr(estimator, attribute):
                raise InvalidInput(
                    f"model: {type(estimator).__name__} has no {attribute}; pass a fitted "
                    "linear classifier (e.g. LogisticRegression, LinearSVC)"
                )
        self.estimator = estimator
        self.coef_ = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        self.intercept_ = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
        self.classes_ = np.asarray(estimator.classes_)

    def _flat(self, x: FloatArray) -> FloatArray:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if flat.shape[1] != self.coef_.shape[1]:
            raise InvalidInput(
                f"x: model expects {self.coef_.shape[1]} features per sample, got {flat.shape[1]}"
            )
        return flat

    def class_indices(self, y: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        """Positions of the labels `y` in `classes_`; unknown labels are an error."""
        order = np.argsort(self.classes_)
        try:
            found = np.searchsorted(self.classes_, y, sorter=order)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"y: labels of type {np.asarray(y).dtype} do not match the model's classes "
                f"{self.classes_.tolist()!r}"
            ) from exc
        found = np.clip(found, 0, len(order) - 1)
        index = order[found]
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise InvalidInput(f"y: label {y[np.argmax(unknown)]!r} is not a class of the model")
        return np.asarray(index, dtype=np.intp)

    def loss_gradient(self, x: FloatArray, y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Per-sample cross-entropy and its gradient with respect to `x`."""
        flat = self._flat(x)
        index = self.class_indices(np.asarray(y))
        scores = flat @ self.coef_.T + self.intercept_
        if self.coef_.shape[0] == 1:  # binary: one score, positive class is classes_[1]
            score = scores[:, 0]
            target = (index == 1).astype(np.float64)
            loss = np.logaddexp(0.0, score) - target * score
            prob = 0.5 * (1.0 + np.tanh(0.5 * score))  # stable sigmoid
            grad = (prob - target)[:, None] * self.coef_[0]
        else:
            top = scores.max(axis=1, keepdims=True)
            exp = np.exp(scores - top)
            total = exp.sum(axis=1, keepdims=True)
            prob = exp / total
            rows = np.arange(len(flat))
            loss = (np.log(total[:, 0]) + top[:, 0]) - scores[rows, index]
            prob[rows, index] -= 1.0
            grad = prob @ self.coef_
        return np.asarray(loss, dtype=np.float64), np.asarray(grad.reshape(np.shape(x)))

    def predict(self, x: FloatArray) -> npt.NDArray[Any]:
        """The estimator's own predictions on the flattened inputs."""
        return np.asarray(self.estimator.predict(self._flat(x)))


class TorchClassifier:
    """Cross-entropy gradients of a torch `nn.Module` that maps inputs to logits.

    torch is imported only when this class is instantiated. Labels are class indices. The module
    is used as it is (call `.eval()` first if it has dropout or batch norm).

    Args:
        module: a torch.nn.Module returning logits (n, classes).
        device: where to run, e.g. "cpu" or "cuda:0".
    """

    def __init__(self, module: Any, *, device: str = "cpu") -> None:
        self._torch: Any = cast(Any, require("torch", "torch"))
        self.module = module
        self.device = device
        first = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
        self.dtype: Any = first.dtype if first is not None else self._torch.float32

    def _tensor(self, x: FloatArray) -> Any:
        return self._torch.as_tensor(np.asarray(x), device=self.device).to(self.dtype)

    def loss_gradient(self, x: FloatArray, y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Per-sample cross-entropy of the logits and its gradient with respect to `x`."""
        torch = self._torch
        inputs = self._tensor(x).requires_grad_(True)
        targets = torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)
        logits = self.module(inputs)
        losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        (grad,) = torch.autograd.grad(losses.sum(), inputs)
        return (
            losses.detach().cpu().numpy().astype(np.float64),
            grad.detach().cpu().numpy().astype(np.float64),
        )

    def predict(self, x: FloatArray) -> npt.NDArray[Any]:
        """Arg-max of the logits."""
        torch = self._torch
        with torch.no_grad():
            return np.asarray(self.module(self._tensor(x)).argmax(dim=1).cpu().numpy())


class CallableModel:
    """Wrap two functions: `loss_gradient(x, y) -> (loss, gradient)` and `predict(x) -> labels`.

    `loss` may be per sample (n,) or one number (then every sample is given that loss);
    `gradient` must have the shape of `x`.
    """

    def __init__(self, loss_gradient: LossGradient, predict: Callable[[FloatArray], Any]) -> None:
        self._loss_gradient = loss_gradient
        self._predict = predict

    def loss_gradient(self, x: FloatArray, y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Call the wrapped function and check what it returns."""
        result = self._loss_gradient(x, y)
        if not isinstance(result, tuple) or len(result) != 2:
            raise InvalidInput("loss_gradient: expected the callable to return (loss, gradient)")
        loss, grad = (np.asarray(part, dtype=np.float64) for part in result)
        if grad.shape != np.shape(x):
            raise InvalidInput(
                f"loss_gradient: gradient shape {grad.shape} differs from input shape {np.shape(x)}"
            )
        if loss.ndim == 0:
            loss = np.full(len(x), float(loss))
        return loss, grad

    def predict(self, x: FloatArray) -> npt.NDArray[Any]:
        """Call the wrapped predict function."""
        return np.asarray(self._predict(x))


def as_gradient_model(model: object) -> GradientModel:
    """Adapt `model` for the attacks.

    Accepts an object with `loss_gradient` and `predict`, a fitted scikit-learn linear classifier,
    or a torch `nn.Module`.

    Raises:
        InvalidInput: the model is none of these.
    """
    if isinstance(model, GradientModel):
        return model
    if hasattr(model, "coef_") and hasattr(model, "classes_"):
        return LinearModelGradient(model)
    if any(cls.__module__.startswith("torch.") for cls in type(model).__mro__):
        return TorchClassifier(model)
    raise InvalidInput(
        f"model: cannot take gradients of {type(model).__name__}; pass a fitted sklearn linear "
        "classifier, a torch nn.Module, or CallableModel(loss_gradient, predict)"
    )
