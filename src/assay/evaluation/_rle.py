"""Run-length masks in pycocotools' layout, decoded and intersected with numpy.

A COCO RLE lists run lengths of a column-major (h, w) mask, zeros first. Here every mask is
kept as the runs of ones it holds, ``[start, end)`` in flat column-major positions, with all
masks of a collection concatenated. Compressed RLE strings (pycocotools' ``rleToString``) are
decoded for all masks at once; polygons are rasterised by pycocotools' own ``frPyObjects``, so
their pixels are exactly pycocotools' pixels.

IoU follows pycocotools' ``rleIou``: intersection and union are pixel counts (integers), the
union of a crowd pair is the detection's area, and the result is their quotient as a double, so
equal counts give the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Runs:
    """Masks as runs of ones. Mask i owns runs ``first[i]:first[i + 1]``, sorted, disjoint."""

    start: I64
    end: I64
    first: I64
    height: I64
    width: I64

    @property
    def size(self) -> int:
        return int(self.first.size - 1)

    def area(self) -> I64:
        """Pixels per mask."""
        csum = np.concatenate([[0], np.cumsum(self.end - self.start)])
        out: I64 = csum[self.first[1:]] - csum[self.first[:-1]]
        return out

    def bounds(self) -> I64:
        """(n, 4) pixel bounds x0, y0, x1, y1 (x1, y1 exclusive); empty masks get zeros."""
        n = self.size
        out = np.zeros((n, 4), dtype=np.int64)
        counts = np.diff(self.first)
        full = np.flatnonzero(counts > 0)
        if full.size == 0:
            return out
        mask_of = np.repeat(np.arange(n), counts)
        h = self.height[mask_of]
        cs, ce = self.start // h, (self.end - 1) // h
        one = cs == ce
        ys = np.where(one, self.start % h, 0)
        ye = np.where(one, (self.end - 1) % h, h - 1)
        at = self.first[full]
        out[full, 0] = cs[at]
        out[full, 2] = ce[self.first[full + 1] - 1] + 1
        out[full, 1] = np.minimum.reduceat(ys, at)
        out[full, 3] = np.maximum.reduceat(ye, at) + 1
        return out


def concat(parts: list[Runs]) -> Runs:
    """One collection holding the masks of `parts` in order."""
    offsets = np.cumsum([0] + [p.start.size for p in parts])
    return Runs(
        start=np.concatenate([p.start for p in parts]),
        end=np.concatenate([p.end for p in parts]),
        first=np.concatenate(
            [[0]] + [p.first[1:] + off for p, off in zip(parts, offsets[:-1], strict=True)]
        ).astype(np.int64),
        height=np.concatenate([p.height for p in parts]),
        width=np.concatenate([p.width for p in parts]),
    )


def from_counts(counts: I64, lengths: I64, height: I64, width: I64) -> Runs:
    """Runs from uncompressed counts (all masks concatenated, `lengths` counts per mask)."""
    n = lengths.size
    mask_of = np.repeat(np.arange(n), lengths)
    first_count = np.concatenate([[0], np.cumsum(lengths)])
    csum = np.concatenate([[0], np.cumsum(counts)])
    # End of each count's run in its own mask: subtract what earlier masks used.
    pos = csum[1:] - np.repeat(csum[first_count[:-1]], lengths)
    idx = np.arange(counts.size) - first_count[mask_of]
    ones = (idx % 2 == 1) & (counts > 0)
    end = pos[ones]
    start = end - counts[ones]
    owner = mask_of[ones]
    first = np.searchsorted(owner, np.arange(n + 1)).astype(np.int64)
    return _merge_adjacent(Runs(start, end, first, height, width))


def _merge_adjacent(r: Runs) -> Runs:
    """Join runs that touch (a zero-length gap between them) so runs stay disjoint and sorted."""
    if r.start.size < 2:
        return r
    owner = np.repeat(np.arange(r.size), np.diff(r.first))
    joins = np.zeros(r.start.size, dtype=np.bool_)
    joins[1:] = (r.start[1:] == r.end[:-1]) & (owner[1:] == owner[:-1])
    if not joins.any():
        return r
    keep = ~joins
    run_id = np.cumsum(keep) - 1
    end = np.zeros(int(keep.sum()), dtype=np.int64)
    np.maximum.at(end, run_id, r.end)
    first = np.searchsorted(owner[keep], np.arange(r.size + 1)).astype(np.int64)
    return Runs(r.start[keep], end, first, r.height, r.width)


def union(r: Runs, group: I64, n_groups: int, height: I64, width: I64) -> Runs:
    """Mask g of the result is the union of the masks of `r` with `group == g` (sorted groups)."""
    owner = group[np.repeat(np.arange(r.size), np.diff(r.first))]
    order = np.lexsort((r.start, owner))
    s, e, o = r.start[order], r.end[order], owner[order]
    if s.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return Runs(z, z, np.zeros(n_groups + 1, dtype=np.int64), height, width)
    # A run opens a new merged run unless it starts at or before the furthest end so far
    # in its group.
    seg_start = np.ones(s.size, dtype=np.bool_)
    seg_start[1:] = o[1:] != o[:-1]
    reach = _segmented_running_max(e, seg_start)
    new = seg_start.copy()
    new[1:] |= s[1:] > reach[:-1]
    run_id = np.cumsum(new) - 1
    out_end = np.zeros(int(new.sum()), dtype=np.int64)
    np.maximum.at(out_end, run_id, e)
    first = np.searchsorted(o[new], np.arange(n_groups + 1)).astype(np.int64)
    return Runs(s[new], out_end, first, height, width)


def _segmented_running_max(values: I64, seg_start: NDArray[np.bool_]) -> I64:
    """Running maximum that restarts at each `seg_start` (values are non-negative)."""
    seg = np.cumsum(seg_start) - 1
    big = int(values.max()) + 1 if values.size else 1
    shifted = values + seg * big
    out: I64 = np.maximum.accumulate(shifted) - seg * big
    return out


class RleError(ValueError):
    """A compressed RLE string that does not decode; `index` is the string's position."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def decode_strings(strings: list[bytes]) -> tuple[I64, I64]:
    """Counts of pycocotools-compressed RLE strings: (all counts, number per string).

    The inverse of ``rleToString``: 5-bit groups with a continuation bit, offset by 48, a
    sign bit in the last group, and from the fourth count on each value is a difference to
    the count two places before.
    """
    n = len(strings)
    lens = np.fromiter(map(len, strings), dtype=np.int64, count=n)
    raw = np.frombuffer(b"".join(strings), dtype=np.uint8).astype(np.int64) - 48
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64)
    string_of = np.repeat(np.arange(n), lens)
    bad = (raw < 0) | (raw > 63)
    if bad.any():
        raise RleError(int(string_of[np.argmax(bad)]), "has a character outside the RLE alphabet")
    more = (raw & 0x20) != 0
    last_of_string = np.cumsum(lens) - 1
    cut = last_of_string[lens > 0]
    if more[cut].any():
        idx = int(string_of[cut[np.argmax(more[cut])]])
        raise RleError(idx, "ends in the middle of a number")
    token_end = ~more
    token_first = np.flatnonzero(np.concatenate([[True], token_end[:-1]]))
    ends = np.flatnonzero(token_end)
    chunks = ends - token_first + 1
    if int(chunks.max()) > 7:
        bad_token = int(np.argmax(chunks > 7))
        raise RleError(int(string_of[ends[bad_token]]), "holds a number that is too large")
    k = np.arange(raw.size) - np.repeat(token_first, chunks)
    x = np.add.reduceat((raw & 0x1F) << (5 * k), token_first)
    neg = (raw[ends] & 0x10) != 0
    x -= np.where(neg, np.int64(1) << (5 * chunks), 0)
    per_string = np.bincount(string_of[ends], minlength=n).astype(np.int64)
    tstart = np.cumsum(per_string) - per_string
    m = np.arange(x.size) - np.repeat(tstart, per_string)
    # cnts[m] = x[m] + cnts[m - 2] for m > 2: running sums along the odd and the even counts
    # of each string, where the even chain starts at m = 2 (count 0 stands alone).
    odd = m % 2 == 1
    counts = x.copy()
    for chain in (odd, (m % 2 == 0) & (m > 0)):
        run = np.cumsum(np.where(chain, x, 0))
        before = np.concatenate([[0], run])[tstart]  # the sum over earlier strings
        counts = np.where(chain, run - np.repeat(before, per_string), counts)
    counts &= 0xFFFFFFFF  # the C code stores each count as a 32-bit unsigned integer
    return counts, per_string


def pair_iou(runs: Runs, a: I64, b: I64, crowd: NDArray[np.bool_]) -> NDArray[np.float64]:
    """IoU of masks a[i] (detections) and b[i] (ground truth), as pycocotools' ``rleIou``.

    The intersection walks the runs of the mask with fewer runs and counts, for each, the
    pixels of the other mask before its two ends (a sorted search into that mask's runs).
    """
    n_runs = np.diff(runs.first)
    area = runs.area()
    swap = n_runs[a] > n_runs[b]
    q, t = np.where(swap, b, a), np.where(swap, a, b)  # walk q's runs, search in t's
    cum = np.concatenate([[0], np.cumsum(runs.end - runs.start)])
    stride = int(np.max(runs.height * runs.width)) + 1 if runs.size else 1
    key = np.repeat(np.arange(runs.size), n_runs) * stride + runs.start
    counts = n_runs[q]
    total = int(counts.sum())
    pair_of = np.repeat(np.arange(a.size), counts)
    run = (
        np.repeat(runs.first[q], counts)
        + np.arange(total)
        - np.repeat(np.cumsum(counts) - counts, counts)
    )
    tgt = t[pair_of]
    lo = runs.first[tgt]

    def covered_before(pos: I64) -> I64:
        r = np.searchsorted(key, tgt * stride + pos, side="right") - 1
        has = r >= lo
        rr = np.maximum(r, 0)
        val = cum[rr] - cum[lo] + np.minimum(pos, runs.end[rr]) - runs.start[rr]
        got: I64 = np.where(has, val, 0)
        return got

    part = covered_before(runs.end[run]) - covered_before(runs.start[run])
    inter = np.bincount(pair_of, weights=part, minlength=a.size).astype(np.int64)
    union_ = np.where(crowd, area[a], area[a] + area[b] - inter)
    union_ = np.where(inter == 0, 1, union_)
    out: NDArray[np.float64] = inter.astype(np.float64) / union_.astype(np.float64)
    return out
