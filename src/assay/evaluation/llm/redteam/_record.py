"""A red-team result kept as an evaluation run, in the shape of a language-model run.

Each probe is a sample with one binary score, ``safe`` (1 when the attack failed, or a
benign control was answered), and each category a slice ``category=NAME``; so
`assay eval compare` pairs two models' runs probe by probe (McNemar's exact test per
category) and `assay eval gate` fails a candidate that is significantly less safe. The
red-team summary (ASR, intervals, worst examples, leakage findings, gate) rides along.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from assay.domain.labels import canonical_json
from assay.evaluation.llm.redteam._run import RedTeamResult
from assay.evaluation.llm.redteam._stats import wilson
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.evaluation.runs import EvalRun
    from assay.workspace import Workspace

SCORER = "safe"
CONFIDENCE = 0.95


def _slices(result: RedTeamResult) -> tuple[pd.DataFrame, dict[str, Any]]:
    cats = [a.probe.category for a in result.attempts]
    safe = [not a.verdict.success for a in result.attempts]
    items = pd.DataFrame(
        {
            "item_id": [a.probe.probe_id for a in result.attempts],
            "name": [a.probe.probe_id for a in result.attempts],
            "marking": [a.probe.marking or "" for a in result.attempts],
            "metadata": [canonical_json({"source": a.probe.source}) for a in result.attempts],
            "slice:all": True,
        }
    )
    slices: dict[str, Any] = {}
    for name in ["all", *dict.fromkeys(cats)]:
        member = [True] * len(cats) if name == "all" else [c == name for c in cats]
        key = name if name == "all" else f"category={name}"
        if name != "all":
            items[f"slice:{key}"] = member
        k = sum(s for s, m in zip(safe, member, strict=True) if m)
        n = sum(member)
        lo, hi = wilson(k, n, CONFIDENCE)
        slices[key] = {
            "n": n,
            "items": n,
            "metrics": {SCORER: {"value": k / n if n else None, "low": lo, "high": hi}},
        }
    return items, slices


def record_run(
    ws: Workspace,
    result: RedTeamResult,
    model: dict[str, Any],
    generation: dict[str, Any],
    out: str | Path | None = None,
) -> EvalRun:
    """Write `result` as a run folder plus an ``eval_runs`` row and an audit event.

    Args:
        model: What the model is (the backend's ``describe()`` plus ``identity``).
        generation: The generation parameters used.
        out: The run folder; default ``runs/redteam-<run id>`` beside the workspace.
    """
    from assay.evaluation.runs._run import RECORD_FORMAT, _libraries, clean_json
    from assay.evaluation.runs._store import ITEMS, SAMPLES, write_run

    items, slices = _slices(result)
    samples = result.samples()
    samples.insert(0, "key", [f"{p}|0" for p in samples["probe"]])
    samples.insert(1, "item_id", samples["probe"])
    samples.insert(2, "epoch", 0)
    samples[f"score_{SCORER}"] = (~samples["success"]).astype(float)
    anchor = result.trained_on or result.documents or {}
    probes_sha = hashlib.sha256("\n".join(samples["input"]).encode()).hexdigest()
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "created": now_iso(),
        "actor": ws.actor,
        "task": "llm",
        "llm_task": {"name": "redteam", "suites": result.suites, "probes_sha256": probes_sha},
        "redteam": {
            "suites": result.suites,
            "clearance": result.clearance,
            "max_asr": result.summary["gate"]["max_asr"],
            "documents": result.documents,
            "trained_on": result.trained_on,
        },
        "dataset": {
            "name": anchor.get("dataset", ""),
            "commit": anchor.get("commit", ""),
            "spec": f"{anchor['dataset']}@{anchor['commit']}" if anchor else "",
            "marking": result.marking,
        },
        "model": {
            **model,
            "ref": model.get("path") or model.get("url") or model.get("name"),
            "model_id": model.get("model_id"),
            "sha256": model.get("sha256"),
        },
        "slices": [{"name": n, "where": {}} for n in slices if n != "all"],
        "settings": {
            "suites": ["redteam", *result.suites],
            "generation": generation,
            "seed": 0,
            "n_resamples": 1000,
            "confidence": CONFIDENCE,
        },
        "seeds": {"generation": [generation.get("seed", 0)]},
        "libraries": _libraries(),
        "rerun_of": None,
    }
    record = clean_json(record)
    record["run_id"] = hashlib.sha256(canonical_json(record).encode()).hexdigest()[:20]
    summary = clean_json(
        {
            "run_id": record["run_id"],
            "task": "llm",
            "primary": SCORER,
            "scorers": {SCORER: "binary"},
            "headline": {SCORER: slices["all"]["metrics"][SCORER]["value"]},
            "slices": slices,
            "redteam": result.summary,
        }
    )
    folder = (
        Path(out) if out is not None else ws.root.parent / "runs" / f"redteam-{record['run_id']}"
    )
    return write_run(ws, folder, record, summary, {SAMPLES: samples, ITEMS: items}, None)
