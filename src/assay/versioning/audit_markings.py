"""Item markings checked against the signed audit trail (part of `assay audit verify`).

Four things bind an item's marking outside the `items` table:

- `item.mark` / `item.downgrade` events carry each change's old and new marking: the item
  must hold the newest `new`.
- `commit` events name the commit id, which is the hash of a header naming the manifest's
  sha256, and the manifest stores each item's marking. Markings only go up, so an item of
  the newest commit of each dataset must hold at least that marking, unless a later
  `item.downgrade` event lowered it.
- The task rows carry a copy of the item's marking (the queue filters on it): the copy must
  equal the item's.

- Ingest and import events record the sum of their new items' (item, marking) hashes
  (`assay.audit.marking_sum`); with the changes above, the trail gives the sum the `items`
  table must have now. Any marking changed, or item added or removed, outside assay shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.audit._sums import MOD, pair_hash
from assay.domain.marking import MarkingScheme
from assay.errors import AssayError
from assay.store import BlobStore
from assay.store._sql import select_in
from assay.store.schema import audit, commits, datasets, items, tasks
from assay.versioning import _manifest
from assay.versioning.commit import _row_to_commit


def marking_problems(conn: Connection, blobs: BlobStore, scheme: MarkingScheme) -> Iterator[str]:
    """Each way the items' and tasks' markings disagree with the trail and the commits."""
    exact: dict[str, tuple[int, str]] = {}  # item -> (seq, marking) of its newest change
    lowered: dict[str, int] = {}  # item -> seq of its newest downgrade
    newest_commit: dict[str, tuple[int, str]] = {}  # dataset -> (seq, commit id)
    total: int | None = 0  # the running sum of (item, marking) hashes; None: not recorded
    q = select(audit.c.seq, audit.c.action, audit.c.target, audit.c.details).where(
        audit.c.action.in_(("item.mark", "item.downgrade", "commit", "ingest", "import"))
    )
    for seq, action, target, raw in conn.execute(q.order_by(audit.c.seq)):
        d: dict[str, Any] = json.loads(raw)
        if action in ("ingest", "import"):
            if "items_sum" in d and total is not None:
                total += int(d["items_sum"], 16)
            elif d.get("new") or d.get("new_items"):
                total = None  # items added before sums were recorded: cannot be replayed
        elif action == "commit" and "commit" in d:
            newest_commit[target.removeprefix("dataset:")] = (seq, str(d["commit"]))
        elif action != "commit" and "new" in d:
            item = target.removeprefix("item:")
            exact[item] = (seq, str(d["new"]))
            if total is not None:
                total += pair_hash(item, str(d["new"])) - pair_hash(item, str(d.get("old", "")))
            if action == "item.downgrade":
                lowered[item] = seq
    if total is not None:
        rows = conn.execute(select(items.c.id, items.c.marking))
        actual = sum(pair_hash(str(i), str(m)) for i, m in rows)
        if actual % MOD != total % MOD:
            yield (
                "the items' markings differ from what the trail recorded: an item's marking "
                "was changed, or an item added or removed, outside assay"
            )
    found = select_in(conn, [items.c.id, items.c.marking], items.c.id, list(exact))
    current = {str(item): str(marking) for item, marking in found}
    for item, (_seq, want) in sorted(exact.items()):
        have = current.get(item)
        if have is not None and have != want:
            yield f"item {item[:12]} is marked {have!r}; the trail says {want!r}"
    for name, (seq, cid) in sorted(newest_commit.items()):
        yield from _commit_floor(conn, blobs, scheme, name, seq, cid, lowered)
    stale = conn.execute(
        select(tasks.c.item_id, tasks.c.marking, items.c.marking.label("item_marking"))
        .join(items, items.c.id == tasks.c.item_id)
        .where(tasks.c.marking != items.c.marking)
        .limit(20)
    ).all()
    for r in stale:
        yield (
            f"a task of item {r.item_id[:12]} carries marking {r.marking!r}, "
            f"the item {r.item_marking!r}"
        )


def _at_least(scheme: MarkingScheme, have: str, floor: str) -> bool:
    try:
        return scheme.allows(scheme.parse(have), scheme.parse(floor))
    except AssayError:  # a marking the scheme cannot read is never high enough
        return False


def _commit_floor(
    conn: Connection,
    blobs: BlobStore,
    scheme: MarkingScheme,
    name: str,
    seq: int,
    cid: str,
    lowered: dict[str, int],
) -> Iterator[str]:
    row = conn.execute(
        select(commits)
        .join(datasets, datasets.c.id == commits.c.dataset_id)
        .where(commits.c.id == cid, datasets.c.name == name)
    ).first()
    if row is None:
        yield f"commit {cid[:12]} of dataset {name!r}, named by the trail, is missing"
        return
    commit = _row_to_commit(row, name)
    if not commit.verify():
        yield f"commit {cid[:12]} of dataset {name!r} no longer matches its id (header edited)"
        return
    try:
        manifest = _manifest.read(blobs, commit.manifest, ["item_id", "marking"])
    except Exception as exc:  # a missing or unreadable blob is itself the finding
        yield f"the manifest of commit {cid[:12]} ({name!r}) cannot be read: {exc}"
        return
    present = [m for (m,) in conn.execute(select(items.c.marking).distinct())]
    for floor in manifest.column("marking").unique().to_pylist():
        below = [m for m in present if not _at_least(scheme, m, floor)]
        if not below:
            continue
        ids = manifest.filter(pc.equal(manifest.column("marking"), floor)).column("item_id")
        low = conn.execute(
            select(items.c.id, items.c.marking).where(items.c.marking.in_(below))
        ).all()
        if not low:
            continue
        low_ids = pa.array([r.id for r in low], pa.string())
        hit = set(pc.filter(low_ids, pc.is_in(low_ids, value_set=ids)).to_pylist())
        for r in low:
            if r.id in hit and lowered.get(r.id, 0) < seq:
                yield (
                    f"item {r.id[:12]} is marked {r.marking!r}, below {floor!r} in commit "
                    f"{cid[:12]} of {name!r}, and no item.downgrade event lowered it"
                )
