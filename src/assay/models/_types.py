"""What evaluation needs from a model: image classifiers and detectors on a float batch.

A batch is ``float32`` shaped ``(n, 3, H, W)`` with values in ``[0, 1]`` (RGB, channels
first). Detector boxes are ``[x, y, w, h]`` in pixels of that batch, top-left origin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Task = Literal["classification", "detection"]
FloatBatch = npt.NDArray[np.float32]
LossGradient = Callable[[npt.NDArray[np.float64], npt.NDArray[Any]], tuple[Any, Any]]


@dataclass(frozen=True)
class Detection:
    """One detected box in input pixels, with its score and class name."""

    box: tuple[float, float, float, float]
    score: float
    label: str


@runtime_checkable
class ImageClassifier(Protocol):
    """Class probabilities for a batch of images."""

    classes: Sequence[str]
    input_size: tuple[int, int] | None  # (height, width) the model wants; None: any

    def predict_proba(self, x: FloatBatch) -> npt.NDArray[np.float64]:
        """(n, len(classes)) probabilities."""
        ...


@runtime_checkable
class ImageDetector(Protocol):
    """Boxes for a batch of images."""

    classes: Sequence[str]
    input_size: tuple[int, int] | None

    def detect(self, x: FloatBatch) -> list[list[Detection]]:
        """One list of detections per image."""
        ...


def gradient_of(model: object) -> LossGradient | None:
    """The model's ``loss_gradient(x, y)`` if it has one (adversarial attacks need it)."""
    fn = getattr(model, "loss_gradient", None)
    return fn if callable(fn) else None


def softmax_if_needed(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Rows that already are probabilities pass through; anything else is treated as logits."""
    v = np.asarray(values, dtype=np.float64)
    if v.size and v.min() >= 0 and np.allclose(v.sum(axis=1), 1.0, atol=1e-4):
        return v
    shifted = np.exp(v - v.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float64)
