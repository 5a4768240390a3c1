"""A commit's index with its items' markings as they stand now.

An index records each item's marking when the commit was made; a marking raised since then
must count at once (`assay.markings`), or a viewer cleared for the old marking would still
see the item in that commit's grid. As exports do, each row carries the higher of the marking
recorded and the item's marking now (a downgrade does not lower an old commit).

Every marking change is an ``item.mark`` or ``item.downgrade`` audit event, so after one read
of the commit's items' markings, a later request reads only the audit events written since.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from assay.explore._index import KEEP, Index, with_markings
from assay.markings import moved_since
from assay.store._sql import select_in
from assay.store.schema import items
from assay.versioning import Revision
from assay.workspace import Workspace


@dataclass
class _Seen:
    """What is known of one commit's items: read up to audit event `seq`."""

    seq: int
    now: dict[str, str] = field(default_factory=dict)  # item -> marking now, where it differs
    index: Index | None = None  # the index with `now` applied (None: nothing differs)


_SEEN: OrderedDict[tuple[str, str], _Seen] = OrderedDict()
_LOCK = threading.Lock()


def markings_now(ws: Workspace, rev: Revision, index: Index) -> Index:
    """`index` (of `rev`) with each row's marking the higher of the recorded and the current."""
    if rev.commit is None:  # the working state's index is read fresh, markings included
        return index
    key = (str(ws.root), rev.commit.manifest)
    with _LOCK:
        seen = _SEEN.get(key)
    with ws.db.read() as conn:
        head, moved = moved_since(conn, seen.seq if seen is not None else 0)
        if seen is not None and seen.seq >= head:
            return seen.index or index
        # The rows to look at: all at the first look, then those of items moved since (a
        # page's request reads no column of the index when nothing moved).
        rows = index.table.select(["item_id", "marking"])
        if seen is None:
            seen = _Seen(0)
        elif moved:
            rows = rows.filter(pc.is_in(rows["item_id"], pa.array(sorted(moved), pa.string())))
        else:
            rows = rows.slice(0, 0)
        ids = rows["item_id"].to_pylist()
        current = select_in(conn, [items.c.id, items.c.marking], items.c.id, ids) if ids else []
    was = dict(zip(ids, rows["marking"].to_pylist(), strict=True)) if current else {}
    changed = dict(seen.now)
    for item_id, marking in current:
        if marking != was[item_id]:
            changed[item_id] = marking
        else:
            changed.pop(item_id, None)
    if changed == seen.now and (seen.index is not None or not changed):
        seen = _Seen(head, changed, seen.index)
    else:
        seen = _Seen(head, changed, _overlay(ws, index, changed) if changed else None)
    with _LOCK:
        _SEEN[key] = seen
        _SEEN.move_to_end(key)
        while len(_SEEN) > KEEP:
            _SEEN.popitem(last=False)
    return seen.index or index


def _overlay(ws: Workspace, index: Index, now: dict[str, str]) -> Index:
    higher: dict[tuple[str, str], str] = {}
    marks = []
    recorded = (index.table[c].to_pylist() for c in ("item_id", "marking"))
    for item_id, was in zip(*recorded, strict=True):
        is_ = now.get(item_id, was)
        if is_ != was and (was, is_) not in higher:
            higher[was, is_] = ws.scheme.highest_text([was, is_])
        marks.append(was if is_ == was else higher[was, is_])
    return with_markings(index, pa.array(marks, pa.string()))
