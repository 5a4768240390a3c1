"""Accuracy of an image classifier under corruptions: one row per (corruption, severity)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.corruptions._apply import apply
from assay.evaluation.corruptions._registry import corruption_names
from assay.evaluation.corruptions._spec import CorruptionSpec

Images = Sequence[npt.NDArray[np.uint8]]
PredictImages = Callable[[list[npt.NDArray[np.uint8]]], Sequence[Hashable]]


@dataclass(frozen=True)
class CorruptionRow:
    """Accuracy on the corrupted copies of every image at one (corruption, severity).

    `corruption` is "clean" (severity 0) for the uncorrupted row.
    """

    corruption: str
    severity: int
    accuracy: float
    n: int


@dataclass(frozen=True)
class CorruptionTable:
    """Clean accuracy first, then corruption x severity rows; `seed` reproduces every image."""

    seed: int
    rows: tuple[CorruptionRow, ...]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row."""
        return [asdict(row) for row in self.rows]

    def mean_accuracy(self) -> float:
        """Mean over all corrupted rows: the mPC of Michaelis et al. for accuracy."""
        corrupted = [row.accuracy for row in self.rows if row.corruption != "clean"]
        return float(np.mean(corrupted)) if corrupted else float("nan")


def accuracy_under_corruptions(
    predict: PredictImages,
    images: Images,
    labels: Sequence[Hashable],
    *,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
) -> CorruptionTable:
    """Corrupt every image at every (corruption, severity) and measure `predict`'s accuracy.

    Image i is corrupted with the random stream (seed, i): reruns are identical and results do
    not depend on the order of corruptions.

    Args:
        predict: maps a list of uint8 images to a list of labels (called once per row).
        images: uint8 images, any sizes and layouts `apply` accepts.
        labels: true labels, one per image.
        corruptions: names to run; default the 15 ImageNet-C corruptions.
        severities: severities to run.
        seed: random seed.
    """
    if len(images) != len(labels):
        raise InvalidInput(f"labels: expected {len(images)} labels, got {len(labels)}")
    names = list(corruption_names() if corruptions is None else corruptions)
    truth = np.asarray(labels, dtype=object)

    def score(batch: list[npt.NDArray[np.uint8]], what: str) -> float:
        predicted = list(predict(batch))
        if len(predicted) != len(batch):
            raise InvalidInput(f"predict: returned {len(predicted)} labels for {len(batch)} {what}")
        hits = np.asarray(predicted, dtype=object) == truth
        return float(hits.mean()) if len(batch) else float("nan")

    rows = [CorruptionRow("clean", 0, score(list(images), "clean images"), len(images))]
    for name in names:
        for severity in severities:
            spec = CorruptionSpec(name, severity, seed)
            batch = [apply(image, spec, index=i) for i, image in enumerate(images)]
            rows.append(CorruptionRow(name, severity, score(batch, spec.name), len(images)))
    return CorruptionTable(seed=seed, rows=tuple(rows))
