"""What a run does beyond its data and model: suites, seeds, budgets, interval settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from assay.errors import InvalidInput
from assay.evaluation.corruptions import corruption_names, lookup

SUITES = ("clean", "corruptions", "adversarial")
ATTACKS = ("fgsm", "pgd")
# Versions of the metric definitions a run used; bump one when its numbers would change.
METRIC_VERSIONS = {
    "classification": (
        "accuracy,macro_f1,brier,ece(15 uniform top-label), object-size and label slices "
        "without crowd/3"
    ),
    "detection": (
        "coco-bbox(pycocotools mode; ground truth as the COCO export: outlines, stored area),"
        "F1@IoU.5, label slices without crowd/3"
    ),
    "bootstrap": (
        "percentile, items (detection: images; an object-size slice's: those with a box of "
        "that size) resampled, seeded/2"
    ),
    "corruptions": "mCE,relative mCE (Hendrycks & Dietterich 2019), mPC,rPC/1",
    "adversarial": "robust accuracy, L-inf fgsm/pgd/1",
    "compare": "paired bootstrap (AP, F1), McNemar exact (accuracy), slices in both runs/2",
}


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run's numbers besides dataset, model and slices.

    Attributes:
        suites: Any of clean, corruptions, adversarial (clean always runs).
        corruptions: Corruption names; None means the 15 ImageNet-C corruptions.
        severities: Severities 1..5 to run.
        seed: Seeds corruptions (image i uses stream (seed, i)), PGD starts and bootstraps.
        epsilons: L-infinity budgets of the adversarial suite (inputs in [0, 1]).
        attack: fgsm or pgd.
        attack_steps: PGD steps.
        n_resamples: Bootstrap resamples per interval.
        confidence: Interval coverage.
        score_threshold: Detection score at or above which a box counts for F1.
    """

    suites: tuple[str, ...] = ("clean",)
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    seed: int = 0
    epsilons: tuple[float, ...] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
    attack: str = "pgd"
    attack_steps: int = 10
    n_resamples: int = 1000
    confidence: float = 0.95
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        suites = tuple(dict.fromkeys(("clean", *self.suites)))
        bad = [s for s in suites if s not in SUITES]
        if bad:
            raise InvalidInput(f"suite {bad[0]!r}: expected any of {', '.join(SUITES)}")
        object.__setattr__(self, "suites", suites)
        if self.corruptions is not None:
            for name in self.corruptions:
                lookup(name)
        if not self.severities or any(s not in (1, 2, 3, 4, 5) for s in self.severities):
            raise InvalidInput(f"severities: expected values 1..5, got {list(self.severities)}")
        if self.attack not in ATTACKS:
            raise InvalidInput(f"attack: expected fgsm or pgd, got {self.attack!r}")
        if not self.epsilons or any(e < 0 for e in self.epsilons):
            raise InvalidInput("epsilons: expected budgets >= 0")
        if self.n_resamples < 1 or not 0 < self.confidence < 1 or self.seed < 0:
            raise InvalidInput("resamples must be >= 1, confidence in (0, 1), seed >= 0")

    @property
    def corruption_list(self) -> list[str]:
        return list(self.corruptions) if self.corruptions is not None else corruption_names()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"run settings: unknown field '{unknown[0]}'")
        kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kw)
