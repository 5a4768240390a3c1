"""Per-slice scores with bootstrap intervals, and paired tests of two runs on the same samples.

A sample is one (item, epoch). Binary scorers (0/1: exact, match, regex, choice, numeric,
judge) are compared with McNemar's exact test, continuous ones (token F1, span F1,
embedding similarity) with a paired bootstrap of the mean. Differences are B - A.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from assay.evaluation import bootstrap_metric
from assay.evaluation.bootstrap import Tick
from assay.evaluation.llm._task import BINARY
from assay.evaluation.runs._compare import (
    boot_entry,
    defined_apart,
    mcnemar_entry,
    slice_membership,
)
from assay.evaluation.runs._units import Steps

if TYPE_CHECKING:
    from assay.evaluation.llm._run import LlmRunSettings
    from assay.evaluation.runs import EvalRun


def summarise(
    frame: pd.DataFrame,
    items: pd.DataFrame,
    slice_names: list[str],
    scorers: list[str],
    st: LlmRunSettings,
) -> dict[str, Any]:
    slices: dict[str, Any] = {}
    for name in slice_names:
        members = set(items.loc[items[f"slice:{name}"], "item_id"])
        sub = frame[frame["item_id"].isin(members)]
        metrics = {}
        for sc in scorers:
            est = bootstrap_metric(
                sub,
                f"mean:score_{sc}",
                n_resamples=st.n_resamples,
                confidence=st.confidence,
                seed=st.seed,
            )
            metrics[sc] = {"value": est.value, "low": est.low, "high": est.high}
        slices[name] = {"n": len(sub), "items": len(members), "metrics": metrics}
    return {
        "task": "llm",
        "n_evaluated": len(items),
        "primary": scorers[0],
        "scorers": {sc: ("binary" if sc in BINARY else "continuous") for sc in scorers},
        "headline": {sc: slices["all"]["metrics"][sc]["value"] for sc in scorers},
        "slices": slices,
    }


def _test(
    a: pd.DataFrame,
    b: pd.DataFrame,
    sc: str,
    kind: str,
    n: int,
    seed: int,
    conf: float,
    tick: Tick,
) -> dict[str, Any]:
    col = f"score_{sc}"
    va, vb = a[col].to_numpy(float), b[col].to_numpy(float)
    if kind == "binary":
        return mcnemar_entry(va.astype(bool), vb.astype(bool))
    return {
        "a": float(va.mean()),
        "b": float(vb.mean()),
        **boot_entry(a, b, f"mean:{col}", n, seed, conf, tick),
    }


def compare_llm(
    a: EvalRun,
    b: EvalRun,
    n_resamples: int | None,
    seed: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Paired tests of B against A per slice and scorer; a slice holds the items in it in both
    runs (see `assay.evaluation.runs._compare.slice_membership`). A slice both runs name but
    define apart (`defined_apart`: another `slice_by` field) is listed under ``not_compared``.
    `progress(done, total)` hears of the paired-bootstrap resamples of the continuous scorers."""
    from assay.errors import InvalidInput

    st = a.record["settings"]
    n = n_resamples or int(st["n_resamples"])
    sd = int(st["seed"]) if seed is None else seed
    conf = float(st["confidence"])
    sa, sb = a.samples(), b.samples()
    shared = sorted(set(sa["key"]) & set(sb["key"]))
    if not shared:
        raise InvalidInput(f"runs {a.run_id} and {b.run_id} share no samples (item and epoch)")
    kinds_a, kinds_b = a.summary["scorers"], b.summary["scorers"]
    scorers = [s for s in kinds_a if s in kinds_b]
    if not scorers:
        raise InvalidInput(f"runs {a.run_id} and {b.run_id} share no scorer")
    items = (a.items(), b.items())
    sa = sa.set_index("key").loc[shared].reset_index()
    sb = sb.set_index("key").loc[shared].reset_index()
    b_slices = set(b.summary["slices"])
    out: dict[str, Any] = {
        "run_a": a.run_id,
        "run_b": b.run_id,
        "task": "llm",
        "difference": "B - A",
        "n_shared": len(shared),
        "slices": {},
        "not_compared": {},
        "corruptions": {},
    }
    plan = []
    for name in a.summary["slices"]:
        if name not in b_slices:
            continue
        apart = defined_apart(a, b, name)
        if apart:  # one name, two slice_by definitions: no paired comparison
            out["not_compared"][name] = apart
            continue
        members, membership = slice_membership(items, name, set(sa["item_id"]))
        mask = sa["item_id"].isin(members).to_numpy()
        plan.append((name, sa[mask], sb[mask], membership))
    steps = Steps(progress)
    booted = sum(kinds_a[sc] != "binary" for sc in scorers)  # McNemar resamples nothing
    steps.plan(0, 0, booted * n * sum(len(fa) > 0 for _name, fa, _fb, _m in plan))
    for name, fa, fb, membership in plan:
        if len(fa) == 0:
            out["slices"][name] = {"n": 0, "tests": {}, "membership": membership}
            continue
        tests = {sc: _test(fa, fb, sc, kinds_a[sc], n, sd, conf, steps.add) for sc in scorers}
        out["slices"][name] = {"n": len(fa), "tests": tests, "membership": membership}
    return out
