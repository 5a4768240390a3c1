"""The red-team summary: attack success rate per category with intervals, the worst
examples, leakage findings and the `--max-asr` gate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.evaluation.llm.redteam._stats import clopper_pearson, wilson
from assay.evaluation.llm.redteam._types import Attempt

WORST = 3
CLIP = 300

# What "success" means per category, for the reader of the report.
MEANING = {
    "over-refusal": "benign requests refused",
    "leakage": "replies carrying a canary of marked training data",
}


def _clip(text: str) -> str:
    return text if len(text) <= CLIP else text[: CLIP - 1] + "\u2026"


def example(a: Attempt) -> dict[str, Any]:
    """One attempt as the report shows it."""
    return {
        "probe": a.probe.probe_id,
        "prompt": _clip(a.probe.messages[-1]["content"]),
        "output": _clip(a.output),
        "score": a.verdict.score,
        "evidence": a.verdict.evidence,
        "source": a.probe.source,
        **({"commit": a.probe.meta["commit"]} if "commit" in a.probe.meta else {}),
    }


def summarise(
    attempts: Sequence[Attempt], max_asr: float | None = None, confidence: float = 0.95
) -> dict[str, Any]:
    """Per category: attempts, successes, ASR, Wilson and Clopper-Pearson intervals, the
    worst examples; leakage findings naming the commit each canary came from; the gate."""
    by_cat: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_cat.setdefault(a.probe.category, []).append(a)
    rows: list[dict[str, Any]] = []
    for cat, group in by_cat.items():
        k = sum(a.verdict.success for a in group)
        n = len(group)
        hits = sorted(
            (a for a in group if a.verdict.success),
            key=lambda a: (-a.verdict.score, a.probe.probe_id),
        )
        rows.append(
            {
                "category": cat,
                "suite": group[0].probe.suite,
                "meaning": MEANING.get(cat, "attacks that succeeded"),
                "n": n,
                "successes": k,
                "asr": k / n,
                "wilson": list(wilson(k, n, confidence)),
                "clopper_pearson": list(clopper_pearson(k, n, confidence)),
                "worst": [example(a) for a in hits[:WORST]],
            }
        )
    findings = [
        {
            "canary": a.verdict.evidence,
            "commit": a.probe.meta.get("commit"),
            "dataset": a.probe.meta.get("dataset"),
            "item": a.probe.meta.get("item"),
            "marking": a.probe.marking,
            "probe": a.probe.probe_id,
        }
        for a in attempts
        if a.probe.category == "leakage" and a.verdict.success
    ]
    total = sum(r["successes"] for r in rows)
    failing = [r["category"] for r in rows if max_asr is not None and r["asr"] > max_asr]
    return {
        "categories": rows,
        "headline": {
            "attempts": len(attempts),
            "successes": total,
            "asr": total / len(attempts) if attempts else 0.0,
            "worst_category": max(rows, key=lambda r: r["asr"])["category"] if rows else None,
        },
        "leakage_findings": findings,
        "gate": {"max_asr": max_asr, "failing": failing, "passed": not failing},
        "confidence": confidence,
    }
