"""Which detection/box pairs can match, and their IoU as pycocotools computes it.

A pair can only match if its IoU reaches the lowest threshold c. For a regular
(non-crowd) box that bounds the horizontal offset: IoU >= c needs the x-overlap
to be at least c * max(dw, gw) (the intersection is at most the overlap times
the smaller height, the union at least the larger area), so the box's left edge
gx lies in [dx - dw (1 - c) / c, dx + dw (1 - c)]. Boxes are found in that window
with one sorted search over (group, rank of gx) keys, exact integers. Crowd
boxes (IoU = intersection / detection area) get every pair of their group.
When c is 0 every pair within a group is a candidate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_SLACK = 1e-9  # relative widening of the window: covers rounding in the IoU


def box_iou(
    dt: NDArray[np.float64], gt: NDArray[np.float64], crowd: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Row-wise IoU of paired `[x, y, w, h]` boxes, in the operation order of pycocotools' C code.

    For a crowd box the union is the detection's own area.
    """
    idx = np.arange(dt.shape[0])
    return pair_iou(corners(dt), corners(gt), crowd, idx, idx)


def corners(box: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows x, y, w + x, h + y, w * h (the C code adds width to x, not x to width)."""
    x, y, w, h = (np.ascontiguousarray(box[:, i]) for i in range(4))
    return np.stack([x, y, w + x, h + y, w * h])


def pair_iou(
    d: NDArray[np.float64],
    g: NDArray[np.float64],
    crowd: NDArray[np.bool_],
    pd: NDArray[np.int64],
    pg: NDArray[np.int64],
) -> NDArray[np.float64]:
    """IoU of pairs (pd[i], pg[i]) given `corners` of both sides; cheap tests first."""
    out = np.zeros(pd.size)
    w = np.minimum(d[2][pd], g[2][pg]) - np.maximum(d[0][pd], g[0][pg])
    keep = np.flatnonzero(w > 0)
    pd, pg, w = pd[keep], pg[keep], w[keep]
    h = np.minimum(d[3][pd], g[3][pg]) - np.maximum(d[1][pd], g[1][pg])
    hit = h > 0
    keep, pd, pg, w, h = keep[hit], pd[hit], pg[hit], w[hit], h[hit]
    inter = w * h
    da = d[4][pd]
    union = np.where(crowd[pg], da, da + g[4][pg] - inter)
    out[keep] = inter / union
    return out


def _expand(
    lo: NDArray[np.int64], counts: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs (i, lo[i] + j) for j < counts[i], detection-major."""
    counts = np.maximum(counts, 0)
    total = int(counts.sum())
    pair_d = np.repeat(np.arange(counts.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return pair_d, np.repeat(lo, counts) + np.arange(total) - first


def all_pairs(
    dkey: NDArray[np.int64], gkey: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every (detection, box) pair sharing a group key; `gkey` sorted."""
    ukey, gstart, gcount = np.unique(gkey, return_index=True, return_counts=True)
    if ukey.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ukey, dkey), ukey.size - 1)
    has = ukey[pos] == dkey
    return _expand(np.where(has, gstart[pos], 0), np.where(has, gcount[pos], 0))


def near_pairs(
    dkey: NDArray[np.int64],
    dx: NDArray[np.float64],
    dw: NDArray[np.float64],
    gkey: NDArray[np.int64],
    gx: NDArray[np.float64],
    c: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs whose box's left edge lies in the window where IoU >= c is possible (c > 0)."""
    if gkey.size == 0 or dkey.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    slack = _SLACK * (np.abs(dx) + np.abs(dw) + 1.0)
    lb = dx - np.abs(dw) * ((1 - c) / c) - slack
    ub = dx + np.abs(dw) * (1 - c) + slack
    n_d, n_g = dkey.size, gkey.size
    values = np.concatenate([lb, gx, ub])
    tie = np.concatenate([np.zeros(n_d), np.ones(n_g), np.full(n_d, 2.0)])
    rank = np.empty(values.size, dtype=np.int64)
    rank[np.lexsort((tie, values))] = np.arange(values.size)
    ukey, ggroup = np.unique(gkey, return_inverse=True)
    span = values.size
    gcomp = ggroup * span + rank[n_d : n_d + n_g]
    gsort = np.argsort(gcomp, kind="stable")
    gcomp = gcomp[gsort]
    pos = np.minimum(np.searchsorted(ukey, dkey), ukey.size - 1)
    has = ukey[pos] == dkey
    lo = np.searchsorted(gcomp, pos * span + rank[:n_d])
    hi = np.searchsorted(gcomp, pos * span + rank[n_d + n_g :])
    pair_d, at = _expand(lo, np.where(has, hi - lo, 0))
    return pair_d, gsort[at]


def candidate_pairs(
    dkey: NDArray[np.int64],
    dbox: NDArray[np.float64],
    gkey: NDArray[np.int64],
    gbox: NDArray[np.float64],
    gcrowd: NDArray[np.bool_],
    c: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A superset of the pairs with IoU >= c (all pairs of a group when c <= 0); `gkey` sorted."""
    if not c > 0:
        return all_pairs(dkey, gkey)
    crowd, regular = np.flatnonzero(gcrowd), np.flatnonzero(~gcrowd)
    cd, cg = all_pairs(dkey, gkey[crowd])
    rd, rg = near_pairs(dkey, dbox[:, 0], dbox[:, 2], gkey[regular], gbox[regular, 0], c)
    return np.concatenate([cd, rd]), np.concatenate([crowd[cg], regular[rg]])
