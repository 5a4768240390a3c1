"""Turn matches into COCO precision/recall arrays and the 12 summary numbers.

Mirrors pycocotools' `accumulate` and `summarize` operation for operation so
the arrays are bit-identical: per category, detections of all images are
ordered by score with ties broken by image id and then by per-image rank (what
pycocotools' concatenate-then-mergesort produces), cumulative sums give recall
and precision, the precision envelope is a reverse running maximum, and the
101 recall thresholds are looked up with `searchsorted(side="left")`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from assay.evaluation._det_match import Matches

EPS = float(np.spacing(1))


@dataclass(frozen=True)
class Accumulated:
    """`precision` and `scores` are (T, R, K, A, M); `recall` is (T, K, A, M); -1 means no GT."""

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    scores: NDArray[np.float64]


def _candidate_flags(
    m: Matches, count_id_zero: bool
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """True-positive and counted (not ignored) flags of the candidate detections, (A, T, C).

    Every other detection is unmatched: a false positive, counted unless its own
    area is outside the range.
    """
    n_a = m.cand_match.shape[1]
    mg = m.cand_match.transpose(1, 2, 0)  # (A, T, C)
    matched = mg >= 0
    # Index -1 (no match) lands on an appended False sentinel.
    id_zero = np.append(m.gt_id_is_zero, False)
    gt_ign = np.concatenate([m.gt_ignore, np.zeros((n_a, 1), dtype=np.bool_)], axis=1)
    # pycocotools stores the matched GT id and tests it for truth, so a match to id 0 is lost.
    dtm = matched if count_id_zero else matched & ~id_zero[mg]
    ign = (matched & gt_ign[np.arange(n_a)[:, None, None], mg]) | (
        ~dtm & m.det_out_of_range[:, m.cand_det][:, None, :]
    )
    return dtm & ~ign, ~ign


def _prefix(flags: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Counts of True before each index along the last axis, with a leading zero."""
    out = np.zeros((*flags.shape[:-1], flags.shape[-1] + 1), dtype=np.int64)
    np.cumsum(flags, axis=-1, out=out[..., 1:])
    return out


def _first_count(npig: NDArray[np.int64], rec_thresholds: NDArray[np.float64]) -> NDArray[np.int64]:
    """Smallest true-positive count j with j / npig >= each recall threshold, (K, A, R).

    pycocotools searches the thresholds in rc = tp / npig; as division by a
    positive constant is monotone, the first index reaching a threshold is the
    first index whose count reaches this j. The estimate ceil(thr * npig) is
    corrected against the exact float quotient, as rc holds it.
    """
    n = npig[..., None].astype(float)
    thr = rec_thresholds[None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.ceil(thr * n).astype(np.int64)
        for _ in range(2):
            j = np.where((j >= 1) & ((j - 1) / n >= thr), j - 1, j)
            j = np.where(j / n < thr, j + 1, j)
    out: NDArray[np.int64] = j
    return out


def _segment_suffix_max(
    values: NDArray[np.float64], seg: NDArray[np.int64], n_seg: int
) -> NDArray[np.float64]:
    """Maximum of values[i:] within each run of equal (sorted) segment ids, exactly.

    Values are replaced by their rank, and segments get integer offsets that
    grow in the reverse direction, so one running maximum serves all segments.
    """
    if values.size == 0:
        return values
    uniq, rank = np.unique(values, return_inverse=True)
    offset = (n_seg - 1 - seg) * (uniq.size + 1)
    run = np.maximum.accumulate((offset + rank)[::-1])[::-1]
    out: NDArray[np.float64] = uniq[run - offset]
    return out


def accumulate(
    m: Matches,
    n_cat: int,
    rec_thresholds: NDArray[np.float64],
    max_dets: tuple[int, ...],
    count_id_zero: bool = False,
) -> Accumulated:
    """Compute the COCO precision, recall and score arrays for all categories at once.

    Detections are laid out category by category in pycocotools' order; rows
    are (area, threshold). Precision only rises at a true positive, so the
    envelope at any index is the maximum over the true positives from there on,
    and the first index reaching recall j / npig is the j-th true positive: only
    true positives need precision values, computed as pycocotools does,
    tp / (fp + tp + eps) with fp + tp = detections counted so far.
    """
    n_a, n_t = m.cand_match.shape[1:]
    n_r, n_m = rec_thresholds.size, len(max_dets)
    precision = -np.ones((n_t, n_r, n_cat, n_a, n_m))
    recall = -np.ones((n_t, n_cat, n_a, n_m))
    scores = -np.ones((n_t, n_r, n_cat, n_a, n_m))
    if n_cat == 0:
        return Accumulated(precision=precision, recall=recall, scores=scores)
    npig = np.stack(
        [np.bincount(m.gt_category[~ig], minlength=n_cat) for ig in m.gt_ignore], axis=1
    )  # (K, A)
    order = np.lexsort((m.det_rank, m.det_image, -m.det_score, m.det_category))
    cat = m.det_category[order]
    bounds = np.searchsorted(cat, np.arange(n_cat + 1))
    n_d = order.size
    where = np.empty(n_d, dtype=np.int64)
    where[order] = np.arange(n_d)
    # Candidates (the only detections that can match) in detection order.
    c_order = np.argsort(where[m.cand_det], kind="stable")
    cpos = where[m.cand_det][c_order]  # (C,) sorted positions
    tp_c, counted_c = (f[:, :, c_order] for f in _candidate_flags(m, count_id_zero))
    c_start = np.searchsorted(cpos, bounds)  # first candidate of each category
    plain = np.ones(n_d, dtype=np.bool_)
    plain[cpos] = False
    base_counted = ~m.det_out_of_range[:, order] & plain  # (A, D), non-candidates
    rank_sorted, score_sorted = m.det_rank[order], m.det_score[order]
    jstar = _first_count(npig, rec_thresholds).transpose(1, 0, 2)[:, None]  # (A, 1, K, R)
    has_gt = (npig.T > 0)[:, None, :]  # (A, 1, K)
    n_seg = n_a * n_t * n_cat
    for mi, max_det in enumerate(max_dets):
        keep = rank_sorted < max_det
        base = _prefix(base_counted & keep)  # (A, D + 1)
        ckeep = keep[cpos]
        cc = _prefix(counted_c & ckeep)  # (A, T, C + 1)
        ai, ti, ci = np.nonzero(tp_c & ckeep)
        col = cpos[ci]
        k = cat[col]
        seen = (base[ai, col + 1] - base[ai, bounds[k]]) + (
            cc[ai, ti, ci + 1] - cc[ai, ti, c_start[k]]
        )
        seg = (ai * n_t + ti) * n_cat + k
        per_seg = np.bincount(seg, minlength=n_seg)
        first = np.cumsum(per_seg) - per_seg
        nth = np.arange(seg.size) - first[seg]
        env = _segment_suffix_max((nth + 1.0) / (seen.astype(float) + EPS), seg, n_seg)

        kept_cols = np.flatnonzero(keep)
        n_kept = np.bincount(cat[kept_cols], minlength=n_cat)  # (K,)
        first_kept = (
            kept_cols[np.minimum(np.searchsorted(kept_cols, bounds[:-1]), kept_cols.size - 1)]
            if kept_cols.size
            else np.zeros(n_cat, dtype=np.int64)
        )
        n_tp = per_seg.reshape(n_a, n_t, n_cat)
        j = np.broadcast_to(jstar, (n_a, n_t, n_cat, n_r))
        hit = (j <= n_tp[..., None]) & (n_kept[:, None] > 0)
        last = max(seg.size - 1, 0)
        at = np.minimum(first.reshape(n_a, n_t, n_cat)[..., None] + np.maximum(j - 1, 0), last)
        q = np.where(hit & (n_tp[..., None] > 0), env[at] if seg.size else 0.0, 0.0)
        tp_col = col[at] if seg.size else np.zeros(at.shape, dtype=np.int64)
        pick = np.where(j == 0, first_kept[:, None], tp_col)
        ss = np.where(hit, score_sorted[pick] if n_d else 0.0, 0.0)
        rec = np.where(n_kept > 0, n_tp / np.maximum(npig.T[:, None, :], 1), 0.0)
        valid = np.broadcast_to(has_gt, (n_a, n_t, n_cat))
        precision[..., mi] = np.where(valid[..., None], q, -1.0).transpose(1, 3, 2, 0)
        scores[..., mi] = np.where(valid[..., None], ss, -1.0).transpose(1, 3, 2, 0)
        recall[..., mi] = np.where(valid, rec, -1.0).transpose(1, 2, 0)
    return Accumulated(precision=precision, recall=recall, scores=scores)


def summarize_value(
    acc: Accumulated,
    iou_thresholds: NDArray[np.float64],
    area_labels: tuple[str, ...],
    max_dets: tuple[int, ...],
    *,
    ap: bool,
    iou: float | None = None,
    area: str = "all",
    max_det: int = 100,
) -> float:
    """One summary number, computed as pycocotools' `_summarize` computes it (-1 if undefined)."""
    aind = [i for i, label in enumerate(area_labels) if label == area]
    mind = [i for i, md in enumerate(max_dets) if md == max_det]
    s = acc.precision if ap else acc.recall
    if iou is not None:
        s = s[np.where(iou == iou_thresholds)[0]]
    s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


STAT_LABELS: tuple[tuple[str, bool, float | None, str, int], ...] = (
    # (label, is AP, IoU or None, area, index into max_dets; -1 = pycocotools' fixed 100)
    ("AP", True, None, "all", -1),
    ("AP50", True, 0.5, "all", 2),
    ("AP75", True, 0.75, "all", 2),
    ("AP_small", True, None, "small", 2),
    ("AP_medium", True, None, "medium", 2),
    ("AP_large", True, None, "large", 2),
    ("AR1", False, None, "all", 0),
    ("AR10", False, None, "all", 1),
    ("AR100", False, None, "all", 2),
    ("AR_small", False, None, "small", 2),
    ("AR_medium", False, None, "medium", 2),
    ("AR_large", False, None, "large", 2),
)


def summarize(
    acc: Accumulated,
    iou_thresholds: NDArray[np.float64],
    area_labels: tuple[str, ...],
    max_dets: tuple[int, ...],
    honour_max_dets: bool,
) -> tuple[float, ...]:
    """The 12 COCO stats. Without `honour_max_dets`, stat 0 uses maxDets=100 like pycocotools."""
    out = []
    for _, is_ap, iou, area, mi in STAT_LABELS:
        max_det = max_dets[2] if mi == -1 and honour_max_dets else 100 if mi == -1 else max_dets[mi]
        out.append(
            summarize_value(
                acc,
                iou_thresholds,
                area_labels,
                max_dets,
                ap=is_ap,
                iou=iou,
                area=area,
                max_det=max_det,
            )
        )
    return tuple(out)
