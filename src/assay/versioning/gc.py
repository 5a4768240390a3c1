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
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay import audit
from assay.store import BlobStore, CollectReport, locks
from assay.store.schema import commits, derived, eval_runs, items, models_table

if TYPE_CHECKING:
    from assay.workspace import Workspace

log = logging.getLogger(__name__)

_SHA = re.compile(r"\b[0-9a-f]{64}\b")


def live_blobs(conn: Connection, blobs: BlobStore) -> set[str]:
    """Every blob the metadata references (see the module notes)."""
    live: set[str] = set()
    for (sha,) in conn.execute(select(items.c.id)):
        live.add(sha)
    for sha, fmt in conn.execute(select(models_table.c.sha256, models_table.c.format)):
        live.add(sha)
        if fmt == "directory":  # the manifest lists one blob per file of the directory
            live.update(str(f["sha256"]) for f in json.loads(blobs.get_bytes(sha)))
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
    for sha in manifests:
        live.update(_manifest_chain(blobs, sha))
    return live


def _manifest_chain(blobs: BlobStore, sha: str) -> set[str]:
    """A manifest, the manifests it is layered on, and the blobs their rows name."""
    out: set[str] = set()
    next_sha: str | None = sha
    while next_sha is not None and next_sha not in out:
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
