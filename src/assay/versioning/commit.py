"""Commit the working state; read history; resolve revisions; tag."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from assay.domain.commit import Commit
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import BlobStore
from assay.store.schema import commits, datasets, refs, working_changes
from assay.timeutil import now_iso
from assay.versioning import _manifest, _rows
from assay.versioning.datasets import dataset_id, head_of, lock_dataset

_HEAD_N = re.compile(r"^HEAD(?:~(\d+))?$")


@dataclass(frozen=True)
class Revision:
    """A resolved `NAME[@REV]`: a commit, or the working state when `commit` is None."""

    dataset: str
    dataset_id: int
    commit: Commit | None

    @property
    def label(self) -> str:
        return (
            f"{self.dataset}@{self.commit.id[:12]}" if self.commit else f"{self.dataset} (working)"
        )


def _row_to_commit(r: Row[Any], dataset: str) -> Commit:
    return Commit(
        id=r.id,
        dataset=dataset,
        parents=tuple(json.loads(r.parents)),
        message=r.message,
        author=r.author,
        created=r.created,
        manifest=r.manifest,
        stats=json.loads(r.stats),
        seq=r.seq,
        delta=r.delta,
    )


def commit(conn: Connection, blobs: BlobStore, name: str, message: str, author: str) -> Commit:
    """Record the working state as a new commit.

    After the first, a commit reads the change log, not the dataset, and writes its manifest
    as a layer over its parent's; every so often a commit rewrites the whole manifest
    (see `_manifest.commit_layer`).
    """
    if not message.strip():
        raise InvalidInput("a commit needs a message (-m)")
    ds = dataset_id(conn, name)
    lock_dataset(conn, ds)  # concurrent commits queue here (PostgreSQL)
    head_id = head_of(conn, ds)
    # The first commit takes every member; later ones read the change log.
    changes = [] if head_id is None else _rows.pending_changes(conn, ds)
    changes = [c for c in changes if c.kind is not None]
    if head_id is None:
        writer = _manifest.Writer(blobs)
        _rows.stream_working(conn, ds, writer.write)
        if writer.rows == 0:
            raise Conflict(f"nothing to commit in {name!r}: add items first")
        parents: tuple[str, ...] = ()
        delta = None
        manifest_sha = writer.close()
        n_rows, n_regions = writer.rows, writer.regions
        kinds = Counter({"added": n_rows})
    else:
        if not changes:
            conn.execute(working_changes.delete().where(working_changes.c.dataset_id == ds))
            raise Conflict(f"nothing to commit in {name!r}: the working state matches HEAD")
        head = get_commit(conn, name, ds, head_id)
        touched = [c.item_id for c in changes]
        fresh = _rows.working_rows(conn, ds, [c.item_id for c in changes if c.hash is not None])
        kinds = Counter(str(c.kind) for c in changes)
        n_rows = head.stats["items"] + kinds["added"] - kinds["removed"]
        # Regions leaving with the committed labels of changed and removed items, and arriving
        # with the working rows of added and changed ones.
        gone = sum(len(json.loads(c.base_labels or "[]")) for c in changes if c.base_hash)
        n_regions = head.stats["regions"] - gone + int(pc.sum(fresh["n_regions"]).as_py() or 0)
        manifest_sha = _manifest.commit_layer(blobs, head.manifest, touched, fresh, n_rows)
        parents = (head_id,)
        delta = _manifest.write_delta(
            blobs,
            {
                "item_id": touched,
                "change": [c.kind for c in changes],
                "before_hash": [c.base_hash for c in changes],
                "after_hash": [c.hash for c in changes],
                "before_labels": [c.base_labels for c in changes],
                "after_labels": [c.labels for c in changes],
            },
        )
    stats = {
        "items": n_rows,
        "regions": n_regions,
        "added_items": kinds.get("added", 0),
        "removed_items": kinds.get("removed", 0),
        "changed_items": kinds.get("changed", 0),
    }
    created = now_iso()
    cid = Commit.make_id(name, parents, message, author, created, manifest_sha, stats, delta)
    seq = (
        conn.execute(select(func.max(commits.c.seq)).where(commits.c.dataset_id == ds)).scalar()
        or 0
    ) + 1
    conn.execute(
        commits.insert().values(
            id=cid,
            dataset_id=ds,
            parents=json.dumps(list(parents)),
            message=message,
            author=author,
            created=created,
            manifest=manifest_sha,
            delta=delta,
            stats=json.dumps(stats, sort_keys=True),
            seq=seq,
        )
    )
    conn.execute(datasets.update().where(datasets.c.id == ds).values(head=cid))
    conn.execute(working_changes.delete().where(working_changes.c.dataset_id == ds))
    return Commit(cid, name, parents, message, author, created, manifest_sha, stats, seq, delta)


def get_commit(conn: Connection, name: str, ds: int, cid: str) -> Commit:
    row = conn.execute(
        select(commits).where(commits.c.id == cid, commits.c.dataset_id == ds)
    ).first()
    if row is None:
        raise NotFound(f"no commit {cid[:12]} in dataset {name!r}")
    return _row_to_commit(row, name)


def history(conn: Connection, name: str) -> list[Commit]:
    """Commits from HEAD back to the first, following first parents."""
    ds = dataset_id(conn, name)
    rows = {r.id: r for r in conn.execute(select(commits).where(commits.c.dataset_id == ds))}
    out: list[Commit] = []
    cur = head_of(conn, ds)
    while cur:
        c = _row_to_commit(rows[cur], name)
        out.append(c)
        cur = c.parents[0] if c.parents else None
    return out


def split_spec(spec: str) -> tuple[str, str | None]:
    name, sep, rev = spec.partition("@")
    if not name:
        raise InvalidInput(f"bad revision {spec!r}: expected NAME[@REV]")
    if sep and not rev:
        raise InvalidInput(f"bad revision {spec!r}: nothing after '@'")
    return name, rev if sep else None


def resolve(conn: Connection, spec: str, *, default_head: bool = False) -> Revision:
    """Resolve `NAME`, `NAME@TAG`, `NAME@<id prefix>`, `NAME@HEAD` or `NAME@HEAD~N`.

    A bare `NAME` is the working state, or HEAD when `default_head` is set.
    """
    name, rev = split_spec(spec)
    ds = dataset_id(conn, name)
    if rev is None:
        if not default_head:
            return Revision(name, ds, None)
        rev = "HEAD"
    return Revision(name, ds, resolve_rev(conn, name, ds, rev))


def resolve_rev(conn: Connection, name: str, ds: int, rev: str) -> Commit:
    m = _HEAD_N.match(rev)
    if m:
        steps = int(m.group(1) or 0)
        chain = history(conn, name)
        if not chain:
            raise NotFound(f"dataset {name!r} has no commits yet")
        if steps >= len(chain):
            raise NotFound(f"{name}@{rev}: the history has only {len(chain)} commit(s)")
        return chain[steps]
    tagged = conn.execute(
        select(refs.c.commit_id).where(refs.c.dataset_id == ds, refs.c.name == rev)
    ).scalar()
    if tagged:
        return get_commit(conn, name, ds, tagged)
    if len(rev) < 4 or not all(c in "0123456789abcdef" for c in rev.lower()):
        raise NotFound(f"{name}@{rev}: no tag {rev!r} and not a commit id prefix (4+ hex digits)")
    found = conn.execute(
        select(commits).where(commits.c.dataset_id == ds, commits.c.id.like(rev.lower() + "%"))
    ).all()
    if not found:
        raise NotFound(f"{name}@{rev}: no tag or commit matches")
    if len(found) > 1:
        raise InvalidInput(
            f"{name}@{rev}: ambiguous, matches {len(found)} commits; use more digits"
        )
    return _row_to_commit(found[0], name)


def tag(conn: Connection, name: str, rev: str, tag_name: str) -> Commit:
    if not tag_name or "@" in tag_name or _HEAD_N.match(tag_name):
        raise InvalidInput(f"bad tag name {tag_name!r}")
    ds = dataset_id(conn, name)
    target = resolve_rev(conn, name, ds, rev)
    existing = conn.execute(
        select(refs.c.commit_id).where(refs.c.dataset_id == ds, refs.c.name == tag_name)
    ).scalar()
    if existing:
        raise Conflict(f"tag {tag_name!r} already exists in {name!r} (at {existing[:12]})")
    conn.execute(refs.insert().values(dataset_id=ds, name=tag_name, commit_id=target.id))
    return target


def tags_by_commit(conn: Connection, ds: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in conn.execute(select(refs.c.name, refs.c.commit_id).where(refs.c.dataset_id == ds)):
        out.setdefault(r.commit_id, []).append(r.name)
    return out
