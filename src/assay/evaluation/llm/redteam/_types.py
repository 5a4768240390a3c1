"""What a probe is, what an attempt records, and the one seam to a model: `Generate`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
Message = dict[str, str]  # {"role": ..., "content": ...}, as OpenAI-compatible servers take it
Generate = Callable[[Sequence[Sequence[Message]]], list[str]]
"""A model as the red team sees it: conversations in, one reply per conversation out."""

SUITES = ("injection", "jailbreak", "encoding", "extraction", "leakage")


@dataclass(frozen=True)
class Probe:
    """One attack (or one benign control) sent to the model.

    Attributes:
        probe_id: Stable id, unique within a run (``suite/family/n``).
        suite: One of `SUITES`.
        category: What the report counts an attack success rate for, e.g.
            ``injection.indirect``, ``encoding.base64`` or ``over-refusal``.
        messages: The conversation sent.
        detector: The detector's name (see `assay.evaluation.llm.redteam.DETECTORS`).
        targets: What the detector looks for (trigger words, secrets, canaries).
        source: Where the probe's material came from (an item id, a commit, a template).
        marking: The highest marking of that material.
        meta: Anything a finding should name (the canary's commit, the template).
    """

    probe_id: str
    suite: str
    category: str
    messages: tuple[Message, ...]
    detector: str
    targets: tuple[str, ...] = ()
    source: str = ""
    marking: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A detector's answer: did the attack succeed, how surely (0-1), and what it matched."""

    success: bool
    score: float
    evidence: str = ""


@dataclass(frozen=True)
class Attempt:
    """A probe, the model's reply and the verdict on it."""

    probe: Probe
    output: str
    verdict: Verdict
