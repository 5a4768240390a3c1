"""Ingest files and folders into items.

Hashing and header reading run in parallel worker processes that stage new
blobs (appended to one pack file per worker; large ones as temporary files);
the main process then makes them durable with one sync, makes them visible
(pack index rows, renames) and records all new items in one transaction.
A file that cannot be read is reported by name with the reason and skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection

from assay import audit
from assay._bulk import gc_paused
from assay.domain.marking import Marking, MarkingScheme
from assay.ingest._probe import IMAGE_TYPES, ROW_TYPES, TEXT_TYPES, ProbeResult, probe_batch
from assay.ingest._walk import Failure, walk
from assay.markings import MarkChange, raise_markings
from assay.store import Database, LocalBlobStore
from assay.store._sql import select_in
from assay.store.blobs import Staged
from assay.store.schema import items
from assay.timeutil import now_iso

log = logging.getLogger(__name__)

KNOWN_SUFFIXES = set(IMAGE_TYPES) | set(TEXT_TYPES) | set(ROW_TYPES)
PARALLEL_MIN_FILES = 256
BATCH = 128

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)  # item ids
    duplicate: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    files: int = 0
    skipped: list[Failure] = field(default_factory=list)  # not read at all (see `walk`)
    raised: list[MarkChange] = field(default_factory=list)  # existing items marked higher

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "new": len(self.new),
            "duplicate": len(self.duplicate),
            "failed": len(self.failed),
            "failures": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "skipped": len(self.skipped),
            "skips": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "item_ids": self.new + self.duplicate,
            "raised": [c.to_dict() for c in self.raised],
        }


@gc_paused()
def ingest_paths(
    db: Database,
    blobs: LocalBlobStore,
    scheme: MarkingScheme,
    paths: list[Path],
    *,
    actor: str,
    marking: Marking | None = None,
    source: str = "",
    text_field: str = "text",
    progress: Progress | None = None,
    workers: int | None = None,
    follow_symlinks: bool = False,
) -> IngestReport:
    """Ingest every file under `paths`. Re-ingesting the same bytes is a no-op.

    Links out of `paths` are read only with `follow_symlinks`; see `walk` for what is left out.
    """
    skipped: list[Failure] = []
    files = list(walk(paths, follow_symlinks=follow_symlinks, skipped=skipped))
    report = IngestReport(files=len(files), skipped=skipped)
    for f in skipped:
        log.info("skipped %s: %s", f.path, f.reason)
    marking_text = scheme.render(marking or Marking())
    results = _probe_all(files, blobs, text_field, source, progress, workers)

    # sha -> (blob, the item's row without `created`, the file it came from)
    staged: dict[str, tuple[Staged | None, tuple[object, ...], str]] = {}
    for res in results:
        if res.error:
            report.failed.append(Failure(res.path, res.error))
            log.info("skipped %s: %s", res.path, res.error)
            continue
        for p in res.items:
            if p.sha in staged:
                # The same bytes twice in one run: one item, and the second copy a duplicate
                # (a second staged copy, from another worker, is never published).
                if p.staged and p.staged.tmp and staged[p.sha][0] != p.staged:
                    Path(p.staged.tmp).unlink(missing_ok=True)
                report.duplicate.append(p.sha)
                continue
            # In the order of _ITEM_COLUMNS.
            row = (p.sha, p.media_type, p.size, p.width, p.height, p.name, source, p.meta_text,
                   p.meta_hash, marking_text, None, None)  # fmt: skip
            staged[p.sha] = (p.staged, row, res.path)

    new_blobs = [blob for blob, _, _ in staged.values() if blob is not None]
    blobs.make_durable(new_blobs)
    blobs.publish_many(new_blobs)
    created = now_iso()
    with db.begin() as conn:
        # New or duplicate is decided inside the write transaction, so two ingests of the
        # same bytes at once cannot both insert them.
        existing = _existing_markings(conn, list(staged))
        new_rows: list[tuple[object, ...]] = []
        for sha, (_blob, item_row, _path) in staged.items():
            if sha not in existing:
                new_rows.append((*item_row, created))
                report.new.append(sha)
            else:
                report.duplicate.append(sha)
        if marking is not None:
            # Meeting an item again with a marking of its own can only raise it.
            wanted = {sha: marking_text for sha in report.duplicate}
            report.raised = raise_markings(conn, scheme, actor, wanted, via="ingest")
        if new_rows:
            # In key order: the items table is clustered on the id, and sorted inserts touch
            # each B-tree page once instead of at random.
            new_rows.sort(key=lambda r: str(r[0]))
            _insert_items(conn, new_rows)
        audit.append(
            conn,
            actor,
            "ingest",
            ",".join(str(p) for p in paths)[:500],
            {
                "new": len(report.new),
                "duplicate": len(report.duplicate),
                "failed": len(report.failed),
                "skipped": len(report.skipped),
                "raised": len(report.raised),
                "marking": marking_text,
                "source": source,
            },
        )
    return report


_ITEM_COLUMNS = (
    "id",
    "media_type",
    "size",
    "width",
    "height",
    "name",
    "source",
    "metadata",
    "metadata_hash",
    "marking",
    "parent_id",
    "derivation",
    "created",
)


def _insert_items(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    # Plain DB-API executemany: tens of thousands of rows, no per-row statement objects.
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = (
        f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_ITEM_COLUMNS))})"
    )
    conn.exec_driver_sql(sql, rows)


def _existing_markings(conn: Connection, ids: list[str]) -> dict[str, str]:
    return {
        r.id: r.marking for r in select_in(conn, [items.c.id, items.c.marking], items.c.id, ids)
    }


def _probe_all(
    files: list[str],
    blobs: LocalBlobStore,
    text_field: str,
    source: str,
    progress: Progress | None,
    workers: int | None,
) -> Iterator[ProbeResult]:
    """Results in file order, as the batches finish: the caller digests them while the
    workers go on."""
    jobs = [(p, p) for p in files]
    batches = [jobs[i : i + BATCH] for i in range(0, len(jobs), BATCH)]
    total = len(jobs)
    done = 0
    n_workers = workers or os.cpu_count() or 1
    if total < PARALLEL_MIN_FILES or n_workers == 1:
        for batch in batches:
            yield from probe_batch(batch, str(blobs.root), text_field, source)
            done += len(batch)
            if progress:
                progress(done, total)
        return
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        futures = [
            pool.submit(probe_batch, b, str(blobs.root), text_field, source) for b in batches
        ]
        for fut in futures:
            batch_results = fut.result()
            yield from batch_results
            done += len(batch_results)
            if progress:
                progress(done, total)
