"""Garbage collection of a local blob store: dead loose files go, packs are rewritten.

A pack holding dead blobs is rewritten: its live blobs are appended to a new pack of this
process, made durable, re-indexed in one transaction, and only then is the old pack file
removed. A reader that looked the old pack up a moment before finds the file gone and looks
the blob up again (`LocalBlobStore._read`). The caller holds the collector lock
(`assay.store.locks`), so no ingest is staging meanwhile.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict
from typing import TYPE_CHECKING

from assay.store.blobs import CollectReport, Staged

if TYPE_CHECKING:
    from assay.store.blobs import LocalBlobStore

log = logging.getLogger(__name__)

# Live blobs are copied out of a pack in slices of about this many bytes.
_COPY_STEP = 64 << 20


def collect_local(store: LocalBlobStore, live: set[str]) -> CollectReport:
    report = CollectReport()
    _sweep_loose(store, live, report)
    _sweep_staging(store)
    _repack(store, live, report)
    return report


def _sweep_loose(store: LocalBlobStore, live: set[str], report: CollectReport) -> None:
    for sub in os.scandir(store.root):
        if len(sub.name) != 2 or not sub.is_dir():
            continue
        for entry in os.scandir(sub.path):
            if sub.name + entry.name in live:
                report.kept += 1
                continue
            report.freed += entry.stat().st_size
            os.unlink(entry.path)
            report.removed += 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_of(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _sweep_staging(store: LocalBlobStore) -> None:
    """Staging folders of processes that died before publishing."""
    for entry in os.scandir(store.root / "tmp"):
        pid = _pid_of(entry.name)
        if entry.is_dir() and pid and not _alive(pid):
            shutil.rmtree(entry.path, ignore_errors=True)


def _repack(store: LocalBlobStore, live: set[str], report: CollectReport) -> None:
    conn = store._index()
    by_pack: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for sha, pack, offset, length in conn.execute("SELECT sha, pack, offset, length FROM packed"):
        by_pack[pack].append((sha, offset, length))
    folder = store.root / "pack"
    on_disk = {e.name for e in os.scandir(folder)} if folder.is_dir() else set()
    for pack in sorted(set(by_pack) - on_disk):
        # Rows of a pack that is gone name nothing readable: drop them.
        with conn:
            conn.execute("DELETE FROM packed WHERE pack = ?", (pack,))
    for name in sorted(on_disk):
        rows = by_pack.get(name, [])
        if not rows:
            pid = _pid_of(name)
            if pid == os.getpid() or (pid and _alive(pid)):
                continue  # a writer's pack it has not indexed yet
            report.freed += os.path.getsize(folder / name)
            os.unlink(folder / name)
            continue
        keep = [r for r in rows if r[0] in live]
        report.kept += len(keep)
        if len(keep) == len(rows):
            continue
        dead = [r for r in rows if r[0] not in live]
        report.removed += len(dead)
        report.freed += sum(r[2] for r in dead)
        staged = _copy_live(store, name, keep)
        store.make_durable(staged)
        with conn:
            conn.execute("DELETE FROM packed WHERE pack = ?", (name,))
            conn.executemany(
                "INSERT OR REPLACE INTO packed VALUES (?, ?, ?, ?)",
                [(s.sha, s.pack, s.offset, s.length) for s in staged],
            )
        os.unlink(folder / name)
        report.repacked += 1
    store.publish_many([])  # seals this process's new pack


def _copy_live(store: LocalBlobStore, pack: str, keep: list[tuple[str, int, int]]) -> list[Staged]:
    staged: list[Staged] = []
    fd = os.open(store.root / "pack" / pack, os.O_RDONLY)
    try:
        batch: list[tuple[str, int, int]] = []
        size = 0
        for row in [*sorted(keep, key=lambda r: r[1]), ("", 0, 0)]:
            if row[0] and size < _COPY_STEP:
                batch.append(row)
                size += row[2]
                continue
            if batch:
                data = [store._pread(fd, pack, off, n) for _, off, n in batch]
                staged += store.stage_many(data, [sha for sha, _, _ in batch])
            batch, size = ([row], row[2]) if row[0] else ([], 0)
    finally:
        os.close(fd)
    log.info("repacked %s: %d live blobs kept", pack, len(staged))
    return staged
