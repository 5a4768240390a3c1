"""Paired comparison of two runs on the items both evaluated, per slice and per corruption.

Differences are B - A (run B against run A). Classification: McNemar's exact test on
per-item correctness for accuracy, a paired bootstrap for macro F1. Detection: a paired
bootstrap over images for AP and F1. A slice is compared when both runs define it with the
same query (one name with two queries is listed under ``not_compared``). It holds the items
both runs evaluated that are in it in both runs: runs on two commits may label (or slice) an
item differently, and an item in the slice in one run alone is left out, counted per slice
under ``membership`` (``only_a``, ``only_b``). A detection object-size slice holds the images
either run has a box of that size in (`_slices`; rule "either run"): B's false alarm is scored
where A found nothing of that size.
Corruptions pool the severities both runs ran: the unit is an (item, severity) pair.
Runs scored under other versions of the task's metric definitions (`METRIC_VERSIONS`: from
version 3 a label slice leaves out crowd regions, say) are compared as they are, each with its
own tables, and ``metric_versions`` says so (``same`` false, with both versions): their
numbers differ by the definitions as well as by the models.
`progress(done, total)` hears of the paired-bootstrap resamples, a resample (or a chunk of
them) at a time, over every slice's and corruption's bootstrapped metrics (macro F1; AP and
F1), as `eval run` counts its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.evaluation import mcnemar, paired_bootstrap
from assay.evaluation._weighted import weighted_metric
from assay.evaluation.bootstrap import Tick
from assay.evaluation.runs._detect import ImageBoxes, metric_fns
from assay.evaluation.runs._run import clean_json
from assay.evaluation.runs._slices import ALL
from assay.evaluation.runs._store import EvalRun, load_run
from assay.evaluation.runs._units import Steps

if TYPE_CHECKING:
    from assay.workspace import Workspace

Metric = Callable[[pd.DataFrame], float]

# The entry of a run's `metric_versions` its stored tables (per-sample results, boxes, slice
# membership) were scored under; compare and gate recompute everything else from them.
SCORED_UNDER = {"classification": "classification", "detection": "detection", "llm": "llm_scorers"}


def metric_versions(a: EvalRun, b: EvalRun) -> dict[str, Any]:
    """``{"metric", "a", "b", "same"}``: the version of the metric definitions each run was
    scored under (the record's string, ending ``/N``), and whether they are the same."""
    key = SCORED_UNDER.get(a.task, a.task)
    va, vb = ((r.record.get("metric_versions") or {}).get(key) for r in (a, b))
    return {"metric": key, "a": va, "b": vb, "same": va == vb}


def version_number(version: object) -> str:
    """``3`` of ``"..., label slices without crowd/3"``; an LLM run's is a number already."""
    return "unknown" if version is None else str(version).rpartition("/")[2]


def versions_text(v: dict[str, Any], a: str, b: str) -> str:
    """Which version of the metric definitions runs `a` and `b` were scored under."""
    return (
        f"{a} was scored under {v['metric']} metrics version {version_number(v['a'])} "
        f"({v['a']!r}) and {b} under version {version_number(v['b'])} ({v['b']!r})"
    )


def _slice_sizes(run: EvalRun) -> dict[str, str | None]:
    out: dict[str, str | None] = {ALL: None}
    for s in run.record["slices"]:
        out[s["name"]] = s["where"].get("object_size")
    return out


def slice_membership(
    items: tuple[pd.DataFrame, pd.DataFrame], name: str, shared: set[str], either: bool = False
) -> tuple[set[str], dict[str, Any]]:
    """The shared items of slice `name` and how they were taken (see the module doc).

    `items` are A's and B's items tables. An item is in the slice when it is in it in both
    runs (their commits may label it differently), or, with `either`, in either run. Returns
    the members and ``{"rule", "only_a", "only_b"}``: the shared items in the slice in one
    run alone (left out with the rule "both runs", kept with "either run").
    """
    col = f"slice:{name}"
    in_a = set(items[0].loc[items[0][col], "item_id"]) & shared
    in_b = set(items[1].loc[items[1][col], "item_id"]) & shared
    rule = {
        "rule": "either run" if either else "both runs",
        "only_a": len(in_a - in_b),
        "only_b": len(in_b - in_a),
    }
    return (in_a | in_b) if either else (in_a & in_b), rule


def slice_where(run: EvalRun, name: str) -> dict[str, Any] | None:
    """What defines slice `name` in `run` (None for ``all``): its query; in a language-model
    run of a task file, the `slice_by` field and the value its name stands for
    (`slice_definition`: such a run's record keeps no query; a red-team run's has none either,
    its slices being its probes' categories)."""
    spec = (run.record.get("llm_task") or {}).get("spec")
    if spec is not None and name != ALL:
        from assay.evaluation.llm._task import slice_definition

        return slice_definition(list(spec.get("slice_by") or []), name)
    return next((s["where"] for s in run.record["slices"] if s["name"] == name), None)


def defined_apart(a: EvalRun, b: EvalRun, name: str) -> str | None:
    """Why runs `a` and `b` cannot be compared on slice `name` (one name, two definitions), None
    when they define it alike; listed under ``not_compared``."""
    where_a, where_b = slice_where(a, name), slice_where(b, name)
    if where_a == where_b:
        return None
    return f"slice {name} is {where_a} in run A and {where_b} in run B"


def boot_entry(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str | Metric,
    n: int,
    seed: int,
    conf: float,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """The paired bootstrap of B - A over rows matched on ``key``, as compare reports it (an
    undefined difference with no p-value)."""
    r = paired_bootstrap(
        b, a, metric, key="key", n_resamples=n, seed=seed, confidence=conf, tick=tick
    )
    return {
        "difference": r.difference,
        "low": r.low,
        "high": r.high,
        # A metric undefined in either run (NaN) has no difference: nothing is significant.
        "p_value": None if math.isnan(r.difference) else r.p_value,
        "n": r.n,
        "test": "paired bootstrap",
    }


def mcnemar_entry(ca: np.ndarray[Any, Any], cb: np.ndarray[Any, Any]) -> dict[str, Any]:
    """McNemar's exact test of paired correctness, as compare and gate report it (B - A)."""
    mc = mcnemar(ca, cb)
    return {
        "a": float(ca.mean()),
        "b": float(cb.mean()),
        "difference": float(cb.mean() - ca.mean()),
        "p_value": mc.p_value,
        "n": len(ca),
        "test": "McNemar exact",
        "a_only_correct": mc.b,
        "b_only_correct": mc.c,
    }


def _macro_f1(frame: pd.DataFrame) -> float:
    fn = weighted_metric(frame, "macro_f1", "y_true", "y_pred")
    return float(fn(np.ones((1, len(frame))))[0])


def _shared_keys(a: pd.DataFrame, b: pd.DataFrame) -> pd.Index[Any]:
    keys: pd.Index[Any] = pd.Index(a["key"]).intersection(pd.Index(b["key"]), sort=False)
    return keys


def _class_tests(
    a: pd.DataFrame, b: pd.DataFrame, n: int, seed: int, conf: float, tick: Tick
) -> dict[str, Any]:
    keys = _shared_keys(a, b)
    if len(keys) == 0:
        return {"n": 0, "tests": {}}
    a2, b2 = a.set_index("key").loc[keys].reset_index(), b.set_index("key").loc[keys].reset_index()
    acc = mcnemar_entry(a2["correct"].to_numpy(bool), b2["correct"].to_numpy(bool))
    f1 = boot_entry(a2, b2, "macro_f1", n, seed, conf, tick)
    f1["a"], f1["b"] = _macro_f1(a2), _macro_f1(b2)
    return {"n": len(keys), "tests": {"accuracy": acc, "macro_f1": f1}}


def _images(
    run: EvalRun, suite: str, corruption: str | None
) -> tuple[dict[str, ImageBoxes], list[str]]:
    """Images of one suite pass keyed by item id (clean) or "item|severity" (corruptions)."""
    boxes, samples = run.boxes(), run.samples()
    gt: dict[str, list[tuple[str, tuple[float, float, float, float], int, float]]] = {}
    if "area" not in boxes:  # a run recorded before boxes kept their area: w * h was used
        boxes = boxes.assign(area=boxes["w"] * boxes["h"])
    for r in boxes[boxes["kind"] == "gt"].itertuples():
        gt.setdefault(str(r.item_id), []).append(
            (str(r.label), (r.x, r.y, r.w, r.h), int(r.iscrowd), float(r.area))  # type: ignore[arg-type]
        )

    def keep(f: pd.DataFrame) -> pd.DataFrame:
        f = f[f["suite"] == suite]
        return f[f["corruption"] == corruption] if corruption is not None else f

    def key(iid: str, sev: int) -> str:
        return iid if suite == "clean" else f"{iid}|{sev}"

    samples = keep(samples)
    out = {
        key(iid, sev): ImageBoxes(gt=list(gt.get(iid, [])))
        for iid, sev in zip(samples["item_id"], samples["severity"], strict=True)
    }
    for r in keep(boxes[boxes["kind"] == "dt"]).itertuples():
        out[key(str(r.item_id), int(r.severity))].dt.append(  # type: ignore[arg-type]
            (str(r.label), (r.x, r.y, r.w, r.h), float(r.score))  # type: ignore[arg-type]
        )
    return out, list(run.summary["classes"])


def _det_tests(
    a_run: EvalRun,
    b_run: EvalRun,
    keys: list[str],
    suite: str,
    corruption: str | None,
    size: str | None,
    n: int,
    seed: int,
    conf: float,
    tick: Tick,
) -> dict[str, Any]:
    if not keys:
        return {"n": 0, "tests": {}}
    per_run = {}
    for tag, run in (("a", a_run), ("b", b_run)):
        ims, cats = _images(run, suite, corruption)
        per_run[tag] = ([ims[k] for k in keys], cats)
    thr = float(a_run.record["settings"]["score_threshold"])
    fns = {t: metric_fns(ims, cats, size, thr) for t, (ims, cats) in per_run.items()}

    def pick(name: str) -> Metric:
        return lambda f: fns[str(f["run"].iloc[0])][name](f)

    frame_a = pd.DataFrame({"key": keys, "pos": np.arange(len(keys)), "run": "a"})
    frame_b = frame_a.assign(run="b")
    tests = {}
    for name in ("AP", "F1"):
        res = boot_entry(frame_a, frame_b, pick(name), n, seed, conf, tick)
        res["a"], res["b"] = pick(name)(frame_a), pick(name)(frame_b)
        tests[name] = res
    return {"n": len(keys), "tests": tests}


# Bootstrapped metrics per compared group, for the progress total (McNemar needs none).
BOOTSTRAPPED = {"classification": 1, "detection": 2}  # macro F1; AP and F1


def compare_runs(
    ws: Workspace | None,
    run_a: str | EvalRun,
    run_b: str | EvalRun,
    *,
    n_resamples: int | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Paired tests of B against A per slice and per corruption (see the module doc)."""
    a = run_a if isinstance(run_a, EvalRun) else load_run(ws, run_a)
    b = run_b if isinstance(run_b, EvalRun) else load_run(ws, run_b)
    if a.task != b.task:
        raise InvalidInput(f"run {a.run_id} is {a.task} and run {b.run_id} is {b.task}")
    versions = metric_versions(a, b)
    if a.task == "llm":
        from assay.evaluation.llm import compare_llm

        llm = {**compare_llm(a, b, n_resamples, seed, progress), "metric_versions": versions}
        return dict(clean_json(llm))
    st = a.record["settings"]
    n = n_resamples or int(st["n_resamples"])
    sd = int(st["seed"]) if seed is None else seed
    conf = float(st["confidence"])
    sizes = _slice_sizes(a)
    shared_slices = [s for s in sizes if s in _slice_sizes(b)]
    items = (a.items(), b.items())
    sa, sb = a.samples(), b.samples()
    out: dict[str, Any] = {
        "run_a": a.run_id,
        "run_b": b.run_id,
        "task": a.task,
        "difference": "B - A",
        "slices": {},
        "not_compared": {},
        "corruptions": {},
        "metric_versions": versions,
    }
    clean_a, clean_b = sa[sa["suite"] == "clean"], sb[sb["suite"] == "clean"]
    shared = set(clean_a["item_id"]) & set(clean_b["item_id"])
    out["n_shared"] = len(shared)
    if not shared:
        raise InvalidInput(f"runs {a.run_id} and {b.run_id} share no items")
    # What to test, planned first, so that the progress total is known before any resample.
    plan: list[tuple[str, str, Callable[[Tick], dict[str, Any]], int]] = []
    memberships = {}
    for name in shared_slices:
        apart = defined_apart(a, b, name)
        if apart:  # the same name, another query: no paired comparison
            out["not_compared"][name] = apart
            continue
        where_a = slice_where(a, name)
        size_slice = a.task == "detection" and bool(where_a and "object_size" in where_a)
        members, memberships[name] = slice_membership(items, name, shared, either=size_slice)
        if a.task == "classification":
            fa, fb = (
                f[f["item_id"].isin(members)].assign(key=lambda d: d["item_id"])
                for f in (clean_a, clean_b)
            )
            plan.append(("slices", name, partial(_class_tests, fa, fb, n, sd, conf), len(members)))
        else:
            keys = sorted(members)
            job = partial(_det_tests, a, b, keys, "clean", None, sizes[name], n, sd, conf)
            plan.append(("slices", name, job, len(keys)))
    ca, cb = sa[sa["suite"] == "corruptions"], sb[sb["suite"] == "corruptions"]
    for cname in [c for c in dict.fromkeys(ca["corruption"]) if c in set(cb["corruption"])]:
        fa = ca[ca["corruption"] == cname]
        fb = cb[cb["corruption"] == cname]
        fa = fa.assign(key=fa["item_id"] + "|" + fa["severity"].astype(str))
        fb = fb.assign(key=fb["item_id"] + "|" + fb["severity"].astype(str))
        if a.task == "classification":
            job = partial(_class_tests, fa, fb, n, sd, conf)
            plan.append(("corruptions", cname, job, len(_shared_keys(fa, fb))))
        else:
            keys = sorted(set(fa["key"]) & set(fb["key"]))
            job = partial(_det_tests, a, b, keys, "corruptions", cname, None, n, sd, conf)
            plan.append(("corruptions", cname, job, len(keys)))
    steps = Steps(progress)
    steps.plan(0, 0, sum(BOOTSTRAPPED[a.task] * n for *_, units in plan if units))
    for kind, name, tests, _units in plan:
        out[kind][name] = tests(steps.add)
        if kind == "slices":
            out[kind][name]["membership"] = memberships[name]
    return dict(clean_json(out))  # an undefined metric (NaN) is None: strict JSON
