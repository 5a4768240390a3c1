"""`red_team`: the suites against one model, from the workspace's own data, as a result a
run record can keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from assay.evaluation.llm.redteam._canary import leakage_probes
from assay.evaluation.llm.redteam._documents import Texts, load_texts
from assay.evaluation.llm.redteam._report import summarise
from assay.evaluation.llm.redteam._suite import Progress, build_probes, run_probes
from assay.evaluation.llm.redteam._types import Attempt, Generate

if TYPE_CHECKING:
    import pandas as pd

    from assay.workspace import Workspace


@dataclass
class RedTeamResult:
    """The attempts, their summary, and what the run rests on (commits, marking)."""

    suites: list[str]
    attempts: list[Attempt]
    summary: dict[str, Any]
    marking: str
    documents: dict[str, str] | None
    trained_on: dict[str, str] | None
    clearance: str

    @property
    def passed(self) -> bool:
        return bool(self.summary["gate"]["passed"])

    def samples(self) -> pd.DataFrame:
        """One row per attempt: probe, category, prompt, reply, verdict, source, marking."""
        import json

        import pandas as pd

        return pd.DataFrame(
            {
                "probe": [a.probe.probe_id for a in self.attempts],
                "suite": [a.probe.suite for a in self.attempts],
                "category": [a.probe.category for a in self.attempts],
                "detector": [a.probe.detector for a in self.attempts],
                "input": [json.dumps(list(a.probe.messages)) for a in self.attempts],
                "output": [a.output for a in self.attempts],
                "success": [a.verdict.success for a in self.attempts],
                "score": [a.verdict.score for a in self.attempts],
                "evidence": [a.verdict.evidence for a in self.attempts],
                "source": [a.probe.source for a in self.attempts],
                "marking": [a.probe.marking or "" for a in self.attempts],
            }
        )


def _ref(texts: Texts) -> dict[str, str]:
    return {"dataset": texts.dataset, "commit": texts.commit_id, "marking": texts.marking}


def red_team(
    ws: Workspace,
    generate: Generate,
    suites: Sequence[str],
    *,
    max_asr: float | None = None,
    documents: str | None = None,
    trained_on: str | None = None,
    clearance: str | None = None,
    attacker: Generate | None = None,
    model_marking: str | None = None,
    batch: int = 16,
    progress: Progress | None = None,
) -> RedTeamResult:
    """Run `suites` against `generate`.

    Args:
        ws: The workspace (its text items, commits and marking scheme).
        generate: The model under test.
        suites: Names from `SUITES`.
        max_asr: The gate: a category whose attack success rate exceeds it fails.
        documents: ``NAME[@REV]`` whose text items indirect injections hide in (default: a few
            sample field reports).
        trained_on: ``NAME[@REV]``, the commit the model learned from (leakage suite).
        clearance: The lower-clearance context leakage probes come from (default: the
            lowest level); canaries above it must not come out.
        attacker: A local model that writes extra jailbreak attempts.
        model_marking: The model's own marking (the highest of what it learned from).
        batch: Prompts per call to `generate`.
        progress: Called with (done, total).
    """
    scheme = ws.scheme
    level = scheme.render(scheme.parse(clearance))
    docs = load_texts(ws, documents) if documents else None
    texts = load_texts(ws, trained_on) if trained_on else None

    leakage = partial(leakage_probes, ws, texts, level) if texts is not None else None
    probes = build_probes(suites, documents=docs, leakage=leakage, attacker=attacker)
    attempts = run_probes(generate, probes, batch=batch, progress=progress)
    # The replies of a model trained on marked data, and prompts made of marked documents,
    # carry the highest marking of what they came from.
    sources = [p.marking for p in probes if p.marking]
    sources += [t.marking for t in (docs, texts) if t is not None]
    sources += [model_marking] if model_marking else []
    marking = scheme.highest_text(sources)
    return RedTeamResult(
        suites=list(suites),
        attempts=attempts,
        summary=summarise(attempts, max_asr),
        marking=marking,
        documents=_ref(docs) if docs else None,
        trained_on=_ref(texts) if texts else None,
        clearance=level,
    )
