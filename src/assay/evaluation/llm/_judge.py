"""Model-graded scoring: a local judge model reads the task, the reference, the answer and a
rubric, and answers ``GRADE: C`` (correct) or ``GRADE: I``. The prompts are kept in the
per-sample log; agreement with people's grades is reported when the items carry them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.models.llm import ChatMessage, GenerationParams, Generator

JUDGE_TEMPLATE = (
    "You are grading an answer.\n"
    "[Task]\n{question}\n"
    "[Reference answer]\n{target}\n"
    "[Submitted answer]\n{answer}\n"
    "[Rubric]\n{rubric}\n"
    "Reply with GRADE: C if the submitted answer is correct under the rubric, "
    "or GRADE: I if it is not."
)
JUDGE_PARAMS = GenerationParams(max_new_tokens=16)
_GRADE = re.compile(r"GRADE\s*:\s*([CI])\b", re.IGNORECASE)
_HUMAN = {
    "c": 1,
    "correct": 1,
    "yes": 1,
    "1": 1,
    "true": 1,
    "i": 0,
    "incorrect": 0,
    "no": 0,
    "0": 0,
    "false": 0,
}


@dataclass(frozen=True)
class Verdict:
    prompt: str
    output: str
    grade: float  # 1 correct, 0 incorrect or unreadable
    parsed: bool


def judge_prompt(question: str, target: str, answer: str, rubric: str) -> str:
    return (
        JUDGE_TEMPLATE.replace("{question}", question)
        .replace("{target}", target)
        .replace("{answer}", answer)
        .replace("{rubric}", rubric)
    )


def grade(
    judge: Generator,
    questions: Sequence[str],
    targets: Sequence[str],
    answers: Sequence[str],
    rubric: str,
) -> list[Verdict]:
    prompts = [
        judge_prompt(q, t, a, rubric) for q, t, a in zip(questions, targets, answers, strict=True)
    ]
    outs = judge.generate([(ChatMessage("user", p),) for p in prompts], JUDGE_PARAMS)
    verdicts = []
    for p, o in zip(prompts, outs, strict=True):
        m = _GRADE.search(o.text)
        verdicts.append(
            Verdict(p, o.text, float(m is not None and m.group(1).upper() == "C"), m is not None)
        )
    return verdicts


def human_grade(value: str | None) -> int | None:
    """A person's grade (correct/incorrect, yes/no, C/I, 1/0), or None."""
    return None if value is None else _HUMAN.get(value.strip().lower())


def agreement(judge: Sequence[float], human: Sequence[int | None]) -> dict[str, float | int]:
    """Raw agreement and Cohen's kappa between judge grades and people's, where both exist."""
    pairs = [(int(j), h) for j, h in zip(judge, human, strict=True) if h is not None]
    n = len(pairs)
    if n == 0:
        return {"n": 0}
    po = sum(j == h for j, h in pairs) / n
    pj = sum(j for j, _ in pairs) / n
    ph = sum(h for _, h in pairs) / n
    pe = pj * ph + (1 - pj) * (1 - ph)
    kappa = 1.0 if pe == 1 else (po - pe) / (1 - pe)
    return {"n": n, "agreement": po, "cohen_kappa": kappa}
