"""`run_llm_eval`: generate, score and keep a language-model run like any evaluation run."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from assay.domain.labels import canonical_json
from assay.errors import InvalidInput, NotFound
from assay.evaluation.llm import _judge, _scorers
from assay.evaluation.llm._solve import Sample, build_samples, extract_answer, fewshot_turns
from assay.evaluation.llm._stats import summarise
from assay.evaluation.llm._task import TaskSpec, load_task
from assay.models.llm import (
    BackendOptions,
    CachedGenerator,
    Generation,
    Generator,
    go_offline,
    open_generator,
    prompt_json,
)
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.evaluation.runs import EvalRun
    from assay.workspace import Workspace

CHUNK = 64  # prompts per generate call: progress steps, and what a failure costs at most
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LlmRunSettings:
    """How the run is done: items (first N), epochs, bootstrap resamples and confidence."""

    samples: int | None = None
    epochs: int = 1
    seed: int = 0
    n_resamples: int = 1000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.samples is not None and self.samples < 1:
            raise InvalidInput(f"--samples must be at least 1, not {self.samples}")
        if not 1 <= self.epochs <= 100:
            raise InvalidInput(f"--epochs must be between 1 and 100, not {self.epochs}")
        if self.n_resamples < 1 or not 0 < self.confidence < 1:
            raise InvalidInput("resamples must be >= 1 and confidence in (0, 1)")


def _libraries() -> dict[str, str | None]:
    from importlib import metadata

    from assay.evaluation.runs._run import _libraries as base

    out = base()
    for name in ("torch", "transformers", "tokenizers", "httpx"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _generate(
    gen: Generator, samples: list[Sample], spec: TaskSpec, epochs: int, progress: Progress | None
) -> list[list[Generation]]:
    base = spec.params()
    total = len(samples) * epochs
    done = 0
    out: list[list[Generation]] = []
    for epoch in range(epochs):
        params = replace(base, seed=base.seed + epoch)
        got: list[Generation] = []
        for start in range(0, len(samples), CHUNK):
            chunk = samples[start : start + CHUNK]
            got.extend(gen.generate([s.prompt for s in chunk], params))
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        out.append(got)
    return out


def _judge_generator(
    ws: Workspace, spec: TaskSpec, gen: Generator, options: BackendOptions
) -> Generator | None:
    judge = next((s for s in spec.scorers if s.name == "judge"), None)
    if judge is None:
        return None
    if judge.judge_model or judge.judge_endpoint:
        return open_generator(
            ws, model=judge.judge_model, endpoint=judge.judge_endpoint, options=options
        )
    return gen


def _score(
    spec: TaskSpec,
    frame: pd.DataFrame,
    samples: list[Sample],
    judge: Generator | None,
) -> dict[str, Any]:
    """Adds ``score_<name>`` columns (and the judge's prompt and output); returns judge facts."""
    refs = [samples[i].reference for i in frame["pos"]]
    answers = list(frame["answer"])
    targets = [r.text or "" for r in refs]
    facts: dict[str, Any] = {}
    for sc in spec.scorers:
        col = f"score_{sc.name}"
        if sc.name == "exact":
            frame[col] = [_scorers.exact(a, t) for a, t in zip(answers, targets, strict=True)]
        elif sc.name == "match":
            frame[col] = [_scorers.match(a, t) for a, t in zip(answers, targets, strict=True)]
        elif sc.name == "token_f1":
            frame[col] = [_scorers.token_f1(a, t) for a, t in zip(answers, targets, strict=True)]
        elif sc.name == "regex":
            pat = sc.pattern or ""
            frame[col] = [_scorers.regex(a, t, pat) for a, t in zip(answers, targets, strict=True)]
        elif sc.name == "choice":
            frame[col] = [float(a != "" and a == t) for a, t in zip(answers, targets, strict=True)]
        elif sc.name == "numeric":
            frame[col] = [
                _scorers.numeric(a, t, sc.tolerance, sc.relative)
                for a, t in zip(answers, targets, strict=True)
            ]
        elif sc.name == "span_f1":
            frame[col] = [_scorers.span_f1(a, r.spans) for a, r in zip(answers, refs, strict=True)]
        elif sc.name == "embedding":
            frame[col] = _scorers.cosine_scores(answers, targets)
        elif sc.name == "judge" and judge is not None:
            questions = [samples[i].prompt[-1].content for i in frame["pos"]]
            verdicts = _judge.grade(judge, questions, targets, answers, sc.rubric or "")
            frame[col] = [v.grade for v in verdicts]
            frame["judge_prompt"] = [v.prompt for v in verdicts]
            frame["judge_output"] = [v.output for v in verdicts]
            human = [_judge.human_grade(samples[i].human) for i in frame["pos"]]
            facts = {
                "model": judge.describe(),
                "template": _judge.JUDGE_TEMPLATE,
                "rubric": sc.rubric,
                "params": _judge.JUDGE_PARAMS.to_dict(),
                "unparsed": int(sum(not v.parsed for v in verdicts)),
                "human_control": sc.human,
                "human_agreement": _judge.agreement(list(frame[col]), human),
            }
    return facts


EMPTY_VALUE = "(empty)"  # the `slice_by` slice of the items whose field is missing, null or ""


def _slice_value(v: Any) -> str | None:
    """The slice a metadata value puts an item in; None for no value (missing, null, blank)."""
    if v is None:
        return None
    text = str(v)
    return text if text.strip() else None


def _items_frame(samples: list[Sample], spec: TaskSpec) -> tuple[pd.DataFrame, list[str]]:
    items = pd.DataFrame(
        {
            "item_id": [s.item_id for s in samples],
            "name": [s.name for s in samples],
            "marking": [s.marking for s in samples],
            "metadata": [canonical_json(s.metadata) for s in samples],
        }
    )
    names = ["all"]
    items["slice:all"] = True
    for field in spec.slice_by:
        values: list[Any]
        if field == "marking":
            values = [s.marking for s in samples]
        else:
            values = [s.metadata.get(field[9:]) for s in samples]
        texts = [_slice_value(v) for v in values]
        seen = sorted({t for t in texts if t is not None})
        for v in seen:
            name = f"{field}={v}"
            items[f"slice:{name}"] = [t == v for t in texts]
            names.append(name)
        if not seen:  # a field no item has a value of (a typo?): an empty slice, said as any other
            items[f"slice:{field}"] = False
            names.append(field)
        elif None in texts:  # items without a value are counted too, not dropped
            name = f"{field}={EMPTY_VALUE}"
            items[f"slice:{name}"] = [t is None for t in texts]
            names.append(name)
    return items, names


def run_llm_eval(
    ws: Workspace,
    task_file: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    endpoint: str | None = None,
    options: BackendOptions | None = None,
    settings: LlmRunSettings | None = None,
    generator: Generator | None = None,
    progress: Progress | None = None,
) -> EvalRun:
    """Evaluate a language model on a task file and keep the run (see `assay eval llm`).

    Everything that can be checked is checked before the first prompt is sent: the task
    file's fields and template, the dataset and few-shot commits, every item's prompt. A
    failure during generation (a timeout, a malformed answer) writes no run.
    """
    from assay.evaluation.runs._data import load_dataset
    from assay.evaluation.runs._report import render_report
    from assay.evaluation.runs._run import RECORD_FORMAT, clean_json
    from assay.evaluation.runs._store import ITEMS, SAMPLES, write_run

    go_offline()
    st = settings or LlmRunSettings()
    opts = options or BackendOptions()
    spec, task_sha = load_task(task_file)
    tf = str(task_file)
    try:
        data = load_dataset(ws, spec.dataset)
    except (NotFound, InvalidInput) as exc:
        raise type(exc)(f"{tf}: dataset: {exc}") from None
    fewshot, fs_commit, fs_marking = fewshot_turns(ws, spec, {i.item_id for i in data.items}, tf)
    judge_sc = next((s for s in spec.scorers if s.name == "judge"), None)
    samples, missing = build_samples(spec, data, fewshot, tf, judge_sc.human if judge_sc else None)
    if st.samples is not None:
        samples = samples[: st.samples]
    if not samples:
        raise InvalidInput(
            f"{tf}: no item of {spec.dataset} has a label under control {spec.target!r}"
        )
    gen = generator or open_generator(ws, model=model, endpoint=endpoint, options=opts)
    judge = _judge_generator(ws, spec, gen, opts)
    t0 = time.perf_counter()
    outputs = _generate(gen, samples, spec, st.epochs, progress)
    rows = []
    for epoch, outs in enumerate(outputs):
        for pos, (s, g) in enumerate(zip(samples, outs, strict=True)):
            rows.append(
                {
                    "key": f"{s.item_id}|{epoch}",
                    "item_id": s.item_id,
                    "epoch": epoch,
                    "pos": pos,
                    "input": canonical_json(prompt_json(s.prompt)),
                    "output": g.text,
                    "answer": extract_answer(spec, g.text),
                    "target": s.reference.text,
                    "spans": list(s.reference.spans),
                    "latency_s": g.latency_s,
                    "prompt_tokens": g.prompt_tokens,
                    "completion_tokens": g.completion_tokens,
                    "finish_reason": g.finish_reason,
                    "cached": g.cached,
                }
            )
    frame = pd.DataFrame(rows)
    judge_facts = _score(spec, frame, samples, judge)
    seconds = time.perf_counter() - t0
    items, slice_names = _items_frame(samples, spec)
    scorer_names: list[str] = [s.name for s in spec.scorers]
    summary = summarise(frame, items, slice_names, scorer_names, st)
    desc = gen.describe()
    # Outputs derive from the data, the few-shot examples and the model: the highest marks all.
    sources = [data.marking, fs_marking, desc.get("marking")]
    marking = ws.scheme.highest_text([m for m in sources if m])
    cache = gen if isinstance(gen, CachedGenerator) else None
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "created": now_iso(),
        "actor": ws.actor,
        "task": "llm",
        "llm_task": {
            "name": spec.name,
            "file": str(Path(task_file).resolve()),
            "sha256": task_sha,
            "spec": spec.model_dump(mode="json"),
        },
        "dataset": {
            "name": data.dataset,
            "commit": data.commit_id,
            "spec": spec.dataset,
            "marking": marking,
        },
        "fewshot": {"commit": fs_commit, "marking": fs_marking} if fs_commit else None,
        "model": {
            **desc,
            "ref": desc.get("ref") or desc.get("path") or desc.get("url"),
            "model_id": desc.get("model_id"),
            "identity": gen.identity,
        },
        "judge": judge_facts or None,
        "slices": [{"name": n, "where": {}} for n in slice_names if n != "all"],
        "settings": {
            "suites": ["llm"],
            "solver": spec.solver,
            "generation": spec.params().to_dict(),
            "samples": st.samples,
            "epochs": st.epochs,
            "seed": st.seed,
            "n_resamples": st.n_resamples,
            "confidence": st.confidence,
        },
        "seeds": {
            "generation": [spec.params().seed + e for e in range(st.epochs)],
            "bootstrap": st.seed,
            "fewshot": spec.template.fewshot.seed if spec.template.fewshot else None,
        },
        "items_without_target": len(missing),
        # Said by the CLI: a scored n below the dataset's size must not pass unseen.
        "first_item_without_target": (
            {"item_id": missing[0].item_id, "name": missing[0].name} if missing else None
        ),
        "usage": {
            "seconds": seconds,
            "prompt_tokens": int(frame["prompt_tokens"].fillna(0).sum()),
            "completion_tokens": int(frame["completion_tokens"].fillna(0).sum()),
            "cache_hits": cache.hits if cache else None,
            "cache_misses": cache.misses if cache else None,
        },
        "metric_versions": {"llm_scorers": 1},
        "libraries": _libraries(),
        "rerun_of": None,
    }
    record = clean_json(record)
    record["run_id"] = hashlib.sha256(canonical_json(record).encode()).hexdigest()[:20]
    summary = clean_json({"run_id": record["run_id"], **summary})
    samples_out = frame.drop(columns=["pos"])
    html = render_report(record, summary)
    return write_run(ws, Path(out), record, summary, {SAMPLES: samples_out, ITEMS: items}, html)
