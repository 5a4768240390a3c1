"""The release gate: fail when the candidate is significantly worse than the baseline.

A slice fails when the candidate's drop in the gate metric (baseline - candidate) is larger
than ``max_drop`` and the paired test says the difference is significant (p < ``alpha``):
McNemar's exact test for accuracy, the paired bootstrap for every other metric. A large
drop on a handful of items is therefore reported, but does not fail the gate on its own.
Both runs must have evaluated the same dataset commit (language-model runs: with the same
prompts and scorers, `PAIRED_TASK_FIELDS` of their task files and the few-shot commit) under
the same version of the metric definitions (the record's ``metric_versions``), the candidate
everything the baseline did, and a slice named with ``slices`` must hold items: an empty
slice, or a subset, would pass whatever the candidate does on the rest. Gating every
slice, an empty one is shown with the result ``empty`` (and listed under ``empty``), never
``ok``: it gates nothing. So is a slice whose gate metric is undefined (NaN) in either run, as
AP is where no ground-truth box is: its drop cannot be measured, so it is shown with the result
``undefined`` (and listed under ``undefined``), never ``ok``, and fails nothing; named with
``slices`` it is refused, as an empty one is. So is a slice the two runs define with different
queries (one name, two definitions; in language-model runs, two `slice_by` fields, see
`slice_where`): a paired test of two slices means nothing, so it is shown
with the result ``not compared`` (and listed under ``not_compared``), as `compare` lists it, and
fails nothing. A gate that measures no slice at all is refused: it would pass on nothing. Each
row that gates nothing says why (`GateRow.why`), and `unmeasured_notes` reads that back from a
stored gate (a promotion's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, InvalidInput
from assay.evaluation.runs._compare import (
    compare_runs,
    metric_versions,
    slice_where,
    versions_text,
)
from assay.evaluation.runs._settings import METRIC_VERSIONS
from assay.evaluation.runs._slices import ALL
from assay.evaluation.runs._store import EvalRun, load_run

if TYPE_CHECKING:
    from assay.workspace import Workspace

DEFAULT_METRIC = {"classification": "accuracy", "detection": "AP"}
# When a detection metric has no value on a slice's images (NaN): the cause a gate names.
UNDEFINED_WHEN = {
    "AP": "no ground-truth box of the slice to score",
    "F1": "no ground-truth box and no detection at the score threshold",
}


class GateFailed(AssayError):
    """The candidate dropped significantly below the baseline on at least one slice."""


@dataclass(frozen=True)
class GateRow:
    slice: str
    metric: str
    baseline: float | None
    candidate: float | None
    drop: float | None
    p_value: float | None
    n: int
    failed: bool
    # Why the slice was not compared: the runs define it with different queries.
    not_compared: str | None = None

    @property
    def result(self) -> str:
        """``FAIL``, ``not compared`` (the runs define the slice differently: it gates
        nothing), ``empty`` (no item both runs evaluated is in the slice: it gates nothing,
        passed or failed), ``undefined`` (the metric has no value in one run or both, so the
        drop is not measured: it gates nothing either) or ``ok``."""
        if self.failed:
            return "FAIL"
        if self.not_compared:
            return "not compared"
        if self.n == 0:
            return "empty"
        return "undefined" if self.baseline is None or self.candidate is None else "ok"

    @property
    def unmeasured(self) -> str | None:
        """Why an ``undefined`` row gates nothing, naming the run(s) without a value; None
        for the others."""
        if self.result != "undefined":
            return None
        if self.baseline is None and self.candidate is None:
            where = "in both runs"
        elif self.baseline is None:
            where = f"in the baseline ({self.candidate:.3f} in the candidate)"
        else:
            where = f"in the candidate ({self.baseline:.3f} in the baseline)"
        why = UNDEFINED_WHEN.get(self.metric)
        return f"{self.metric} is undefined {where}" + (f" ({why})" if why else "")

    @property
    def why(self) -> str | None:
        """Why the row gates nothing (``not compared``, ``empty``, ``undefined``), None for
        ``ok`` and ``FAIL``."""
        if self.result == "not compared":
            return f"not compared: {self.not_compared}"
        if self.result == "empty":
            return "empty: no item both runs evaluated is in it"
        return self.unmeasured

    @property
    def note(self) -> str | None:
        """The line a CLI prints for a row that gates nothing (after ``note: ``)."""
        return None if self.why is None else f"slice {self.slice}: {self.why}, so it gates nothing"


@dataclass(frozen=True)
class GateResult:
    baseline: str
    candidate: str
    metric: str
    max_drop: float
    alpha: float
    rows: tuple[GateRow, ...]

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.rows)

    @property
    def failing(self) -> list[str]:
        return [r.slice for r in self.rows if r.failed]

    def with_result(self, result: str) -> list[str]:
        """The slices shown with `result` (`GateRow.result`): ``empty`` (no item both runs
        evaluated), ``undefined`` (the metric has no value in either run), ``not compared``
        (the runs define the slice with different queries)."""
        return [r.slice for r in self.rows if r.result == result]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "metric": self.metric,
            "max_drop": self.max_drop,
            "alpha": self.alpha,
            "passed": self.passed,
            "failing": self.failing,
            "empty": self.with_result("empty"),
            "undefined": self.with_result("undefined"),
            "not_compared": self.with_result("not compared"),
            "rows": [{**asdict(r), "result": r.result, "why": r.why} for r in self.rows],
        }


def unmeasured_notes(doc: dict[str, Any]) -> list[str]:
    """The notes (`GateRow.note`) of the rows of a gate's `to_dict` that gate nothing: a gate
    stored with a promotion, read back (one stored before a kind of row existed lacks it)."""
    names = {f.name for f in fields(GateRow)}
    rows = (GateRow(**{k: v for k, v in r.items() if k in names}) for r in doc.get("rows", []))
    return [r.note for r in rows if r.note]


def _same_commit(base: EvalRun, cand: EvalRun) -> None:
    """Runs scored against different labels of record differ by the labels as much as by the
    model; a red-team run's anchor is the commit its model learned from, so it may differ."""
    if "redteam" in base.record or "redteam" in cand.record:
        return
    a, b = base.record.get("dataset") or {}, cand.record.get("dataset") or {}
    if a.get("commit") and b.get("commit") and a["commit"] != b["commit"]:
        raise InvalidInput(
            f"run {base.run_id} evaluated {a.get('name')}@{a['commit'][:12]} and run "
            f"{cand.run_id} {b.get('name')}@{b['commit'][:12]}: a gate compares models on the "
            f"same labels of record; evaluate the candidate on "
            f"{a.get('name')}@{a['commit'][:12]} (`assay eval compare` shows the two as they are)"
        )


def _same_versions(base: EvalRun, cand: EvalRun) -> None:
    """Runs scored under other versions of the metric definitions (a label slice without
    crowd regions from version 3, say) differ by the definitions as much as by the model."""
    v = metric_versions(base, cand)
    if v["same"]:
        return
    current = 1 if base.task == "llm" else METRIC_VERSIONS.get(str(v["metric"]))
    stale = [r.run_id for r, ver in ((base, v["a"]), (cand, v["b"])) if ver != current]
    if base.task == "llm" or not stale:
        again = "evaluate them again under the same ones"
    else:
        cmds = " and ".join(f"`assay eval run --rerun {rid} --out DIR`" for rid in stale)
        again = f"score {' and '.join(stale)} again under the current ones: {cmds}"
    raise InvalidInput(
        f"{versions_text(v, f'run {base.run_id}', f'run {cand.run_id}')}: a gate compares "
        f"models under the same metric definitions; {again} (`assay eval compare` shows the "
        "two as they are)"
    )


# What a task file says that makes the prompts and the scores; its name, its dataset spec (the
# commit is checked apart) and its slices do not.
PAIRED_TASK_FIELDS = ("target", "template", "solver", "choices", "generation", "scorers")


def _differs(a: Any, b: Any, where: str) -> str | None:
    """The first path at which `a` and `b` differ (``template.prompt``), None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            found = _differs(a.get(k), b.get(k), f"{where}.{k}")
            if found:
                return found
        return None
    return None if a == b else where


def _same_task(base: EvalRun, cand: EvalRun) -> None:
    """Language-model runs of other prompts (or scorers) differ by the task as much as by the
    model, as runs on other labels of record do."""
    if "redteam" in base.record or "redteam" in cand.record:
        return  # a red-team run's probes are its own; it has no task file
    ta, tb = base.record.get("llm_task"), cand.record.get("llm_task")
    if not ta or not tb:
        return
    fa = {"fewshot_commit": (base.record.get("fewshot") or {}).get("commit")}
    fb = {"fewshot_commit": (cand.record.get("fewshot") or {}).get("commit")}
    fa.update((k, ta["spec"].get(k)) for k in PAIRED_TASK_FIELDS)
    fb.update((k, tb["spec"].get(k)) for k in PAIRED_TASK_FIELDS)
    field = _differs(fa, fb, "")
    if field is None:
        return
    field = field.lstrip(".")
    if field == "fewshot_commit":
        field = "the few-shot commit (template.fewshot.dataset)"
    raise InvalidInput(
        f"run {base.run_id} evaluated task file {ta['file']} (sha256 {ta['sha256'][:12]}) and "
        f"run {cand.run_id} {tb['file']} (sha256 {tb['sha256'][:12]}), which differ in "
        f"{field}: a gate compares models on the same prompts and scorers; evaluate the "
        f"candidate with {ta['file']} (`assay eval compare` shows the two as they are)"
    )


def _covers(base: EvalRun, cand: EvalRun, shared: int) -> None:
    """The candidate must have answered everything the baseline did: on a subset (`eval llm
    --samples`) the gate would pass on what it never saw."""
    if "redteam" in base.record or "redteam" in cand.record:
        return
    samples = base.samples()
    if base.task == "llm":
        total, unit = int(samples["key"].nunique()), "samples (item and epoch)"
    else:
        total, unit = int((samples["suite"] == "clean").sum()), "items"
    if shared < total:
        raise InvalidInput(
            f"run {cand.run_id} evaluated {shared} of the {total} {unit} baseline run "
            f"{base.run_id} did: a gate needs the candidate on all of them (run it without "
            "--samples, with the baseline's --epochs)"
        )


def check_gate_bounds(max_drop: float, alpha: float) -> None:
    """The bounds `eval gate` and `model promote` put on their options, for API callers too:
    the gated metrics lie in 0..1, a significance level strictly between 0 and 1 (NaN is
    neither)."""
    if not 0 <= max_drop <= 1:
        raise InvalidInput(f"--max-drop: {max_drop:g} is not in the range 0<=x<=1")
    if not 0 < alpha < 1:
        raise InvalidInput(f"--alpha: {alpha:g} is not in the range 0<x<1")


def gate(
    ws: Workspace | None,
    baseline: str | EvalRun,
    candidate: str | EvalRun,
    *,
    max_drop: float,
    slices: list[str] | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    n_resamples: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GateResult:
    """Compare `candidate` with `baseline` per slice; see the module doc for the rule.
    `progress(done, total)` hears of the paired-bootstrap resamples (see `compare_runs`)."""
    check_gate_bounds(max_drop, alpha)
    base = baseline if isinstance(baseline, EvalRun) else load_run(ws, baseline)
    cand = candidate if isinstance(candidate, EvalRun) else load_run(ws, candidate)
    _same_commit(base, cand)
    _same_task(base, cand)
    _same_versions(base, cand)
    cmp = compare_runs(ws, base, cand, n_resamples=n_resamples, progress=progress)
    _covers(base, cand, int(cmp["n_shared"]))
    name = metric or str(base.summary.get("primary") or DEFAULT_METRIC[base.task])
    differ = cmp.get("not_compared", {})
    # As the baseline's record lists them (compare's order, with the slices not compared).
    order = [ALL, *(d["name"] for d in base.record["slices"])]
    shown = [*cmp["slices"], *differ]
    wanted = slices or sorted(shown, key=lambda s: order.index(s) if s in order else len(order))
    rows = []
    for s in wanted:
        if s in differ and slices:
            raise InvalidInput(f"--slice {s}: {differ[s]}; it gates nothing")
        if s in differ:  # one name, two queries: shown, never a pass, never a failure
            qa, qb = slice_where(base, s), slice_where(cand, s)
            why = f"the runs define it with different queries ({qa} in the baseline and {qb} in "
            why += "the candidate)"
            rows.append(GateRow(s, name, None, None, None, None, 0, False, why))
            continue
        if s not in cmp["slices"]:
            raise InvalidInput(
                f"--slice {s}: not a slice of both runs; slices: {', '.join(cmp['slices'])}"
            )
        entry = cmp["slices"][s]
        if entry["n"] == 0 and slices:
            llm = base.record.get("llm_task")
            where = f"slice_by in {llm['file']}" if llm else "its query in the slices file"
            raise InvalidInput(
                f"--slice {s}: no item both runs evaluated is in it, so it gates nothing; "
                f"check {where}"
            )
        if entry["n"] == 0:
            rows.append(GateRow(s, name, None, None, None, None, 0, False))
            continue
        if name not in entry["tests"]:
            raise InvalidInput(
                f"--metric {name}: not compared for {base.task}; use one of "
                f"{', '.join(entry['tests'])}"
            )
        t = entry["tests"][name]
        a, b = _value(t.get("a")), _value(t.get("b"))
        if a is None or b is None:  # no drop to measure: never a pass, never a failure
            row = GateRow(s, name, a, b, None, None, int(entry["n"]), False)
            if slices:
                raise InvalidInput(f"--slice {s}: {row.unmeasured}, so it gates nothing")
            rows.append(row)
            continue
        drop = _value(t["difference"])
        drop = None if drop is None else -drop
        p = t["p_value"]
        failed = drop is not None and drop > max_drop and p is not None and p < alpha
        rows.append(GateRow(s, name, a, b, drop, p, int(entry["n"]), failed))
    if all(r.why for r in rows):
        others = [m for m in cmp["slices"].get(ALL, {}).get("tests", {}) if m != name]
        why = next((r.unmeasured for r in rows if r.unmeasured), f"{name} has no value")
        raise InvalidInput(
            f"--metric {name} gates nothing: on every slice the runs share, {why}"
            + (f"; gate one of {', '.join(others)}" if others else "")
        )
    return GateResult(base.run_id, cand.run_id, name, max_drop, alpha, tuple(rows))


def _value(v: Any) -> float | None:
    """A compared value, None when it has none (None or NaN: an undefined metric)."""
    return None if v is None or math.isnan(float(v)) else float(v)
