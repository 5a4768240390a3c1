"""Adaptive overlap vs a fixed overlap of 3, at the same final accuracy.

Simulation (damage-assessment labels, 4 classes): each task first gets one label from a
random worker; a seed of 3% of the tasks gets two more so worker skills can be learned.
Then, round by round, one-coin Dawid–Skene (one accuracy per worker: few parameters, so
stable on little data) is refitted on all labels so far, and
`AdaptiveOverlap(target, max_labels=5)` asks one more label (from a random worker who has
not labelled the task) for every task whose posterior is below the target. Final labels:
Dawid–Skene on all labels. The baseline gives every task 3 labels; its accuracy is the
better of Dawid–Skene and one-coin Dawid–Skene on those labels (majority vote shown for
reference).

For each target in a sweep we record labels used and accuracy; "adaptive labels at equal
accuracy" is the adaptive label count interpolated at the baseline accuracy. The same sweep
with the simulated workers' true confusion matrices in place of the fitted model gives the
upper bound of the policy when skills are known exactly. Repeated over
seeds (a new crowd each); medians reported. All labels count, the seed's included.

Run:  PYTHONPATH=src .venv/bin/python bench/quality_overlap.py [--seeds 3] [--tasks 6000]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from assay.quality import (
    AdaptiveOverlap,
    Crowd,
    OneCoinDawidSkene,
    aggregate_frame,
    make_crowd,
    simulate_labels,
)

TARGETS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
SCENARIOS = {
    "mixed crowd (80% accuracy 0.75-0.95, 20% spammers 0.3-0.6)": {
        "accuracy": (0.75, 0.95),
        "spammers": 0.2,
    },
    "uniform crowd (accuracy 0.55-0.95)": {"accuracy": (0.55, 0.95), "spammers": 0.0},
}


def accuracy(labels: pd.Series, crowd: Crowd) -> float:
    gold = crowd.gold()
    return float((labels.reindex(gold.index) == gold).mean())


class KnownConfusions:
    """The simulated workers' true confusion matrices, as a posterior model (upper bound)."""

    def __init__(self, crowd: Crowd) -> None:
        self.crowd = crowd
        counts = np.bincount(crowd.truth, minlength=len(crowd.classes))
        self.log_prior = np.log(counts / len(crowd.truth))

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        tasks, t = np.unique(data["task"].to_numpy(), return_inverse=True)
        w = data["worker"].str[1:].astype(int).to_numpy()
        y = pd.Index(self.crowd.classes).get_indexer(data["label"])
        loglik = np.tile(self.log_prior, (len(tasks), 1))
        for c in range(len(self.crowd.classes)):
            log_e = np.log(self.crowd.confusion[w, c, y])
            loglik[:, c] += np.bincount(t, weights=log_e, minlength=len(tasks))
        post = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        index = pd.Index(tasks, name="task")
        return pd.DataFrame(post, index=index, columns=list(self.crowd.classes))


def adaptive_run(
    crowd: Crowd, target: float, seed: int, seed_share: float = 0.03, known: bool = False
) -> tuple[int, float]:
    rng = np.random.default_rng(seed)
    n, n_workers = len(crowd.truth), crowd.n_workers
    names = np.asarray([f"img{i:06d}" for i in range(n)], dtype=object)
    classes = np.asarray(crowd.classes, dtype=object)
    used = np.zeros((n, n_workers), dtype=bool)
    batches: list[pd.DataFrame] = []
    policy = AdaptiveOverlap(target=target, max_labels=5)

    def ask(tasks: np.ndarray) -> None:
        draw = rng.random((len(tasks), n_workers))
        draw[used[tasks]] = 2.0  # never the same worker twice on a task
        workers = draw.argmin(axis=1)
        used[tasks, workers] = True
        answers = crowd.answer(tasks, workers, int(rng.integers(2**31)))
        batches.append(
            pd.DataFrame(
                {
                    "task": names[tasks],
                    "worker": [f"w{w:04d}" for w in workers],
                    "label": classes[answers],
                }
            )
        )

    seed_tasks = rng.choice(n, int(seed_share * n), replace=False)
    ask(np.arange(n))
    ask(seed_tasks)
    ask(seed_tasks)
    while True:
        labels = pd.concat(batches, ignore_index=True)
        if known:
            decision = policy.decide(labels, model=KnownConfusions(crowd))  # type: ignore[arg-type]
        else:
            model = OneCoinDawidSkene().fit(labels)
            decision = policy.decide(labels, model=model)
        todo = np.flatnonzero(decision["ask_more"].reindex(names).to_numpy())
        if len(todo) == 0:
            break
        ask(todo)
    final = aggregate_frame(labels, "ds").labels
    return len(labels), accuracy(final, crowd)


def at_accuracy(points: list[tuple[int, float]], goal: float) -> float:
    """Labels needed to reach `goal` accuracy, interpolated along the sweep."""
    points = sorted(points, key=lambda p: p[1])
    for (n0, a0), (n1, a1) in itertools.pairwise(points):
        if a0 <= goal <= a1:
            return n0 + (n1 - n0) * ((goal - a0) / (a1 - a0) if a1 > a0 else 0.0)
    return float("nan") if goal > points[-1][1] else float(points[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=60)
    args = parser.parse_args()
    print(
        f"Adaptive overlap vs fixed overlap 3: {args.tasks} tasks, {args.workers} workers, "
        f"4 classes, max 5 labels, medians over {args.seeds} seeds\n"
    )
    for name, params in SCENARIOS.items():
        rows: dict[str, list[float]] = {}
        for seed in range(args.seeds):
            crowd = make_crowd(args.tasks, args.workers, seed=100 + seed, **params)  # type: ignore[arg-type]
            fixed = simulate_labels(crowd, overlap=3, seed=200 + seed)
            acc_ds = accuracy(aggregate_frame(fixed, "ds").labels, crowd)
            acc_one = accuracy(aggregate_frame(fixed, "onecoin").labels, crowd)
            acc_mv = accuracy(aggregate_frame(fixed, "mv").labels, crowd)
            baseline = max(acc_ds, acc_one)
            sweep = [adaptive_run(crowd, t, seed=300 + seed) for t in TARGETS]
            need = at_accuracy(sweep, baseline)
            oracle = [adaptive_run(crowd, t, seed=300 + seed, known=True) for t in TARGETS]
            need_oracle = at_accuracy(oracle, baseline)
            rows.setdefault("fixed-3 labels", []).append(len(fixed))
            rows.setdefault("fixed-3 accuracy (DS)", []).append(acc_ds)
            rows.setdefault("fixed-3 accuracy (one-coin DS)", []).append(acc_one)
            rows.setdefault("fixed-3 accuracy (MV)", []).append(acc_mv)
            rows.setdefault("adaptive labels at the fixed-3 accuracy", []).append(need)
            rows.setdefault("saving vs fixed-3", []).append(1 - need / len(fixed))
            rows.setdefault("upper bound (known confusions): labels", []).append(need_oracle)
            rows.setdefault("upper bound (known confusions): saving", []).append(
                1 - need_oracle / len(fixed)
            )
            for target, (used, acc) in zip(TARGETS, sweep, strict=True):
                rows.setdefault(f"target {target}: labels", []).append(used)
                rows.setdefault(f"target {target}: accuracy", []).append(acc)
        print(f"### {name}\n")
        print("| quantity | median | min | max |")
        print("|---|---:|---:|---:|")
        for key, values in rows.items():
            fmt = "{:,.0f}" if "labels" in key else "{:.1%}"
            med, lo, hi = statistics.median(values), min(values), max(values)
            print(f"| {key} | {fmt.format(med)} | {fmt.format(lo)} | {fmt.format(hi)} |")
        print()


if __name__ == "__main__":
    main()
