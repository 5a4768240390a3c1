"""A language-model run as an Inspect AI log (the JSON form, version 2), which Inspect's
``read_eval_log`` and its viewer (``inspect view``) open. Written without importing Inspect."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.evaluation.runs import EvalRun

_STOP = {"stop": "stop", "length": "max_tokens"}


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _sample(row: Any, model: str, scorers: list[str]) -> dict[str, Any]:
    messages = json.loads(row.input)
    answer = {"role": "assistant", "content": row.output, "source": "generate", "model": model}
    pt = (
        None
        if row.prompt_tokens is None or math.isnan(row.prompt_tokens)
        else int(row.prompt_tokens)
    )
    ct = (
        None
        if row.completion_tokens is None or math.isnan(row.completion_tokens)
        else int(row.completion_tokens)
    )
    usage = {
        "input_tokens": pt or 0,
        "output_tokens": ct or 0,
        "total_tokens": (pt or 0) + (ct or 0),
    }
    target = row.target if isinstance(row.target, str) else "; ".join(row.spans)
    return {
        "id": row.item_id,
        "epoch": int(row.epoch) + 1,
        "input": messages,
        "target": target,
        "messages": [*messages, answer],
        "output": {
            "model": model,
            "choices": [
                {
                    "message": answer,
                    "stop_reason": _STOP.get(str(row.finish_reason), "unknown"),
                }
            ],
            "completion": row.output,
            "usage": usage,
            "time": float(row.latency_s),
        },
        "scores": {
            sc: {"value": _num(getattr(row, f"score_{sc}")), "answer": row.answer} for sc in scorers
        },
        "metadata": {"cached": bool(row.cached)},
        "model_usage": {model: usage},
        "total_time": float(row.latency_s),
        "completed": True,
    }


def inspect_log(run: EvalRun) -> dict[str, Any]:
    """The Inspect AI log document of a language-model run."""
    if run.task != "llm":
        raise InvalidInput(f"run {run.run_id} is a {run.task} run; only llm runs export to Inspect")
    rec, summ = run.record, run.summary
    model = f"assay/{rec['model']['name']}"
    scorers = list(summ["scorers"])
    frame = run.samples()
    gen = rec["settings"]["generation"]
    created = rec["created"]
    usage = rec["usage"]
    total = {
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": usage["completion_tokens"],
        "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
    }
    scores = []
    for sc in scorers:
        m = summ["slices"]["all"]["metrics"][sc]
        metrics = {
            "mean": {"name": "mean", "value": _num(m["value"]) or 0.0},
            "ci_low": {"name": "ci_low", "value": _num(m["low"]) or 0.0},
            "ci_high": {"name": "ci_high", "value": _num(m["high"]) or 0.0},
        }
        scores.append(
            {
                "name": sc,
                "scorer": sc,
                "scored_samples": len(frame),
                "unscored_samples": 0,
                "metrics": metrics,
            }
        )
    return {
        "version": 2,
        "status": "success",
        "eval": {
            "run_id": rec["run_id"],
            "eval_id": rec["run_id"],
            "created": created,
            "task": rec["llm_task"]["name"],
            "task_id": rec["llm_task"]["sha256"][:22],
            "task_file": rec["llm_task"]["file"],
            "solver": rec["settings"]["solver"],
            "dataset": {
                "name": rec["dataset"]["name"],
                "location": f"{rec['dataset']['name']}@{rec['dataset']['commit']}",
                "samples": int(frame["item_id"].nunique()),
            },
            "model": model,
            "model_generate_config": {
                "max_tokens": gen["max_new_tokens"],
                "temperature": gen["temperature"],
                "top_p": gen["top_p"],
                "seed": gen["seed"],
                "stop_seqs": gen["stop"] or None,
            },
            "model_base_url": rec["model"].get("url"),
            "config": {"epochs": rec["settings"]["epochs"]},
            "packages": {k: v for k, v in rec["libraries"].items() if v},
            "metadata": {
                "assay_run": rec["run_id"],
                "model_sha256": rec["model"].get("sha256"),
                "marking": rec["dataset"]["marking"],
            },
        },
        "plan": {"name": "plan", "steps": [{"solver": rec["settings"]["solver"], "params": {}}]},
        "results": {
            "total_samples": len(frame),
            "completed_samples": len(frame),
            "scores": scores,
        },
        "stats": {"started_at": created, "completed_at": created, "model_usage": {model: total}},
        "samples": [_sample(r, model, scorers) for r in frame.itertuples(index=False)],
    }


def export_inspect_log(run: EvalRun, out: str | Path) -> Path:
    """Write the run's Inspect AI log to `out` (atomically); see `inspect_log`."""
    out = Path(out)
    text = json.dumps(inspect_log(run), indent=1, allow_nan=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
