"""`assay gc`: remove the blobs nothing references and rewrite packs without them.

Referenced (live) are: every item's bytes; every commit's manifest, the manifests it is
layered on and its delta; blobs a manifest row names; registered model files (a directory
model's manifest and every file it lists); derived blobs
(thumbnails, explorer indexes); prediction files and models named by evaluation runs.
Everything else is garbage: the blobs of an ingest that failed before its items were
recorded, derived blobs that were replaced, second copies in packs.

Marking and sweeping run under the collector lock (`assay.store.locks`): writers hold it
shared from before they store a blob until the metadata naming it is committed, so a
concurrent ingest either finished (its items are live) or waits until gc is done.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay import audit
from assay.store import BlobStore, CollectReport, locks
from assay.store.blobs import MISSING
from assay.store.schema import commits, derived, eval_runs, items, models_table

if TYPE_CHECKING:
    from assay.workspace import Workspace

log = logging.getLogger(__name__)

_SHA = re.compile(r"\b[0-9a-f]{64}\b")


def _referenced(conn: Connection) -> tuple[set[str], set[str], set[str]]:
    """What the metadata names without reading a blob: every such blob, the directory models'
    manifests among them, and the commits' manifests among them (each of those two lists
    further blobs)."""
    live: set[str] = set()
    for (sha,) in conn.execute(select(items.c.id)):
        live.add(sha)
    directories: set[str] = set()
    for sha, fmt in conn.execute(select(models_table.c.sha256, models_table.c.format)):
        live.add(sha)
        if fmt == "directory":  # the manifest lists one blob per file of the directory
            directories.add(sha)
    for (sha,) in conn.execute(select(derived.c.blob)):
        live.add(sha)
    for sha, record in conn.execute(select(eval_runs.c.model_sha256, eval_runs.c.record)):
        if sha:
            live.add(sha)
        # A run's record names the blobs it rests on; keep anything shaped like one.
        live.update(_SHA.findall(record or ""))
    manifests: set[str] = set()
    for manifest, delta in conn.execute(select(commits.c.manifest, commits.c.delta)):
        manifests.add(manifest)
        if delta:
            live.add(delta)
    return live | manifests, directories, manifests


def _listed(
    blobs: BlobStore, directories: set[str], manifests: set[str], bad: Iterable[str] = ()
) -> set[str]:
    """The blobs the directory models' and the commits' manifests list (none of those in
    `bad` is read, nor a manifest layered on one)."""
    skip = set(bad)
    out: set[str] = set()
    for sha in directories - skip:
        out.update(str(f["sha256"]) for f in json.loads(blobs.get_bytes(sha)))
    for sha in manifests - skip:
        out.update(_manifest_chain(blobs, sha, skip))
    return out


def live_blobs(conn: Connection, blobs: BlobStore) -> set[str]:
    """Every blob the metadata references (see the module notes)."""
    live, directories, manifests = _referenced(conn)
    return live | _listed(blobs, directories, manifests)


def blob_problems(
    conn: Connection, blobs: BlobStore, progress: Callable[[int, int], None] | None = None
) -> tuple[int, list[str]]:
    """Every blob the metadata references (as `gc` keeps them), read back and hashed: how many
    were checked, and one line for each that is missing or does not hash to its name (naming
    the item it holds, where it is one). The manifests are checked before what they list is
    read from them; one that does not hold is reported, and what it lists is not checked.
    `progress(done, total)`: blobs checked (the total grows once the manifests are read)."""
    roots, directories, manifests = _referenced(conn)
    wrong: dict[str, str] = {}
    done = 0

    def check(shas: set[str], total: int) -> None:
        nonlocal done
        for sha, problem in blobs.check_many(blobs.in_read_order(sorted(shas))):
            done += 1
            if problem:
                wrong[sha] = problem
            if progress:
                progress(done, total)

    check(roots, len(roots))
    listed = _listed(blobs, directories, manifests, wrong)
    check(listed - roots, len(roots | listed))
    named = conn.execute(select(items.c.id, items.c.name).where(items.c.id.in_(list(wrong))))
    names = {str(r.id): str(r.name) for r in named}
    lines = []
    for sha, problem in sorted(wrong.items()):
        what = (
            f"item {names[sha]}" if sha in names
            else "a commit's manifest" if sha in manifests
            else "a model's files" if sha in directories
            else "a blob the metadata names"
        )  # fmt: skip
        if problem == MISSING:
            lines.append(f"blob {sha[:12]} ({what}) is missing from {blobs.url}")
        else:
            lines.append(f"blob {sha[:12]} ({what}) does not hash to its name: changed or damaged")
    return done, lines


def _manifest_chain(blobs: BlobStore, sha: str, skip: set[str] | None = None) -> set[str]:
    """A manifest, the manifests it is layered on, and the blobs their rows name (stopping
    at one in `skip`)."""
    out: set[str] = set()
    next_sha: str | None = sha
    while next_sha is not None and next_sha not in out and next_sha not in (skip or ()):
        out.add(next_sha)
        f = pq.ParquetFile(blobs.path(next_sha))
        if "blob" in f.schema_arrow.names:
            named = f.read(columns=["blob"]).column("blob").drop_null().to_pylist()
            out.update(str(b) for b in named if b)
        base = (f.schema_arrow.metadata or {}).get(b"assay.base")
        next_sha = base.decode() if base is not None else None
    return out


def gc(ws: Workspace) -> dict[str, Any]:
    """Collect the workspace's unreferenced blobs; returns what was removed and kept."""
    with locks.blob_collection(ws.db):
        with ws.db.read() as conn:
            live = live_blobs(conn, ws.blobs)
        report: CollectReport = ws.blobs.collect(live)
    out = {**report.to_dict(), "store": ws.blobs.url}
    with ws.db.begin() as conn:
        audit.append(conn, ws.actor, "gc", f"blobs:{ws.blobs.url}"[:500], report.to_dict())
    log.info("gc: %s", out)
    return out
