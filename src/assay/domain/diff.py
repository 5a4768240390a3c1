"""Label-level differences between two label payloads of one item.

Regions are paired by id where both sides carry the same id, then by
geometry within the same control and kind (greedy, best overlap first), and
whole-item answers by control. A pair whose class differs is `relabeled`;
a box whose IoU with its old self is below 0.99 is `moved`; changed
attributes are `attribute_changed`; free text, ratings and rankings that
differ are `changed`. Unpaired regions are `added` or `removed`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from assay.domain.labels import Region, box_iou

ChangeKind = Literal["added", "removed", "relabeled", "moved", "attribute_changed", "changed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = (
    "added",
    "removed",
    "relabeled",
    "moved",
    "attribute_changed",
    "changed",
)
MOVED_IOU = 0.99
GEOMETRIC = {"box", "polygon", "point", "span"}


@dataclass(frozen=True)
class LabelChange:
    item: str
    change: ChangeKind
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    author: str | None
    iou: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "change": self.change,
            "before": self.before,
            "after": self.after,
            "author": self.author,
        }
        if self.iou is not None:
            out["iou"] = round(self.iou, 6)
        return out


def _bbox(r: Region) -> tuple[float, float, float, float] | None:
    if r.box is not None:
        return r.box
    if r.points:
        xs = [p[0] for p in r.points]
        ys = [p[1] for p in r.points]
        # Points get a 1-pixel extent so two equal points overlap fully.
        return (min(xs), min(ys), max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0))
    return None


def similarity(a: Region, b: Region) -> float:
    """Overlap in [0, 1] between two regions of the same kind (1 = same place)."""
    if (a.box, a.points, a.span) == (b.box, b.points, b.span):
        return 1.0  # equal geometry, including degenerate (zero-area) boxes
    if a.span is not None and b.span is not None:
        inter = min(a.span[1], b.span[1]) - max(a.span[0], b.span[0])
        union = max(a.span[1], b.span[1]) - min(a.span[0], b.span[0])
        return max(inter, 0) / union if union > 0 else float(a.span == b.span)
    ba, bb = _bbox(a), _bbox(b)
    if ba is None or bb is None:
        return 1.0
    if a.kind == "point":
        dist = ((ba[0] - bb[0]) ** 2 + (ba[1] - bb[1]) ** 2) ** 0.5
        return float(1.0 / (1.0 + dist))
    return box_iou(ba, bb)


def _identity(r: Region) -> str:
    """What makes a region the same object on both sides: its track, else its id."""
    tid = r.attributes.get("track_id")
    if isinstance(tid, int) and not isinstance(tid, bool):
        return f"track:{r.control}:{tid}"
    return r.id


def _pair(before: list[Region], after: list[Region]) -> list[tuple[Region | None, Region | None]]:
    pairs: list[tuple[Region | None, Region | None]] = []
    # Track ids, else region ids, pair regions only where they are unique on both sides; the
    # rest pair by geometry.
    seen_before = Counter(k for r in before if (k := _identity(r)))
    seen_after = Counter(k for r in after if (k := _identity(r)))
    by_id = {
        k: r for r in after if (k := _identity(r)) and seen_after[k] == 1 and seen_before[k] == 1
    }
    left: list[Region] = []
    used: set[int] = set()
    for r in before:
        key = _identity(r)
        match = by_id.get(key) if key else None
        if match is not None and id(match) not in used and match.kind == r.kind:
            pairs.append((r, match))
            used.add(id(match))
        else:
            left.append(r)
    right = [r for r in after if id(r) not in used]
    candidates: list[tuple[float, int, int]] = []
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            if a.kind != b.kind or a.control != b.control:
                continue
            if a.kind in GEOMETRIC:
                s = similarity(a, b)
                if s > 0:
                    candidates.append((s, i, j))
            else:
                candidates.append((1.0, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    li: set[int] = set()
    rj: set[int] = set()
    for _s, i, j in candidates:
        if i not in li and j not in rj:
            li.add(i)
            rj.add(j)
            pairs.append((left[i], right[j]))
    pairs.extend((left[i], None) for i in range(len(left)) if i not in li)
    pairs.extend((None, right[j]) for j in range(len(right)) if j not in rj)
    return pairs


def _show(r: Region) -> dict[str, Any]:
    return r.model_dump(exclude_none=True, exclude={"author"})


def diff_regions(item: str, before: list[Region], after: list[Region]) -> list[LabelChange]:
    """Every label-level change that turns `before` into `after`."""
    changes: list[LabelChange] = []
    for a, b in _pair(before, after):
        if a is None and b is not None:
            changes.append(LabelChange(item, "added", None, _show(b), b.author))
        elif b is None and a is not None:
            changes.append(LabelChange(item, "removed", _show(a), None, a.author))
        elif a is not None and b is not None:
            changes.extend(_compare(item, a, b))
    return changes


def _compare(item: str, a: Region, b: Region) -> list[LabelChange]:
    out: list[LabelChange] = []
    before, after, who = _show(a), _show(b), b.author
    if a.label != b.label:
        out.append(LabelChange(item, "relabeled", before, after, who))
    if a.kind in GEOMETRIC:
        s = similarity(a, b)
        moved = (
            s < MOVED_IOU
            if a.kind == "box"
            else (a.box, a.points, a.span)
            != (
                b.box,
                b.points,
                b.span,
            )
        )
        if moved:
            out.append(LabelChange(item, "moved", before, after, who, iou=s))
    elif (a.text, a.value, a.ranking) != (b.text, b.value, b.ranking):
        out.append(LabelChange(item, "changed", before, after, who))
    if a.attributes != b.attributes:
        out.append(LabelChange(item, "attribute_changed", before, after, who))
    return out
