"""Scoring an answer against a reference (gold labels, or another annotator's answer).

A task's score is the mean over the controls that either side used, each in [0, 1] (against
gold, only the controls the gold answers: `gold_controls`):

- choices, text, rating, ranking: 1 when the answers are equal (text ignores case and
  surrounding space), else 0.
- boxes: greedy one-to-one matching of same-label boxes by IoU >= 0.5, scored as F1
  (so 1.0 exactly when every gold box is matched and there is no extra box).
- polygons: as boxes, on the polygons' bounding boxes.
- points: as boxes, a match is the same label within `POINT_RADIUS` pixels.
- spans: as boxes, a match is the same label with overlapping character ranges.

Gold accuracy is the mean score over an annotator's gold tasks; the same score
between two annotators is the pairwise agreement the dashboard reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable

from assay.domain.labels import Region, box_iou
from assay.domain.schema import LabelSchema

IOU_MATCH = 0.5
POINT_RADIUS = 10.0


def _bbox(r: Region) -> tuple[float, float, float, float]:
    if r.box is not None:
        return r.box
    pts = r.points or ((0.0, 0.0),)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _similar(kind: str) -> Callable[[Region, Region], float]:
    if kind in ("box", "polygon"):
        return lambda a, b: box_iou(_bbox(a), _bbox(b))
    if kind == "point":

        def near(a: Region, b: Region) -> float:
            pa, pb = (a.points or ((0.0, 0.0),))[0], (b.points or ((0.0, 0.0),))[0]
            return 1.0 if math.dist(pa, pb) <= POINT_RADIUS else 0.0

        return near

    def overlap(a: Region, b: Region) -> float:
        sa, sb = a.span or (0, 0), b.span or (0, 0)
        return 1.0 if min(sa[1], sb[1]) > max(sa[0], sb[0]) else 0.0

    return overlap


def matched_f1(gold: list[Region], answer: list[Region]) -> float:
    """F1 of a greedy one-to-one matching of same-label regions (best similarity first)."""
    if not gold and not answer:
        return 1.0
    if not gold or not answer:
        return 0.0
    sim = _similar(gold[0].kind)
    pairs = sorted(
        (
            (sim(g, a), gi, ai)
            for gi, g in enumerate(gold)
            for ai, a in enumerate(answer)
            if g.label == a.label
        ),
        reverse=True,
    )
    used_g: set[int] = set()
    used_a: set[int] = set()
    for s, gi, ai in pairs:
        if s < IOU_MATCH or gi in used_g or ai in used_a:
            continue
        used_g.add(gi)
        used_a.add(ai)
    tp = len(used_g)
    return 2 * tp / (len(gold) + len(answer))


def _answer_key(r: Region) -> object:
    if r.kind == "text":
        return (r.text or "").strip().casefold()
    if r.kind == "rating":
        return r.value
    if r.kind == "ranking":
        return r.ranking
    return r.label


def score(
    schema: LabelSchema | None,
    gold: list[Region],
    answer: list[Region],
    only: Collection[str] | None = None,
) -> float:
    """How well `answer` matches `gold`, in [0, 1] (see the module docstring); with `only`,
    over those controls alone (`gold_controls`)."""
    controls = sorted({r.control for r in gold} | {r.control for r in answer})
    if only is not None:
        controls = [c for c in controls if c in only]
    if not controls:
        return 1.0
    total = 0.0
    for name in controls:
        g = [r for r in gold if r.control == name]
        a = [r for r in answer if r.control == name]
        kind = (g or a)[0].kind
        if kind in SHAPE_KINDS:
            total += matched_f1(g, a)
        else:
            same = sorted(map(str, map(_answer_key, g))) == sorted(map(str, map(_answer_key, a)))
            total += 1.0 if same else 0.0
    return total / len(controls)


SHAPE_KINDS = ("box", "polygon", "point", "span")


def gold_controls(gold: list[Region], gold_set: Iterable[list[Region]]) -> set[str]:
    """The controls a gold answer is scored on: those the gold task answers, and the shape
    controls the gold set draws anywhere (no box on a gold task then means "nothing here").
    A control the gold never answers (gold imported from a format without it) has no
    reference, so an answer to it is neither right nor wrong."""
    shapes = {r.control for regions in gold_set for r in regions if r.kind in SHAPE_KINDS}
    return {r.control for r in gold} | shapes


def mean_pairwise(schema: LabelSchema | None, answers: list[list[Region]]) -> float | None:
    """Mean score over all pairs of answers (None with fewer than two)."""
    if len(answers) < 2:
        return None
    scores = [
        score(schema, answers[i], answers[j])
        for i in range(len(answers))
        for j in range(i + 1, len(answers))
    ]
    return sum(scores) / len(scores)
