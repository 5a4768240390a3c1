"""Benchmark: COCO bbox evaluation — assay vs pycocotools vs faster-coco-eval.

What is timed, identically for every tool: from already-loaded JSON values (a
ground-truth dict and a list of detection dicts, deep-copied before the clock
starts because pycocotools mutates them) to the 12 summary stats — building the
tool's index, loading results, evaluate, accumulate and summarize. Reading the
JSON files is not timed. Tools run interleaved within each repetition; the
table shows medians. The stats of every tool are checked against pycocotools.

    PYTHONPATH=src .venv/bin/python bench/eval_detection.py --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assay.evaluation.detection import evaluate_detection

Fixture = tuple[dict[str, Any], list[dict[str, Any]]]


def make_fixture(
    n_images: int, gt_per_image: float, dt_per_image: float, n_cats: int, seed: int = 0
) -> Fixture:
    """Synthetic COCO data: jittered copies of GT boxes plus random false positives."""
    rng = np.random.default_rng(seed)
    images = [
        {"id": i + 1, "width": 640, "height": 480, "file_name": f"flood_{i:05d}.jpg"}
        for i in range(n_images)
    ]
    cats = [{"id": c + 1, "name": f"class_{c}"} for c in range(n_cats)]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for img in images:
        ng = int(rng.poisson(gt_per_image))
        w = np.exp(rng.uniform(np.log(4), np.log(300), ng))
        h = w * np.exp(rng.normal(0, 0.4, ng))
        x, y = rng.uniform(0, 640, ng), rng.uniform(0, 480, ng)
        c = rng.integers(1, n_cats + 1, ng)
        crowd = rng.random(ng) < 0.01
        for k in range(ng):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["id"],
                    "category_id": int(c[k]),
                    "bbox": [float(x[k]), float(y[k]), float(w[k]), float(h[k])],
                    "area": float(w[k] * h[k] * rng.uniform(0.5, 1.0)),
                    "iscrowd": int(crowd[k]),
                }
            )
        nd = int(rng.poisson(dt_per_image))
        near = min(ng * 3, nd // 2) if ng else 0
        src = rng.integers(0, max(ng, 1), near)
        box = np.empty((nd, 4))
        dc = rng.integers(1, n_cats + 1, nd)
        jit = rng.normal(0, 0.08, (near, 4))
        box[:near, 0] = x[src] + jit[:, 0] * w[src]
        box[:near, 1] = y[src] + jit[:, 1] * h[src]
        box[:near, 2] = w[src] * np.exp(jit[:, 2])
        box[:near, 3] = h[src] * np.exp(jit[:, 3])
        dc[:near] = np.where(rng.random(near) < 0.85, c[src], dc[:near])
        r = nd - near
        rw = np.exp(rng.uniform(np.log(4), np.log(300), r))
        box[near:, 0], box[near:, 1] = rng.uniform(0, 640, r), rng.uniform(0, 480, r)
        box[near:, 2], box[near:, 3] = rw, rw * np.exp(rng.normal(0, 0.4, r))
        score = np.round(rng.random(nd), 3)  # rounding makes tied scores common
        for k in range(nd):
            dets.append(
                {
                    "image_id": img["id"],
                    "category_id": int(dc[k]),
                    "bbox": [float(v) for v in box[k]],
                    "score": float(score[k]),
                }
            )
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_assay(gt: dict[str, Any], dt: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(evaluate_detection(gt, dt).stats)


def run_pycocotools(
    gt: dict[str, Any], dt: list[dict[str, Any]], iou_type: str = "bbox"
) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dt), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def run_faster_coco_eval(
    gt: dict[str, Any], dt: list[dict[str, Any]], iou_type: str = "bbox"
) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(gt)
        ev = COCOeval_faster(coco, coco.loadRes(dt), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


Runner = Callable[[dict[str, Any], list[dict[str, Any]]], np.ndarray]
TOOLS: dict[str, Runner] = {
    "assay": run_assay,
    "faster-coco-eval": run_faster_coco_eval,
    "pycocotools": run_pycocotools,
}


def bench(
    name: str, fx: Fixture, runs: int, slow_runs: int, tools: dict[str, Runner] | None = None
) -> list[str]:
    """Run every tool `runs` times (pycocotools `slow_runs` times), interleaved; table rows."""
    gt, dt = fx
    tools = tools or TOOLS
    times: dict[str, list[float]] = {t: [] for t in tools}
    stats: dict[str, np.ndarray] = {}
    for rep in range(runs):
        for tool, fn in tools.items():
            if tool == "pycocotools" and rep >= slow_runs:
                continue
            g, d = copy.deepcopy(gt), copy.deepcopy(dt)
            t0 = time.perf_counter()
            stats[tool] = fn(g, d)
            times[tool].append(time.perf_counter() - t0)
            print(f"  {name} {tool} run {rep + 1}: {times[tool][-1]:.3f}s", file=sys.stderr)
    ours = statistics.median(times["assay"])
    rows = []
    for tool, ts in times.items():
        med = statistics.median(ts)
        diff = float(np.abs(stats[tool] - stats["pycocotools"]).max())
        rows.append(f"| {name} | {tool} | {len(ts)} | {med:.3f} | {med / ours:.2f}x | {diff:.1e} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pycocotools-runs", type=int, default=3, help="it is slow on 5,000 images")
    ap.add_argument("--only", choices=["dense", "coco"], default=None)
    args = ap.parse_args()
    fixtures = {
        "dense: 50 img, ~300 GT + ~400 det each, 10 cats": ("dense", (50, 300, 400, 10)),
        "COCO-val-like: 5,000 img, ~7 GT + ~100 det each, 80 cats": ("coco", (5000, 7, 100, 80)),
    }
    lines = [
        "| fixture | tool | runs | median s | time / assay | max abs stat diff vs pycocotools |",
        "|---|---|---|---|---|---|",
    ]
    for label, (key, shape) in fixtures.items():
        if args.only and args.only != key:
            continue
        fx = make_fixture(*shape)
        print(f"{label}: {len(fx[0]['annotations'])} GT, {len(fx[1])} detections", file=sys.stderr)
        lines += bench(label, fx, args.runs, min(args.pycocotools_runs, args.runs))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
