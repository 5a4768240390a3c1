"""Python callables as models, for the API: wrap your own inference (and gradients)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.models._types import Detection, FloatBatch, LossGradient, softmax_if_needed


def _classes(classes: Sequence[str]) -> list[str]:
    out = [str(c) for c in classes]
    if not out or len(set(out)) != len(out):
        raise InvalidInput(f"classes: expected distinct class names, got {out!r}")
    return out


class CallableClassifier:
    """An image classifier made of plain functions.

    Args:
        predict_proba: ``(n, 3, H, W)`` float32 in [0, 1] -> ``(n, len(classes))``
            probabilities (logits are softmaxed).
        classes: class names in column order.
        loss_gradient: optional ``(x, y) -> (per-sample loss, d loss / d x)`` with ``y``
            class indices; with it the adversarial suite can attack the model.
        input_size: ``(height, width)`` images are resized to; None keeps their size.
        name: how runs name the model.

    Example:
        >>> import numpy as np
        >>> clf = CallableClassifier(lambda x: np.tile([0.2, 0.8], (len(x), 1)), ["dry", "flooded"])
        >>> clf.predict_proba(np.zeros((2, 3, 8, 8), np.float32)).shape
        (2, 2)
    """

    def __init__(
        self,
        predict_proba: Callable[[FloatBatch], Any],
        classes: Sequence[str],
        *,
        loss_gradient: LossGradient | None = None,
        input_size: tuple[int, int] | None = None,
        name: str = "callable",
    ) -> None:
        self._fn = predict_proba
        self.classes = _classes(classes)
        self.input_size = input_size
        self.name = name
        if loss_gradient is not None:
            self.loss_gradient = loss_gradient

    def predict_proba(self, x: FloatBatch) -> npt.NDArray[np.float64]:
        """Call the function and check the shape of what it returns."""
        out = np.asarray(self._fn(x), dtype=np.float64)
        if out.shape != (len(x), len(self.classes)):
            raise InvalidInput(
                f"model {self.name}: predict_proba returned shape {out.shape}, expected "
                f"({len(x)}, {len(self.classes)})"
            )
        return softmax_if_needed(out)


class CallableDetector:
    """An image detector made of one function.

    Args:
        detect: ``(n, 3, H, W)`` float32 in [0, 1] -> one list per image of
            ``Detection`` or ``(box_xywh, score, class name or index)`` tuples.
        classes: class names.
        input_size: ``(height, width)`` images are resized to; None keeps their size.
        name: how runs name the model.
    """

    def __init__(
        self,
        detect: Callable[[FloatBatch], Any],
        classes: Sequence[str],
        *,
        input_size: tuple[int, int] | None = None,
        name: str = "callable",
    ) -> None:
        self._fn = detect
        self.classes = _classes(classes)
        self.input_size = input_size
        self.name = name

    def _one(self, d: object) -> Detection:
        if isinstance(d, Detection):
            return d
        if not isinstance(d, tuple | list) or len(d) != 3:
            raise InvalidInput(
                f"model {self.name}: a detection must be Detection or (box, score, label)"
            )
        box, score, label = d
        name = self.classes[int(label)] if isinstance(label, int | np.integer) else str(label)
        b = tuple(float(v) for v in box)
        if len(b) != 4:
            raise InvalidInput(f"model {self.name}: a box needs 4 numbers [x, y, w, h]")
        return Detection((b[0], b[1], b[2], b[3]), float(score), name)

    def detect(self, x: FloatBatch) -> list[list[Detection]]:
        """Call the function and normalise its detections."""
        out = list(self._fn(x))
        if len(out) != len(x):
            raise InvalidInput(
                f"model {self.name}: detect returned {len(out)} lists for {len(x)} images"
            )
        return [[self._one(d) for d in dets] for dets in out]
