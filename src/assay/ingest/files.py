"""Ingest files and folders into items.

Hashing and header reading run in parallel worker processes that stage new
blobs (appended to one pack file per worker; large ones as temporary files);
the main process then makes them durable with one sync, makes them visible
(pack index rows, renames) and records all new items in one transaction.
A file that cannot be read is reported by name with the reason and skipped.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection

from assay import audit
from assay._bulk import gc_paused
from assay.compute import cluster_address, runner
from assay.domain.marking import Marking, MarkingScheme
from assay.ingest._probe import (
    IMAGE_TYPES,
    ROW_TYPES,
    TEXT_TYPES,
    ProbeResult,
    is_scene,
    probe_batch,
)
from assay.ingest._scenes import any_scenes, known_scenes, record_scenes
from assay.ingest._sent import probe_sent, sent_units
from assay.ingest._told import Progress, Told, probe_batch_told, start_worker
from assay.ingest._walk import Failure, walk
from assay.ingest.sensors.klv import SECURITY_CLASSIFICATION
from assay.ingest.sensors.options import (
    COG_MEDIA_TYPE,
    SCENE_TYPES,
    VIDEO_TYPES,
    ChipOptions,
    SensorOptions,
)
from assay.markings import MarkChange, raise_markings
from assay.store import BlobStore, Database
from assay.store._sql import insert_tuples, select_in
from assay.store.blobs import Staged
from assay.store.schema import items
from assay.timeutil import now_iso

log = logging.getLogger(__name__)

KNOWN_SUFFIXES = (
    set(IMAGE_TYPES) | set(TEXT_TYPES) | set(ROW_TYPES) | set(VIDEO_TYPES) | set(SCENE_TYPES)
)
PARALLEL_MIN_FILES = 256
BATCH = 128
TELL_WAIT = 0.2  # seconds between two looks at the workers' progress while a batch runs


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)  # item ids
    duplicate: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    notes: list[Failure] = field(default_factory=list)  # ingested, but degraded
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
            "notes": [{"path": f.path, "note": f.reason} for f in self.notes],
            "item_ids": self.new + self.duplicate,
            "raised": [c.to_dict() for c in self.raised],
        }


@gc_paused()
def ingest_paths(
    db: Database,
    blobs: BlobStore,
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
    sensors: SensorOptions | None = None,
    cluster: str | None = None,
) -> IngestReport:
    """Ingest every file under `paths`. Re-ingesting the same bytes is a no-op: the items
    keep the metadata they were made with, and a note per file names the keys where this
    run's differs (other options or `source`; the path alone is no difference).

    Hashing, frame extraction and chipping run on a local process pool, or on the Dask
    cluster at `cluster` (default ``ASSAY_CLUSTER``; the files' bytes are sent to its
    workers, which stage blobs in the shared blob store; see `assay.ingest._sent`).

    A video becomes an item and its sampled frames derived items, a georeferenced scene an
    item (a COG) and its chips derived items; `sensors` sets how. A scene file ingested before
    with the same chip options (found by its sha256, see `assay.ingest._scenes`) is one
    duplicate, neither converted nor chipped again, unless `marking` is given (then it is read
    again, so its chips' markings are raised with it; another `source` is noted as for any
    item, see `_scenes_kept`). Links out of `paths` are read only with
    `follow_symlinks`; see `walk` for what is left out.

    `progress(done, total)` is told the bytes of the files read: a video or scene counts as
    its frames are decoded or its chips cut, in this process or a pool's worker (on a cluster,
    as each unit of files comes back). See `assay.ingest._told`.
    """
    skipped: list[Failure] = []
    files = list(walk(paths, follow_symlinks=follow_symlinks, skipped=skipped))
    report = IngestReport(files=len(files), skipped=skipped)
    for f in skipped:
        log.info("skipped %s: %s", f.path, f.reason)
    marking_text = scheme.render(marking or Marking())
    opts = sensors or SensorOptions()
    with db.read() as conn:
        scenes_held = any_scenes(conn)
    # Where there is no scene yet, the workers hash scenes beside their conversion.
    shas = _scene_shas(files) if scenes_held else {}
    if shas and marking is None:
        with db.read() as conn:
            known = known_scenes(conn, shas, opts.chips)
        for path in files:
            if path in known:
                report.duplicate.append(known[path])
                log.info("%s: ingested before with these chip options", path)
        files = [f for f in files if f not in known]
        if known:
            with db.read() as conn:
                report.notes.extend(_scenes_kept(conn, known, opts.chips, source))
    results = _probe_all(
        files, blobs, text_field, source, progress, workers, sensors, cluster, shas
    )

    # sha -> (blob, the item's row without `created`, the file it came from)
    staged: dict[str, tuple[Staged | None, tuple[object, ...], str]] = {}
    scenes: list[tuple[str, str]] = []  # (item id, metadata) of each scene read
    # Per file: derived items (frames, chips) whose bytes an item made from another file holds.
    elsewhere: dict[str, int] = {}
    # Per file: its frames or chips whose bytes an earlier one of the same file has (uniform areas).
    within: dict[str, int] = {}
    for res in results:
        if res.error:
            report.failed.append(Failure(res.path, res.error))
            log.info("skipped %s: %s", res.path, res.error)
            continue
        report.notes.extend(Failure(res.path, note) for note in res.notes)
        for p in res.items:
            if p.media_type == COG_MEDIA_TYPE:
                scenes.append((p.sha, p.meta_text))
            if p.sha in staged:
                # The same bytes twice in one run: one item, and the second copy a duplicate
                # (a second staged copy, from another worker, is never published).
                if p.staged and p.staged.tmp and staged[p.sha][0] != p.staged:
                    Path(p.staged.tmp).unlink(missing_ok=True)
                report.duplicate.append(p.sha)
                if p.parent is not None and staged[p.sha][1][_PARENT] != p.parent:
                    elsewhere[res.path] = elsewhere.get(res.path, 0) + 1
                elif p.parent is not None and staged[p.sha][2] == res.path:
                    within[res.path] = within.get(res.path, 0) + 1
                continue
            item_marking = _with_floor(scheme, marking or Marking(), p.marking_floor)
            # In the order of _ITEM_COLUMNS.
            row = (p.sha, p.media_type, p.size, p.width, p.height, p.name, source, p.meta_text,
                   p.meta_hash, item_marking, p.parent, p.derivation)  # fmt: skip
            staged[p.sha] = (p.staged, row, res.path)

    new_blobs = [blob for blob, _, _ in staged.values() if blob is not None]
    blobs.make_durable(new_blobs)
    blobs.publish_many(new_blobs)
    created = now_iso()
    with db.begin() as conn:
        # New or duplicate is decided inside the write transaction, so two ingests of the
        # same bytes at once cannot both insert them: SQLite's write lock orders them, and on
        # PostgreSQL (read committed) the trail's lock, taken before the items are read.
        audit.lock_trail(conn)
        existing = _existing_parents(conn, list(staged))
        new_rows: list[tuple[object, ...]] = []
        other_meta: dict[str, str] = {}  # sha -> path: met again with other metadata
        for sha, (_blob, item_row, path) in staged.items():
            if sha not in existing:
                new_rows.append((*item_row, created))
                report.new.append(sha)
            else:
                report.duplicate.append(sha)
                parent, meta_hash = existing[sha]
                if item_row[_PARENT] is not None and parent != item_row[_PARENT]:
                    elsewhere[path] = elsewhere.get(path, 0) + 1
                elif meta_hash != item_row[_META_HASH]:
                    other_meta[sha] = path
        report.notes.extend(_metadata_kept(conn, staged, other_meta))
        declared = {sha for sha, (_b, row, _p) in staged.items() if row[9] != marking_text}
        if marking is not None or declared:
            # Meeting an item again with a marking of its own (given, or declared by the file:
            # a video's KLV security set) can only raise it.
            wanted = {sha: str(staged[sha][1][9]) for sha in report.duplicate if sha in staged}
            report.raised = raise_markings(conn, scheme, actor, wanted, via="ingest")
        if new_rows:
            # In key order: the items table is clustered on the id, and sorted inserts touch
            # each B-tree page once instead of at random.
            new_rows.sort(key=lambda r: str(r[0]))
            _insert_items(conn, new_rows)
        record_scenes(conn, scenes, created)
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
                # Binds each new item's marking to this signed event (`audit.marking_sum`).
                "items_sum": audit.marking_sum((str(r[0]), str(r[_MARKING])) for r in new_rows),
            },
        )
    report.notes.extend(
        Failure(
            path,
            f"{n} frame(s) or chip(s) have the bytes of items made from another file: they "
            "stay that file's (name, parent, metadata) and are not listed under this one",
        )
        for path, n in elsewhere.items()
    )
    report.notes.extend(
        Failure(
            path,
            f"{n} frame(s) or chip(s) have the bytes of an earlier one of this file (a uniform "
            "area): one item holds them, under the first one's name, window or time",
        )
        for path, n in within.items()
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


_MARKING = _ITEM_COLUMNS.index("marking")
_META_TEXT = _ITEM_COLUMNS.index("metadata")
_META_HASH = _ITEM_COLUMNS.index("metadata_hash")
_PARENT = _ITEM_COLUMNS.index("parent_id")


def _insert_items(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    # Plain DB-API executemany: tens of thousands of rows, no per-row statement objects.
    insert_tuples(conn, items, _ITEM_COLUMNS, rows)


def _with_floor(scheme: MarkingScheme, marking: Marking, floor: str | None) -> str:
    """The item's marking: the one given, raised to the level the file declares (a video's
    KLV security set) where that is higher. A level the scheme lacks (RESTRICTED in the
    default scheme) counts as the next level above it that the scheme has."""
    if floor is None:
        return scheme.render(marking)
    ranked = tuple(SECURITY_CLASSIFICATION.values())
    name = floor.upper()
    candidates = (
        [n for n in ranked[ranked.index(name) :] if n in scheme.levels] if name in ranked else []
    )
    if name in scheme.levels:
        candidates = [name]
    if not candidates:
        # Unknown to us: the highest level the scheme has, never lower.
        candidates = [scheme.levels[-1]]
    declared = Marking(scheme.levels.index(candidates[0]), ())
    return scheme.render(scheme.highest([marking, declared]))


def _existing_parents(conn: Connection, ids: list[str]) -> dict[str, tuple[str | None, str]]:
    """Which of `ids` are items already, each with the item it was made from and the hash of
    its metadata."""
    cols = [items.c.id, items.c.parent_id, items.c.metadata_hash]
    return {r.id: (r.parent_id, r.metadata_hash) for r in select_in(conn, cols, items.c.id, ids)}


def _metadata_kept(
    conn: Connection,
    staged: dict[str, tuple[Staged | None, tuple[object, ...], str]],
    other: dict[str, str],
) -> list[Failure]:
    """A note per file whose items were ingested before with other metadata (other KLV,
    sampling or `--source` options, a newer reader): an item is its bytes, so it keeps the
    metadata it was made with, and the note says where this run's differs. The file's path
    alone (the same bytes from another place) is not a difference worth a note."""
    from assay.domain.canonical import read_metadata

    per_file: dict[str, tuple[int, set[str]]] = {}
    cols = [items.c.id, items.c.metadata]
    for r in select_in(conn, cols, items.c.id, list(other)):
        new = read_metadata(str(staged[r.id][1][_META_TEXT]))
        _count_kept(per_file, other[r.id], read_metadata(r.metadata), new)
    return _kept_notes(per_file)


def _scenes_kept(
    conn: Connection, known: dict[str, str], options: ChipOptions, source: str
) -> list[Failure]:
    """`_metadata_kept` for scenes found again by their sha256 (`known`: path -> the scene's
    item), which are not read again: of the scene and its chips cut with `options` (the
    windows they would be cut at again), those whose metadata this run's `source` would
    change. Everything else in their metadata comes of the file's bytes and the chip options,
    the same by how the scene was found."""
    from assay.domain.canonical import read_metadata
    from assay.ingest.sensors.raster import chip_windows

    scene_ids = list(set(known.values()))
    cols = [items.c.id, items.c.width, items.c.height, items.c.metadata]
    scenes = {r.id: r for r in select_in(conn, cols, items.c.id, scene_ids)}
    chips: dict[str, list[dict[str, object]]] = {}
    cols = [items.c.parent_id, items.c.metadata, items.c.derivation]
    for r in select_in(conn, cols, items.c.parent_id, scene_ids):
        at = _window_of(r.derivation)
        chips.setdefault(r.parent_id, []).append({"at": at, "metadata": r.metadata})
    per_file: dict[str, tuple[int, set[str]]] = {}
    for path, scene_id in known.items():
        scene = scenes.get(scene_id)
        if scene is None or scene.width is None or scene.height is None:
            continue
        cut = set(chip_windows(scene.width, scene.height, options))
        texts = [scene.metadata] + [
            str(c["metadata"]) for c in chips.get(scene_id, []) if c["at"] in cut
        ]
        for text in texts:
            old = read_metadata(text)
            new = {k: v for k, v in old.items() if k != "source"}
            if source:
                new["source"] = source
            _count_kept(per_file, path, old, new)
    return _kept_notes(per_file)


def _window_of(derivation: str | None) -> tuple[object, ...]:
    """(col, row, width, height) of a chip's derivation (Nones for any other item's)."""
    try:
        window = json.loads(derivation or "{}").get("window")
    except (ValueError, AttributeError):
        window = None
    window = window if isinstance(window, dict) else {}
    return tuple(window.get(k) for k in ("col", "row", "width", "height"))


def _count_kept(
    per_file: dict[str, tuple[int, set[str]]],
    path: str,
    old: dict[str, object],
    new: dict[str, object],
) -> None:
    """Count an item of the file at `path` whose metadata differs in more than its path."""
    keys = _differing(old, new) - {"path"}
    if keys:
        n, found = per_file.get(path, (0, set()))
        per_file[path] = (n + 1, found | keys)


def _kept_notes(per_file: dict[str, tuple[int, set[str]]]) -> list[Failure]:
    return [
        Failure(
            path,
            f"{n} item(s) of this file were ingested before with other metadata (differing in "
            f"{', '.join(sorted(keys))}): an item is its bytes, so each keeps the metadata it "
            "was made with and this run's is not stored",
        )
        for path, (n, keys) in per_file.items()
    ]


def _differing(old: dict[str, object], new: dict[str, object], at: str = "") -> set[str]:
    """The dotted keys whose values differ between two metadata dicts."""
    out: set[str] = set()
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out |= _differing(a, b, f"{at}{key}.")
        else:
            out.add(f"{at}{key}")
    return out


def _scene_shas(files: list[str]) -> dict[str, str]:
    """The sha256 of each scene among `files` (one read, the only hash of the file: the
    workers are given it), to find scenes ingested before without converting them."""
    out: dict[str, str] = {}
    for path in files:
        if os.path.splitext(path)[1].lower() not in SCENE_TYPES:
            continue
        try:
            if is_scene(path):  # rasterio is there: so is the scene module
                from assay.ingest.sensors.raster import sha256_path

                out[path] = sha256_path(path)
        except OSError:
            continue  # the probe reports it
    return out


def _probe_all(
    files: list[str],
    blobs: BlobStore,
    text_field: str,
    source: str,
    progress: Progress | None,
    workers: int | None,
    sensors: SensorOptions | None = None,
    cluster: str | None = None,
    shas: dict[str, str] | None = None,
) -> Iterator[ProbeResult]:
    """Results in file order, as the batches finish: the caller digests them while the
    workers go on (`shas`: scenes' sha256, hashed already)."""
    told = Told(files, progress) if progress else None
    if cluster_address(cluster) is not None:
        units = sent_units(files, blobs.url, text_field, source, sensors, shas)
        with runner(cluster, blob_url=blobs.url) as run:
            for batch_results in run.map(probe_sent, units):
                yield from batch_results
                if told:
                    told.finish(r.path for r in batch_results)
        return
    jobs = [(p, p) for p in files]
    batches = [jobs[i : i + BATCH] for i in range(0, len(jobs), BATCH)]
    n_workers = workers or os.cpu_count() or 1
    if len(jobs) < PARALLEL_MIN_FILES or n_workers == 1:
        tell = told.part if told else None
        for batch in batches:
            yield from probe_batch(batch, blobs.url, text_field, source, sensors, shas, tell)
            if told:
                told.finish(rel for _, rel in batch)
        return
    parts: multiprocessing.Queue[tuple[str, int, int]] | None = (
        multiprocessing.Queue() if told else None
    )
    with ProcessPoolExecutor(
        max_workers=n_workers, initializer=start_worker, initargs=(parts,)
    ) as pool:
        probe = probe_batch_told if told else probe_batch
        futures = [
            pool.submit(probe, b, blobs.url, text_field, source, sensors, _of(shas, b))
            for b in batches
        ]
        for batch, fut in zip(batches, futures, strict=True):
            while told and not fut.done():
                told.drain(parts, TELL_WAIT)
            yield from fut.result()
            if told:
                told.drain(parts, 0)  # what came meanwhile: the queue's pipe never fills
                told.finish(rel for _, rel in batch)


def _of(shas: dict[str, str] | None, batch: list[tuple[str, str]]) -> dict[str, str]:
    """The hashes of one batch's files (a worker is sent only those)."""
    return {rel: shas[rel] for _, rel in batch if shas and rel in shas}
