"""A dataset's label map: class names and their ids, in order, kept stable across versions.

The map comes from the first import that declares classes (COCO category ids as in the file,
YOLO class indices as in ``data.yaml``) or from labels as they first appear. Exports write it
unchanged; a new class appends with the next free id; a class no region uses stays.

Example:
    >>> m = LabelMap.from_pairs([("car", 3), ("person", 1)])
    >>> m.extend(["truck"]).pairs()
    [('car', 3), ('person', 1), ('truck', 4)]
    >>> m.dense()
    {'person': 0, 'car': 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Ids given to classes of a map that starts without declared ids: COCO's convention (1, 2, ...).
FIRST_ID = 1


@dataclass(frozen=True)
class LabelClass:
    """One class: its name, its id and what the source said about it (``supercategory``...)."""

    name: str
    id: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelMap:
    """Classes in their order. Names and ids are unique."""

    classes: tuple[LabelClass, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]]) -> LabelMap:
        return cls(tuple(LabelClass(n, i) for n, i in pairs))

    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def pairs(self) -> list[tuple[str, int]]:
        return [(c.name, c.id) for c in self.classes]

    def ids(self) -> dict[str, int]:
        """Name -> id, in map order."""
        return {c.name: c.id for c in self.classes}

    def get(self, name: str) -> LabelClass | None:
        for c in self.classes:
            if c.name == name:
                return c
        return None

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.classes)

    def next_id(self) -> int:
        return max((c.id for c in self.classes), default=FIRST_ID - 1) + 1

    def extend(self, names: Iterable[str]) -> LabelMap:
        """Append the names not in the map yet, each with the next free id."""
        out = list(self.classes)
        known = {c.name for c in out}
        top = self.next_id() - 1
        for n in names:
            if n not in known:
                top += 1
                out.append(LabelClass(n, top))
                known.add(n)
        return LabelMap(tuple(out))

    def merge(self, other: LabelMap) -> LabelMap:
        """Append `other`'s classes not in this map: with their own id when it is free, else the
        next free id. Classes already here keep their id (and gain attributes they lacked)."""
        out = {c.name: c for c in self.classes}
        used = {c.id for c in self.classes}
        for c in other.classes:
            mine = out.get(c.name)
            if mine is not None:
                if c.attributes and not mine.attributes:
                    out[c.name] = LabelClass(mine.name, mine.id, dict(c.attributes))
                continue
            cid = c.id if c.id not in used else max(used, default=FIRST_ID - 1) + 1
            out[c.name] = LabelClass(c.name, cid, dict(c.attributes))
            used.add(cid)
        return LabelMap(tuple(out.values()))

    def dense(self) -> dict[str, int]:
        """Name -> 0..N-1 for formats whose classes are list positions (YOLO): the ids when they
        already are 0..N-1, else the rank of each id (so COCO's 1..N become 0..N-1)."""
        ranked = sorted(self.classes, key=lambda c: c.id)
        return {c.name: i for i, c in enumerate(ranked)}

    def to_records(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c.name,
                "id": c.id,
                **({"attributes": dict(c.attributes)} if c.attributes else {}),
            }
            for c in self.classes
        ]
