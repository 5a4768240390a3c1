"""Benchmark: bootstrap 95% intervals — assay's vectorised resampling vs common peers.

Timed: one percentile interval from 1,000 seeded resamples of a 10,000-row
per-sample table (labels from 5 classes), for accuracy and macro-F1.
Peers: `scipy.stats.bootstrap(..., vectorized=True, method="percentile")` for
accuracy, and the usual loop calling `sklearn.metrics.f1_score` per resample for
macro-F1. Medians of --runs repetitions, tools interleaved.

    PYTHONPATH=src .venv/bin/python bench/eval_bootstrap.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score

from assay.evaluation import bootstrap_metric

N, B = 10_000, 1_000


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, N)
    pred = np.where(rng.random(N) < 0.8, y, rng.integers(0, 5, N))
    return pd.DataFrame({"y_true": y, "y_pred": pred})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    df = _frame()
    correct = (df.y_true == df.y_pred).to_numpy(dtype=float)
    rng_idx = np.random.default_rng(0).integers(0, N, size=(B, N))
    yt, yp = df.y_true.to_numpy(), df.y_pred.to_numpy()

    def sklearn_loop() -> tuple[float, float]:
        vals = [f1_score(yt[i], yp[i], average="macro") for i in rng_idx]
        lo, hi = np.quantile(vals, [0.025, 0.975])
        return float(lo), float(hi)

    def scipy_acc() -> tuple[float, float]:
        res = stats.bootstrap(
            (correct,),
            np.mean,
            n_resamples=B,
            method="percentile",
            vectorized=True,
            random_state=0,
        )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    def ours(metric: str) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            est = bootstrap_metric(df, metric, n_resamples=B, seed=0)
            return est.low, est.high

        return run

    cases: dict[str, dict[str, Callable[[], tuple[float, float]]]] = {
        "accuracy": {"assay": ours("accuracy"), "scipy.stats.bootstrap": scipy_acc},
        "macro_f1": {"assay": ours("macro_f1"), "loop of sklearn f1_score": sklearn_loop},
    }
    print("| metric | tool | runs | median s | time / assay | 95% interval |")
    print("|---|---|---|---|---|---|")
    for metric, tools in cases.items():
        times: dict[str, list[float]] = {t: [] for t in tools}
        ci: dict[str, tuple[float, float]] = {}
        for _ in range(args.runs):
            for name, fn in tools.items():
                t0 = time.perf_counter()
                ci[name] = fn()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["assay"])
        for name, ts in times.items():
            med = statistics.median(ts)
            lo, hi = ci[name]
            print(
                f"| {metric} | {name} | {len(ts)} | {med:.3f} | {med / base:.1f}x "
                f"| [{lo:.4f}, {hi:.4f}] |"
            )


if __name__ == "__main__":
    main()
