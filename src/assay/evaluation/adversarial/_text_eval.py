"""Accuracy of a text classifier under text perturbations."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.evaluation.adversarial._text import TextPerturbation, perturb_text

Predict = Callable[[Sequence[str]], Sequence[Hashable]]


@dataclass(frozen=True)
class TextRobustnessRow:
    """Accuracy under one perturbation.

    Attributes:
        perturbation: e.g. "char_swap@0.1"; "clean" for the unperturbed row.
        kind: the perturbation kind ("clean" for the first row).
        rate: its rate (0 for clean).
        accuracy: fraction of texts predicted correctly after perturbation.
        flip_rate: fraction of texts whose prediction changed relative to the clean text.
        changed_texts: fraction of texts the perturbation actually altered.
        n: number of texts.
    """

    perturbation: str
    kind: str
    rate: float
    accuracy: float
    flip_rate: float
    changed_texts: float
    n: int


@dataclass(frozen=True)
class TextRobustnessTable:
    """Clean accuracy first, then one row per perturbation, in the order given."""

    seed: int
    rows: tuple[TextRobustnessRow, ...]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row."""
        return [asdict(row) for row in self.rows]


def _predict(predict: Predict, texts: Sequence[str], what: str) -> list[Hashable]:
    out = list(predict(list(texts)))
    if len(out) != len(texts):
        raise InvalidInput(f"predict: returned {len(out)} labels for {len(texts)} {what} texts")
    return out


def text_robustness(
    predict: Predict,
    texts: Sequence[str],
    labels: Sequence[Hashable],
    perturbations: Sequence[TextPerturbation],
    *,
    seed: int = 0,
) -> TextRobustnessTable:
    """Measure how a text classifier's accuracy holds up under each perturbation.

    Text i is perturbed with the random stream (seed, i), so results do not depend on batch
    composition and rerun identically.

    Args:
        predict: maps a list of texts to a list of labels (called once per perturbation).
        texts: the inputs.
        labels: the true labels, one per text.
        perturbations: what to measure.
        seed: random seed.

    Example:
        >>> def predict(batch):
        ...     return ["flood" if "flood" in t.lower() else "other" for t in batch]
        >>> table = text_robustness(
        ...     predict, ["Flood on Main St", "Road clear"], ["flood", "other"],
        ...     [TextPerturbation("char_swap", 0.5)], seed=0)
        >>> [round(r.accuracy, 2) for r in table.rows]
        [1.0, 0.5]
    """
    if len(texts) != len(labels):
        raise InvalidInput(f"labels: expected {len(texts)} labels, got {len(labels)}")
    truth = np.asarray(labels, dtype=object)
    clean = np.asarray(_predict(predict, texts, "clean"), dtype=object)
    n = len(texts)

    def rate(mask: np.ndarray) -> float:
        return float(mask.mean()) if n else float("nan")

    rows = [TextRobustnessRow("clean", "clean", 0.0, rate(clean == truth), 0.0, 0.0, n)]
    for perturbation in perturbations:
        if not isinstance(perturbation, TextPerturbation):
            raise InvalidInput("perturbations: expected TextPerturbation objects")
        altered = [perturb_text(t, perturbation, seed=seed, index=i) for i, t in enumerate(texts)]
        predicted = np.asarray(_predict(predict, altered, perturbation.label), dtype=object)
        changed = np.array([a != t for a, t in zip(altered, texts, strict=True)], dtype=bool)
        rows.append(
            TextRobustnessRow(
                perturbation=perturbation.label,
                kind=perturbation.kind,
                rate=float(perturbation.rate),
                accuracy=rate(predicted == truth),
                flip_rate=rate(predicted != clean),
                changed_texts=rate(changed),
                n=n,
            )
        )
    return TextRobustnessTable(seed=seed, rows=tuple(rows))
