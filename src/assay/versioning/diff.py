"""Label-level differences between two versions of a dataset, and `status`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.domain.diff import CHANGE_KINDS, LabelChange, diff_regions
from assay.domain.labels import Region, payload_from_json
from assay.store import LocalBlobStore
from assay.store.schema import working
from assay.versioning import _manifest
from assay.versioning.commit import Revision, resolve


@dataclass
class Diff:
    before: str
    after: str
    items_added: list[str] = field(default_factory=list)
    items_removed: list[str] = field(default_factory=list)
    items_changed: list[str] = field(default_factory=list)
    changes: list[LabelChange] = field(default_factory=list)

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
        }


def _hashes(conn: Connection, blobs: LocalBlobStore, rev: Revision) -> pa.Table:
    if rev.commit is not None:
        return _manifest.read(blobs, rev.commit.manifest, ["item_id", "label_hash"])
    rows = conn.execute(
        select(working.c.item_id, working.c.label_hash).where(
            working.c.dataset_id == rev.dataset_id, working.c.state != 2
        )
    ).all()
    return pa.table(
        {
            "item_id": pa.array([r[0] for r in rows], pa.string()),
            "label_hash": pa.array([r[1] for r in rows], pa.string()),
        }
    )


def labels_for(
    conn: Connection, blobs: LocalBlobStore, rev: Revision, ids: list[str]
) -> dict[str, list[Region]]:
    """The labels of record of the given items at a revision."""
    if not ids:
        return {}
    if rev.commit is not None:
        table = _manifest.take_items(
            _manifest.read(blobs, rev.commit.manifest, ["item_id", "labels"]), ids
        )
        return {
            i: payload_from_json(lab)
            for i, lab in zip(
                table["item_id"].to_pylist(), table["labels"].to_pylist(), strict=True
            )
        }
    out: dict[str, list[Region]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for r in conn.execute(
            select(working.c.item_id, working.c.labels).where(
                working.c.dataset_id == rev.dataset_id, working.c.item_id.in_(chunk)
            )
        ):
            out[r.item_id] = payload_from_json(r.labels)
    return out


def _region_changes(
    before: dict[str, list[Region]], after: dict[str, list[Region]], ids: list[str]
) -> list[LabelChange]:
    changes: list[LabelChange] = []
    for i in ids:
        changes.extend(diff_regions(i, before.get(i, []), after.get(i, [])))
    return changes


def diff(conn: Connection, blobs: LocalBlobStore, name: str, rev_a: str, rev_b: str) -> Diff:
    """Differences from `rev_a` to `rev_b` (each a tag, id prefix, HEAD~N, or WORKING)."""
    a = _resolve_side(conn, name, rev_a)
    b = _resolve_side(conn, name, rev_b)
    ta, tb = _hashes(conn, blobs, a), _hashes(conn, blobs, b)
    joined = ta.join(tb, "item_id", join_type="full outer", left_suffix="_a", right_suffix="_b")
    ha, hb = joined["label_hash_a"], joined["label_hash_b"]
    ids = joined["item_id"]
    added = sorted(ids.filter(pc.is_null(ha)).to_pylist())
    removed = sorted(ids.filter(pc.is_null(hb)).to_pylist())
    both = pc.and_(pc.is_valid(ha), pc.is_valid(hb))
    changed_mask = pc.and_(both, pc.not_equal(ha, hb))
    changed = sorted(ids.filter(changed_mask).to_pylist())
    result = Diff(a.label, b.label, added, removed, changed)
    result.changes = _region_changes(
        labels_for(conn, blobs, a, changed), labels_for(conn, blobs, b, changed), changed
    )
    return result


def _resolve_side(conn: Connection, name: str, rev: str) -> Revision:
    if rev.upper() in ("WORKING", "WORKTREE"):
        return resolve(conn, name)
    return resolve(conn, f"{name}@{rev}")


def status(conn: Connection, blobs: LocalBlobStore, name: str) -> Diff:
    """Uncommitted changes: reads only rows marked changed, so cost follows the change."""
    head = resolve(conn, name, default_head=False)
    work_rows = conn.execute(
        select(working.c.item_id, working.c.state, working.c.base_hash, working.c.labels).where(
            working.c.dataset_id == head.dataset_id, working.c.state != 0
        )
    ).all()
    added = sorted(r.item_id for r in work_rows if r.state == 1 and r.base_hash is None)
    removed = sorted(r.item_id for r in work_rows if r.state == 2)
    changed = sorted(r.item_id for r in work_rows if r.state == 1 and r.base_hash is not None)
    head_rev = resolve(conn, name, default_head=True) if changed else head
    base_label = head_rev.label if head_rev.commit else f"{name}@(no commits)"
    result = Diff(base_label, head.label, added, removed, changed)
    changed_set = set(changed)
    after = {r.item_id: payload_from_json(r.labels) for r in work_rows if r.item_id in changed_set}
    result.changes = _region_changes(labels_for(conn, blobs, head_rev, changed), after, changed)
    return result
