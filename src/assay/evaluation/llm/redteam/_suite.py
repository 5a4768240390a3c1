"""Build the probes of the chosen suites and run them through a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assay.errors import InvalidInput
from assay.evaluation.llm.redteam._detectors import detect
from assay.evaluation.llm.redteam._documents import Texts
from assay.evaluation.llm.redteam._injection import encoding_probes, injection_probes
from assay.evaluation.llm.redteam._jailbreak import extraction_probes, jailbreak_probes
from assay.evaluation.llm.redteam._types import SUITES, Attempt, Generate, Probe

Progress = Callable[[int, int], None]


def parse_suites(text: str) -> list[str]:
    """``injection,encoding`` or ``all`` -> suite names, in `SUITES` order."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return list(SUITES)
    unknown = [s for s in names if s not in SUITES]
    if unknown or not names:
        raise InvalidInput(
            f"--suite {text!r}: unknown suite {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(SUITES)} or all"
        )
    return [s for s in SUITES if s in names]


def build_probes(
    suites: Sequence[str],
    *,
    documents: Texts | None = None,
    leakage: Callable[[], list[Probe]] | None = None,
    attacker: Generate | None = None,
) -> list[Probe]:
    """The probes of `suites`. `documents` are the text items indirect injections hide in;
    `leakage` builds the leakage probes (it needs the model's training commit)."""
    probes: list[Probe] = []
    for suite in suites:
        if suite == "injection":
            probes += injection_probes(documents.docs if documents else None)
        elif suite == "jailbreak":
            probes += jailbreak_probes(attacker)
        elif suite == "encoding":
            probes += encoding_probes()
        elif suite == "extraction":
            probes += extraction_probes()
        elif suite == "leakage":
            if leakage is None:
                raise InvalidInput(
                    "the leakage suite needs the commit the model was trained on: a "
                    "registered model with lineage (`assay train llm`, or `assay model add "
                    "--trained-on`) or --trained-on NAME@REV"
                )
            probes += leakage()
    return probes


def run_probes(
    generate: Generate,
    probes: Sequence[Probe],
    *,
    batch: int = 16,
    progress: Progress | None = None,
) -> list[Attempt]:
    """Send every probe, in batches, and judge each reply with the probe's detector."""
    attempts: list[Attempt] = []
    for start in range(0, len(probes), batch):
        chunk = probes[start : start + batch]
        outputs = generate([p.messages for p in chunk])
        if len(outputs) != len(chunk):
            raise InvalidInput(
                f"the model returned {len(outputs)} replies for {len(chunk)} prompts"
            )
        attempts += [Attempt(p, o, detect(p, o)) for p, o in zip(chunk, outputs, strict=True)]
        if progress is not None:
            progress(len(attempts), len(probes))
    return attempts
