"""Benchmark: COCO segmentation (mask) evaluation — assay vs pycocotools vs faster-coco-eval.

What is timed, identically for every tool: from already-loaded JSON values (a ground-truth
dict and a list of result dicts, deep-copied before the clock starts because pycocotools
mutates them) to the 12 summary stats with iouType 'segm' — building the tool's index, loading
the results, converting polygons and RLE to masks, evaluate, accumulate and summarize. Reading
the JSON files is not timed. Tools run interleaved within each repetition; the table shows
medians and each tool's time over assay's. The stats of every tool are checked against
pycocotools.

    PYTHONPATH=src .venv/bin/python bench/eval_segm.py --runs 5
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from assay.evaluation.detection import DetectionParams, evaluate_detection
from eval_detection import Runner, bench, run_faster_coco_eval, run_pycocotools

Fixture = tuple[dict[str, Any], list[dict[str, Any]]]


def _star(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[float]:
    n = int(rng.integers(6, 16))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.0, n)
    return [
        round(float(v), 2)
        for v in np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).ravel()
    ]


def make_fixture(
    n_images: int, gt_per_image: float, dt_per_image: float, n_cats: int, seed: int = 0
) -> Fixture:
    """Synthetic instance masks: GT polygons (10 % in two parts, 2 % crowd regions as
    uncompressed RLE), detections as compressed RLE from jittered GT shapes plus random
    false positives, scores rounded so ties are common."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    images = [
        {"id": i + 1, "height": h, "width": w, "file_name": f"flood_{i:05d}.jpg"}
        for i in range(n_images)
    ]
    cats = [{"id": c + 1, "name": f"class_{c}"} for c in range(n_cats)]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def rle(polys: list[list[float]]) -> dict[str, Any]:
        r = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        return {"size": [h, w], "counts": r["counts"].decode("ascii")}

    for img in images:
        objs = []
        for _ in range(int(rng.poisson(gt_per_image))):
            r = float(np.exp(rng.uniform(np.log(4), np.log(120))))
            cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            polys = [_star(rng, cx, cy, r)]
            if rng.random() < 0.1:
                polys.append(_star(rng, cx + 2.2 * r, cy, r / 2))
            cat = int(rng.integers(1, n_cats + 1))
            crowd = rng.random() < 0.02
            m = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            if crowd:
                flat = mask_utils.decode(m).ravel(order="F")
                bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
                counts = np.diff(bounds).tolist()
                seg: Any = {"size": [h, w], "counts": counts if flat[0] == 0 else [0, *counts]}
            else:
                seg = polys
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["id"],
                    "category_id": cat,
                    "segmentation": seg,
                    "area": float(mask_utils.area(m)),
                    "bbox": [float(v) for v in mask_utils.toBbox(m)],
                    "iscrowd": int(crowd),
                }
            )
            objs.append((cat, polys, r))
        for _ in range(int(rng.poisson(dt_per_image))):
            if objs and rng.random() < 0.6:
                cat, polys, r = objs[int(rng.integers(0, len(objs)))]
                shift = rng.normal(0, 0.08 * r, 2)
                polys = [
                    [v + float(shift[k % 2] + rng.normal(0, 0.04 * r)) for k, v in enumerate(p)]
                    for p in polys
                ]
                if rng.random() < 0.15:
                    cat = int(rng.integers(1, n_cats + 1))
            else:
                cat = int(rng.integers(1, n_cats + 1))
                r = float(np.exp(rng.uniform(np.log(4), np.log(120))))
                polys = [_star(rng, float(rng.uniform(0, w)), float(rng.uniform(0, h)), r)]
            score = round(float(rng.random()), 3)
            dets.append(
                {
                    "image_id": img["id"],
                    "category_id": cat,
                    "segmentation": rle(polys),
                    "score": score,
                }
            )
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_assay(gt: dict[str, Any], dt: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(evaluate_detection(gt, dt, DetectionParams(iou_type="segm")).stats)


TOOLS: dict[str, Runner] = {
    "assay": run_assay,
    "faster-coco-eval": partial(run_faster_coco_eval, iou_type="segm"),
    "pycocotools": partial(run_pycocotools, iou_type="segm"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", choices=["dense", "medium", "coco"], default=None)
    args = ap.parse_args()
    fixtures = {
        # the box benchmark's dense shape, with masks
        "dense: 50 img, ~300 GT + ~400 det masks each, 10 cats": ("dense", (50, 300, 400, 10)),
        "medium: 100 img, ~60 GT + ~100 det masks each, 10 cats": ("medium", (100, 60, 100, 10)),
        "COCO-val-like: 1,000 img, ~7 GT + ~30 det masks each, 80 cats": (
            "coco",
            (1000, 7, 30, 80),
        ),
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
        lines += bench(label, fx, args.runs, args.runs, TOOLS)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
