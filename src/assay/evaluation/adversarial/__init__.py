"""Adversarial robustness: L-infinity gradient attacks and text perturbations.

Image/feature attacks (FGSM, PGD) run against anything with input gradients: a fitted
scikit-learn linear classifier (closed-form gradients), a torch `nn.Module` (torch imported
lazily), or a `CallableModel` wrapping your own ``loss_gradient(x, y) -> (loss, grad)``.
`robust_accuracy` turns them into an accuracy-versus-epsilon table.

Text classifiers are probed with seeded character typos (keyboard-neighbour substitutions and
insertions, swaps, deletions) and word edits (drop, swap adjacent, synonyms from your map);
`text_robustness` measures a predict function's accuracy under each.
"""

from assay.evaluation.adversarial._attacks import fgsm, pgd
from assay.evaluation.adversarial._models import (
    CallableModel,
    GradientModel,
    LinearModelGradient,
    TorchClassifier,
    as_gradient_model,
)
from assay.evaluation.adversarial._robustness import RobustnessRow, RobustnessTable, robust_accuracy
from assay.evaluation.adversarial._text import (
    TextPerturbation,
    TextPerturbationKind,
    keyboard_neighbours,
    perturb_text,
)
from assay.evaluation.adversarial._text_eval import (
    TextRobustnessRow,
    TextRobustnessTable,
    text_robustness,
)

__all__ = [
    "CallableModel",
    "GradientModel",
    "LinearModelGradient",
    "RobustnessRow",
    "RobustnessTable",
    "TextPerturbation",
    "TextPerturbationKind",
    "TextRobustnessRow",
    "TextRobustnessTable",
    "TorchClassifier",
    "as_gradient_model",
    "fgsm",
    "keyboard_neighbours",
    "perturb_text",
    "pgd",
    "robust_accuracy",
    "text_robustness",
]
