"""Label-level differences between two versions of a dataset, and `status`.

Adjacent commits are compared through the delta the later one stored, and the working
state against HEAD through the change log, so the common cases cost what changed. Any
other pair is compared by joining the two manifests' label hashes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
from sqlalchemy.engine import Connection

from assay.domain.canonical import read_metadata
from assay.domain.commit import Commit
from assay.domain.diff import CHANGE_KINDS, LabelChange, diff_regions
from assay.domain.labels import Region, payload_from_json_trusted, payload_to_json
from assay.domain.track_diff import TrackChange, summarize_tracks
from assay.store import BlobStore
from assay.store._sql import select_in
from assay.store.schema import items, working
from assay.versioning import _manifest, _rows
from assay.versioning.commit import Revision, resolve
from assay.versioning.datasets import head_of


@dataclass
class Diff:
    before: str
    after: str
    items_added: list[str] = field(default_factory=list)
    items_removed: list[str] = field(default_factory=list)
    items_changed: list[str] = field(default_factory=list)
    changes: list[LabelChange] = field(default_factory=list)
    tracks: list[TrackChange] = field(default_factory=list)  # changes folded per video track

    @property
    def empty(self) -> bool:
        return not (self.items_added or self.items_removed or self.items_changed)

    def summary(self) -> dict[str, int]:
        counts = Counter(c.change for c in self.changes)
        out: dict[str, int] = {k: counts.get(k, 0) for k in CHANGE_KINDS}
        out["items_added"] = len(self.items_added)
        out["items_removed"] = len(self.items_removed)
        out["items_changed"] = len(self.items_changed)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "items_added": self.items_added,
            "items_removed": self.items_removed,
            "items_changed": self.items_changed,
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.summary(),
            **({"tracks": [t.to_dict() for t in self.tracks]} if self.tracks else {}),
        }


# (item id, kind, labels before as JSON, labels after as JSON)
Entry = tuple[str, str, str | None, str | None]


def _build(conn: Connection, before: str, after: str, entries: list[Entry]) -> Diff:
    d = Diff(before, after)
    for item, kind, old, new in sorted(entries):
        if kind == "added":
            d.items_added.append(item)
        elif kind == "removed":
            d.items_removed.append(item)
        elif kind == "changed":
            d.items_changed.append(item)
            d.changes.extend(
                diff_regions(
                    item, payload_from_json_trusted(old or ""), payload_from_json_trusted(new or "")
                )
            )
    tracked = sorted({c.item for c in d.changes if _tracked(c)})
    if tracked:
        d.tracks = summarize_tracks(d.changes, _frame_positions(conn, tracked))
    return d


def _tracked(c: LabelChange) -> bool:
    side = c.after if c.after is not None else c.before
    return "track_id" in (side or {}).get("attributes", {})


def _frame_positions(conn: Connection, ids: list[str]) -> dict[str, tuple[str, int]]:
    """Item id -> (sequence, frame index) for frame items: a video's sampled frames (the
    video's name, the decoded frame index) or frames with ``sequence``/``frame`` metadata."""
    rows = select_in(
        conn,
        [items.c.id, items.c.metadata, items.c.derivation, items.c.parent_id],
        items.c.id,
        ids,
    )
    parents = {r.parent_id for r in rows if r.parent_id}
    names = {
        r.id: r.name for r in select_in(conn, [items.c.id, items.c.name], items.c.id, list(parents))
    }
    out: dict[str, tuple[str, int]] = {}
    for r in rows:
        meta = read_metadata(r.metadata)
        derivation = json.loads(r.derivation or "{}")
        if r.parent_id and isinstance(derivation.get("frame"), int):
            out[r.id] = (names.get(r.parent_id, r.parent_id[:12]), derivation["frame"])
        elif isinstance(meta.get("frame"), int):
            out[r.id] = (str(meta.get("sequence") or ""), meta["frame"])
    return out


def labels_for(
    conn: Connection, blobs: BlobStore, rev: Revision, ids: list[str]
) -> dict[str, list[Region]]:
    """The labels of record of the given items at a revision."""
    if not ids:
        return {}
    if rev.commit is not None:
        table = _manifest.take_items(
            _manifest.read(blobs, rev.commit.manifest, ["item_id", "labels"]), ids
        )
        pairs = zip(table["item_id"].to_pylist(), table["labels"].to_pylist(), strict=True)
        return {i: payload_from_json_trusted(lab) for i, lab in pairs}
    rows = select_in(
        conn,
        [working.c.item_id, working.c.labels],
        working.c.item_id,
        ids,
        working.c.dataset_id == rev.dataset_id,
    )
    return {r.item_id: payload_from_json_trusted(r.labels) for r in rows}


def _from_delta(blobs: BlobStore, c: Commit, reverse: bool) -> list[Entry]:
    assert c.delta is not None  # callers check
    t = _manifest.read_delta(blobs, c.delta)
    flip = {"added": "removed", "removed": "added", "changed": "changed"}
    rows = zip(
        t["item_id"].to_pylist(),
        t["change"].to_pylist(),
        t["before_labels"].to_pylist(),
        t["after_labels"].to_pylist(),
        strict=True,
    )
    if reverse:
        return [(i, flip[k], new, old) for i, k, old, new in rows]
    return list(rows)


def _full(conn: Connection, blobs: BlobStore, a: Revision, b: Revision) -> list[Entry]:
    def hashes(rev: Revision) -> Any:
        if rev.commit is not None:
            return _manifest.read(blobs, rev.commit.manifest, ["item_id", "label_hash"])
        return _rows.working_hashes(conn, rev.dataset_id)

    joined = hashes(a).join(
        hashes(b), "item_id", join_type="full outer", left_suffix="_a", right_suffix="_b"
    )
    ha, hb, ids = joined["label_hash_a"], joined["label_hash_b"], joined["item_id"]
    entries: list[Entry] = [
        (i, "added", None, None) for i in ids.filter(pc.is_null(ha)).to_pylist()
    ]
    entries += [(i, "removed", None, None) for i in ids.filter(pc.is_null(hb)).to_pylist()]
    both = pc.and_(pc.is_valid(ha), pc.is_valid(hb))
    changed = ids.filter(pc.and_(both, pc.not_equal(ha, hb))).to_pylist()
    old = labels_for(conn, blobs, a, changed)
    new = labels_for(conn, blobs, b, changed)
    for i in changed:
        entries.append((i, "changed", payload_to_json(old[i]), payload_to_json(new[i])))
    return entries


def _pending(conn: Connection, ds: int) -> list[Entry]:
    out: list[Entry] = []
    for c in _rows.pending_changes(conn, ds):
        if c.kind is not None:
            out.append((c.item_id, c.kind, c.base_labels, c.labels))
    return out


def diff(conn: Connection, blobs: BlobStore, name: str, rev_a: str, rev_b: str) -> Diff:
    """Differences from `rev_a` to `rev_b` (each a tag, id prefix, HEAD~N, or WORKING)."""
    a = _resolve_side(conn, name, rev_a)
    b = _resolve_side(conn, name, rev_b)
    ca, cb = a.commit, b.commit
    head = head_of(conn, a.dataset_id)
    if ca and cb and cb.delta and cb.parents[:1] == (ca.id,):
        entries = _from_delta(blobs, cb, reverse=False)
    elif ca and cb and ca.delta and ca.parents[:1] == (cb.id,):
        entries = _from_delta(blobs, ca, reverse=True)
    elif ca and cb is None and ca.id == head:
        entries = _pending(conn, a.dataset_id)
    elif ca and cb and ca.id == cb.id:
        entries = []
    else:
        entries = _full(conn, blobs, a, b)
    return _build(conn, a.label, b.label, entries)


def _resolve_side(conn: Connection, name: str, rev: str) -> Revision:
    if rev.upper() in ("WORKING", "WORKTREE"):
        return resolve(conn, name)
    return resolve(conn, f"{name}@{rev}")


def status(conn: Connection, blobs: BlobStore, name: str) -> Diff:
    """Uncommitted changes, read from the change log only: cost follows the change."""
    work = resolve(conn, name)
    has_head = head_of(conn, work.dataset_id) is not None
    head = resolve(conn, name, default_head=True) if has_head else None
    before = head.label if head else f"{name}@(no commits)"
    return _build(conn, before, work.label, _pending(conn, work.dataset_id))
