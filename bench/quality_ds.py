"""Dawid–Skene on 1,000,000 labels: assay vs crowd-kit, side by side in the same run.

Synthetic crowd: 200,000 tasks, 1,000 workers, 4 classes, 5 labels per task, each worker with
their own confusion matrix (accuracy between 0.45 and 0.9, errors skewed toward one class).
Both tools run 20 EM iterations (tol = -inf so neither stops early). Each (tool, repeat)
runs in a fresh subprocess; the child reports wall time of ``fit``, accuracy against the
simulated truth and peak resident memory (``resource.getrusage``, whole process).

Run:  PYTHONPATH=src .venv/bin/python bench/quality_ds.py [--repeats 5] [--ids int|str]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

N_TASKS, N_WORKERS, N_CLASSES, OVERLAP, N_ITER = 200_000, 1_000, 4, 5, 20


def make_data(ids: str, seed: int = 0) -> tuple[object, object]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    truth = rng.choice(N_CLASSES, size=N_TASKS, p=[0.4, 0.3, 0.2, 0.1])
    acc = rng.uniform(0.45, 0.9, N_WORKERS)
    # confusion[w, c, :] = distribution of the answer given true class c
    skew = rng.dirichlet(np.ones(N_CLASSES) * 0.7, size=(N_WORKERS, N_CLASSES))
    eye = np.eye(N_CLASSES)[None, :, :]
    off = skew * (1 - eye)
    off /= off.sum(axis=2, keepdims=True)
    conf = acc[:, None, None] * eye + (1 - acc[:, None, None]) * off
    task = np.repeat(np.arange(N_TASKS), OVERLAP)
    worker = np.concatenate([rng.choice(N_WORKERS, OVERLAP, replace=False) for _ in range(N_TASKS)])
    cum = conf[worker, truth[task]].cumsum(axis=1)
    label = (rng.random(len(task))[:, None] > cum).sum(axis=1)
    perm = rng.permutation(len(task))
    df = pd.DataFrame({"task": task[perm], "worker": worker[perm], "label": label[perm]})
    gt = pd.Series(truth, index=pd.RangeIndex(N_TASKS, name="task"))
    if ids == "str":
        df["task"] = "t" + df["task"].astype(str)
        df["worker"] = "w" + df["worker"].astype(str)
        df["label"] = df["label"].map({0: "none", 1: "minor", 2: "major", 3: "destroyed"})
        gt.index = "t" + gt.index.astype(str)
        gt = gt.map({0: "none", 1: "minor", 2: "major", 3: "destroyed"})
    return df, gt


def child(tool: str, ids: str) -> None:
    import resource
    import time

    df, gt = make_data(ids)
    if tool == "assay":
        from assay.quality import DawidSkene

        model = DawidSkene(n_iter=N_ITER, tol=float("-inf"))
    else:
        from crowdkit.aggregation import DawidSkene as CKDawidSkene

        model = CKDawidSkene(n_iter=N_ITER, tol=float("-inf"))
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    labels = model.fit_predict(df)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rss_before, rss_after = before.ru_maxrss, after.ru_maxrss
    accuracy = float((labels.reindex(gt.index) == gt).mean())  # type: ignore[attr-defined]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "accuracy": accuracy,
                "peak_mb": rss_after / 1024,
                "data_peak_mb": rss_before / 1024,
                "iterations": len(model.loss_history_),
            }
        )
    )


def run(tool: str, ids: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", tool, "--ids", ids],
        check=True,
        capture_output=True,
        text=True,
        env=None,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ids", choices=["int", "str"], default="int")
    parser.add_argument("--child", choices=["assay", "crowdkit"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.ids)
        return
    results: dict[str, list[dict[str, float]]] = {"assay": [], "crowdkit": []}
    for _ in range(args.repeats):
        for tool in results:
            results[tool].append(run(tool, args.ids))

    def med(tool: str, key: str) -> float:
        return statistics.median(r[key] for r in results[tool])

    ratio = med("crowdkit", "seconds") / med("assay", "seconds")
    print(
        f"Dawid–Skene, {N_TASKS * OVERLAP:,} labels ({N_TASKS:,} tasks, {N_WORKERS:,} workers, "
        f"{N_CLASSES} classes, {N_ITER} iterations, {args.ids} ids), median of {args.repeats}\n"
    )
    print(
        "| tool | fit seconds (median) | min–max | CPU seconds (median) | accuracy "
        "| peak RSS MB | iterations |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tool, name in (("assay", "assay DawidSkene"), ("crowdkit", "crowd-kit 1.4 DawidSkene")):
        secs = [r["seconds"] for r in results[tool]]
        print(
            f"| {name} | {med(tool, 'seconds'):.3f} | {min(secs):.3f}–{max(secs):.3f} | "
            f"{med(tool, 'cpu_seconds'):.3f} | "
            f"{100 * med(tool, 'accuracy'):.3f}% | {med(tool, 'peak_mb'):.0f} | "
            f"{med(tool, 'iterations'):.0f} |"
        )
    diff = 100 * abs(med("assay", "accuracy") - med("crowdkit", "accuracy"))
    cpu_ratio = med("crowdkit", "cpu_seconds") / med("assay", "cpu_seconds")
    best = min(r["seconds"] for r in results["crowdkit"]) / min(
        r["seconds"] for r in results["assay"]
    )
    print(
        f"\nspeed-up: {ratio:.1f}x (median wall), {best:.1f}x (fastest runs), "
        f"{cpu_ratio:.1f}x (median CPU); accuracy difference: {diff:.3f} percentage points"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
