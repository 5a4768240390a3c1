"""Robust accuracy as a function of the attack budget epsilon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.adversarial._attacks import Bounds, fgsm, pgd
from assay.evaluation.adversarial._models import as_gradient_model

Attack = Literal["fgsm", "pgd"]


@dataclass(frozen=True)
class RobustnessRow:
    """Accuracy under one attack budget.

    Attributes:
        epsilon: L-infinity budget (0 is the clean accuracy).
        accuracy: fraction of samples still classified correctly.
        attack_success_rate: fraction of the clean-correct samples that the attack flipped.
        max_perturbation: largest |x_adv - x| seen (<= epsilon).
        n: number of samples.
    """

    epsilon: float
    accuracy: float
    attack_success_rate: float
    max_perturbation: float
    n: int


@dataclass(frozen=True)
class RobustnessTable:
    """Robust accuracy against epsilon for one attack configuration."""

    attack: str
    settings: dict[str, Any]
    rows: tuple[RobustnessRow, ...]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per epsilon, each with the attack name: ready for JSON or a DataFrame."""
        return [{"attack": self.attack, **asdict(row)} for row in self.rows]

    def to_markdown(self) -> str:
        """A small markdown table (epsilon, accuracy, success rate)."""
        lines = ["| epsilon | accuracy | attack success |", "|---|---|---|"]
        lines += [
            f"| {r.epsilon:g} | {r.accuracy:.3f} | {r.attack_success_rate:.3f} |" for r in self.rows
        ]
        return "\n".join(lines)


def _step(ratio: float, epsilon: float, steps: int) -> float | None:
    """PGD step size ratio * epsilon / steps; None (PGD's default) where that underflows to 0."""
    size = ratio * epsilon / max(steps, 1)
    return size if size > 0 else None


def robust_accuracy(
    model: object,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    epsilons: Sequence[float],
    *,
    attack: Attack = "pgd",
    steps: int = 10,
    step_size_ratio: float = 2.5,
    random_start: bool = True,
    seed: int = 0,
    clip: Bounds = (0.0, 1.0),
) -> RobustnessTable:
    """Accuracy of `model` on (x, y) under an L-infinity attack, for each budget in `epsilons`.

    Args:
        model: anything `as_gradient_model` accepts.
        x: inputs (n, ...), inside `clip`.
        y: true labels (n,).
        epsilons: budgets to evaluate, e.g. ``[0, 1/255, 2/255, 4/255, 8/255]``.
        attack: "fgsm" or "pgd".
        steps: PGD steps.
        step_size_ratio: PGD step size as a multiple of epsilon / steps.
        random_start: PGD random start.
        seed: seeds PGD's random start.
        clip: valid input range.

    Returns:
        A `RobustnessTable` with one row per epsilon, in the order given.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> rng = np.random.default_rng(0)
        >>> x = rng.uniform(0, 1, (200, 5)); y = (x[:, 0] > 0.5).astype(int)
        >>> table = robust_accuracy(LogisticRegression().fit(x, y), x, y, [0.0, 0.1], attack="fgsm")
        >>> table.rows[0].accuracy > table.rows[1].accuracy
        True
    """
    if attack not in ("fgsm", "pgd"):
        raise InvalidInput(f"attack: expected 'fgsm' or 'pgd', got {attack!r}")
    if isinstance(step_size_ratio, bool) or not step_size_ratio > 0:
        raise InvalidInput(f"step_size_ratio: expected a number > 0, got {step_size_ratio!r}")
    if len(epsilons) == 0:
        raise InvalidInput("epsilons: give at least one budget")
    gradient_model = as_gradient_model(model)
    inputs = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y)
    clean_correct = np.asarray(gradient_model.predict(inputs)) == labels
    rows = []
    for epsilon in epsilons:
        if attack == "fgsm":
            adversarial = fgsm(gradient_model, inputs, labels, float(epsilon), clip=clip)
        else:
            adversarial = pgd(
                gradient_model,
                inputs,
                labels,
                float(epsilon),
                steps=steps,
                step_size=_step(step_size_ratio, float(epsilon), steps),
                random_start=random_start,
                seed=seed,
                clip=clip,
            )
        correct = np.asarray(gradient_model.predict(adversarial)) == labels
        flipped = clean_correct & ~correct
        rows.append(
            RobustnessRow(
                epsilon=float(epsilon),
                accuracy=float(correct.mean()) if len(correct) else float("nan"),
                attack_success_rate=(
                    float(flipped.sum() / clean_correct.sum()) if clean_correct.any() else 0.0
                ),
                max_perturbation=float(np.abs(adversarial - inputs).max()) if inputs.size else 0.0,
                n=len(labels),
            )
        )
    settings: dict[str, Any] = {"clip": list(clip) if clip is not None else None}
    if attack == "pgd":
        settings |= {
            "steps": steps,
            "step_size_ratio": step_size_ratio,
            "random_start": random_start,
            "seed": seed,
        }
    return RobustnessTable(attack=attack, settings=settings, rows=tuple(rows))
