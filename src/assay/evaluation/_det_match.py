"""Greedy COCO matching of detections to ground truth, vectorised across images.

pycocotools matches one (image, category) group at a time: detections in
score order each take the best still-free ground-truth box with IoU >= t,
preferring regular boxes over ignored ones (crowd or outside the area range),
with the *last* box winning a tie. Here every group advances one detection
per step: step r handles the r-th candidate detection of every group at once,
for all area ranges and IoU thresholds together. Groups touch disjoint boxes,
so the steps are independent across groups and the result is identical.

Only detection/box pairs with IoU at or above the lowest threshold can ever
match (see `_det_pairs`), so the per-step work is tiny.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from assay.evaluation._coco_input import Detections, GroundTruth
from assay.evaluation._det_pairs import candidate_pairs, corners, pair_iou

I64 = NDArray[np.int64]
# (detection rows, GT rows, their group keys, GT crowd flags, lowest threshold) ->
# (pair detection positions, pair GT positions, IoU): a superset of the pairs with IoU >= the
# lowest threshold, positions into the given (sorted) rows.
PairIoU = Callable[
    [I64, I64, I64, I64, NDArray[np.bool_], float],
    tuple[I64, I64, NDArray[np.float64]],
]


def box_pairs(gt: GroundTruth, dt: Detections) -> PairIoU:
    """Pairs of boxes, pruned by where IoU >= the lowest threshold is possible."""

    def pairs(
        drow: I64, grow: I64, dkey: I64, gkey: I64, gcrowd: NDArray[np.bool_], cmin: float
    ) -> tuple[I64, I64, NDArray[np.float64]]:
        dbox, gbox = dt.bbox[drow], gt.bbox[grow]
        pair_d, pair_g = candidate_pairs(dkey, dbox, gkey, gbox, gcrowd, cmin)
        return pair_d, pair_g, pair_iou(corners(dbox), corners(gbox), gcrowd, pair_d, pair_g)

    return pairs


@dataclass(frozen=True)
class Matches:
    """Detections kept for evaluation (sorted by group, then score) and their matches."""

    det_image: NDArray[np.int64]
    det_category: NDArray[np.int64]
    det_score: NDArray[np.float64]
    det_rank: NDArray[np.int64]
    det_out_of_range: NDArray[np.bool_]  # (A, D)
    cand_det: NDArray[np.int64]  # (C,): detections with a box at IoU >= the lowest threshold
    cand_match: NDArray[np.int64]  # (C, A, T): index into the sorted ground truth or -1
    gt_category: NDArray[np.int64]
    gt_ignore: NDArray[np.bool_]  # (A, G)
    gt_id_is_zero: NDArray[np.bool_]


def _run_starts(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """For sorted keys, the index where each element's run of equal keys starts."""
    n = keys.size
    starts = np.ones(n, dtype=np.bool_)
    starts[1:] = keys[1:] != keys[:-1]
    return np.maximum.accumulate(np.where(starts, np.arange(n), 0))


def _best_slot(free: list[NDArray[np.bool_]], iou: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per (detection, area, threshold): the free slot with the highest IoU, last on ties, or -1.

    `free[j]` is (n, A, T) for slot j; `iou` is (n, K). Slots are few, so a loop
    over them beats `argmax` along a short axis.
    """
    best = np.full(free[0].shape, -1, dtype=np.int64)
    best_iou = np.full(free[0].shape, -1.0)
    for j, f in enumerate(free):
        v = iou[:, j, None, None]
        upd = f & (v >= best_iou)
        best_iou = np.where(upd, v, best_iou)
        best[upd] = j
    return best


def match(
    gt: GroundTruth,
    dt: Detections,
    iou_thresholds: NDArray[np.float64],
    area_ranges: NDArray[np.float64],
    max_det: int,
    pairs: PairIoU | None = None,
) -> Matches:
    """Sort, truncate and match detections exactly as pycocotools' `evaluate` does.

    `pairs` computes the IoU of candidate pairs (boxes by default, see `box_pairs`); the
    detection's own area (for the area ranges) is `dt.area`.
    """
    n_cat = max(int(gt.category_ids.size), 1)
    dkey_all = dt.image * n_cat + dt.category
    order = np.lexsort((-dt.score, dkey_all))
    dkey = dkey_all[order]
    rank = np.arange(order.size) - _run_starts(dkey)
    keep = rank < max_det
    order, dkey, rank = order[keep], dkey[keep], rank[keep]

    gorder = np.argsort(gt.image * n_cat + gt.category, kind="stable")
    gkey = (gt.image * n_cat + gt.category)[gorder]
    garea, gcrowd = gt.area[gorder], gt.iscrowd[gorder]
    lo, hi = area_ranges[:, :1], area_ranges[:, 1:]
    gt_ignore = gcrowd[None, :] | (garea[None, :] < lo) | (garea[None, :] > hi)
    darea = dt.area[order]
    det_out = (darea[None, :] < lo) | (darea[None, :] > hi)

    thr = np.minimum(iou_thresholds, 1 - 1e-10)
    n_a, n_t = area_ranges.shape[0], thr.size

    cmin = float(thr.min()) if thr.size else np.inf
    pair_d, pair_g, iou = (pairs or box_pairs(gt, dt))(order, gorder, dkey, gkey, gcrowd, cmin)
    cand = iou >= cmin
    pair_d, pair_g, iou = pair_d[cand], pair_g[cand], iou[cand]
    by_det = np.lexsort((pair_g, pair_d))  # detection-major, boxes in file order
    pair_d, pair_g, iou = pair_d[by_det], pair_g[by_det], iou[by_det]

    cdet = np.zeros(0, dtype=np.int64)
    out = np.zeros((0, n_a, n_t), dtype=np.int64)
    if pair_d.size:
        cdet, cstart, ccount = np.unique(pair_d, return_index=True, return_counts=True)
        width = int(ccount.max())
        row = np.repeat(np.arange(cdet.size), ccount)
        slot = np.arange(pair_d.size) - np.repeat(cstart, ccount)
        cg = np.zeros((cdet.size, width), dtype=np.int64)
        ciou = np.full((cdet.size, width), -1.0)
        cvalid = np.zeros((cdet.size, width), dtype=np.bool_)
        cg[row, slot], ciou[row, slot], cvalid[row, slot] = pair_g, iou, True
        # Step of each candidate detection = its position among its group's candidates.
        ckey = dkey[cdet]
        step = np.arange(cdet.size) - _run_starts(ckey)
        by_step = np.argsort(step, kind="stable")
        bounds = np.searchsorted(step[by_step], np.arange(int(step.max()) + 2))
        taken = np.zeros((gkey.size, n_a, n_t), dtype=np.bool_)
        regular = ~gt_ignore.T  # (G, A)
        out = np.full((cdet.size, n_a, n_t), -1, dtype=np.int64)
        for s in range(bounds.size - 1):
            rows = by_step[bounds[s] : bounds[s + 1]]
            g, io, valid = cg[rows], ciou[rows], cvalid[rows]
            reg_free, ign_free = [], []
            for j in range(width):
                gj = g[:, j]
                ok = valid[:, j, None] & (io[:, j, None] >= thr)  # (n, T)
                free = ok[:, None, :] & (~taken[gj] | gcrowd[gj, None, None])  # (n, A, T)
                reg = regular[gj][:, :, None]
                reg_free.append(free & reg)
                ign_free.append(free & ~reg)
            best_reg = _best_slot(reg_free, io)
            sel = np.where(best_reg >= 0, best_reg, _best_slot(ign_free, io))
            ni = np.arange(rows.size)[:, None, None]
            gsel = np.where(sel >= 0, g[ni, np.maximum(sel, 0)], -1)
            out[rows] = gsel
            di, ai, ti = np.nonzero(sel >= 0)
            taken[gsel[di, ai, ti], ai, ti] = True

    return Matches(
        det_image=dt.image[order],
        det_category=dt.category[order],
        det_score=dt.score[order],
        det_rank=rank,
        det_out_of_range=det_out,
        cand_det=cdet,
        cand_match=out,
        gt_category=gt.category[gorder],
        gt_ignore=gt_ignore,
        gt_id_is_zero=gt.id_is_zero[gorder],
    )
