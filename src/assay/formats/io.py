"""Moving label files in and out of a workspace: the service side of the codecs."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import select

from assay import audit
from assay.domain.canonical import finite_metadata
from assay.domain.labelmap import LabelMap
from assay.domain.labels import (
    Region,
    canonical_json,
    metadata_record,
    payload_from_json_trusted,
    payload_hash,
    payload_of_texts,
    payload_text_and_hash,
    regions_from_dicts,
    trusted_region,
)
from assay.domain.marking import Marking
from assay.errors import InvalidInput
from assay.formats import _ids, _stream
from assay.formats._media import SIZE_REPLACED
from assay.formats._model import (
    CLASS_KINDS,
    ExportAnnotation,
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedMedia,
    ItemLineage,
)
from assay.formats._stream import RowColumns, RowStream
from assay.formats._validate import check_box, check_points
from assay.ingest.sensors.options import COG_MEDIA_TYPE
from assay.markings import MarkChange, raise_markings
from assay.store import BlobStore
from assay.store._sql import insert_ignore, insert_rows, select_in
from assay.store.blobs import Staged
from assay.store.schema import annotations_table, datasets, items, project_markings, projects
from assay.timeutil import now_iso
from assay.versioning import LabelRecord, Revision, _manifest, _rows, add_item_ids, set_labels
from assay.versioning.datasets import EMPTY_HASH, lock_dataset, restore_committed
from assay.versioning.datasets import create as create_dataset
from assay.versioning.labels import label_columns

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass
class ImportReport:
    dataset: str
    media: int = 0
    new_items: int = 0
    annotations: int = 0
    new_annotations: int = 0
    regions: int = 0
    authors: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # what the file held and assay cannot
    raised: list[MarkChange] = field(default_factory=list)  # existing items marked higher
    created: bool = False  # the dataset did not exist: the import created it

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "raised": [c.to_dict() for c in self.raised]}


def _media_bytes(m: ImportedMedia, source: Path | None) -> bytes:
    if m.data is not None:
        return m.data
    if m.text is not None:
        return m.text.encode()
    if m.path is None:
        raise InvalidInput(f"{source}: media {m.name!r} has neither a file nor inline text")
    from assay.ingest import ProbeError, read_regular

    try:
        return read_regular(str(m.path))  # a FIFO or device swapped in cannot hang the import
    except ProbeError as exc:
        raise InvalidInput(f"{source}: media file {m.path}: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read media file {m.path}: {exc.strerror}") from None


def _media_type(m: ImportedMedia, data: bytes) -> tuple[str, int | None, int | None]:
    """The media type, and an image's width and height as its bytes have them: an image's
    type is what its bytes are, whatever its file's name (``images/0001``) or the file
    states; a stated type is kept where it only says more of the same bytes (a COG)."""
    stated = m.media_type
    if m.text is not None:
        return stated if stated and stated.startswith("text/") else "text/plain", None, None
    if stated is not None and stated.startswith("text/"):
        return stated, None, None  # a text item's file (assay's JSONL/Parquet export)
    from assay.ingest._probe import ProbeError, probe_image

    try:
        kind, width, height, _exif = probe_image(data)
    except ProbeError as exc:
        raise InvalidInput(f"{m.path or m.name}: {exc}") from None
    if stated in _REFINED.get(kind, ()):
        return str(stated), width, height
    return kind, width, height


def _base_type(media_type: str) -> str:
    return media_type.partition(";")[0].strip().lower()


def _retyped(staged: Sequence[tuple[str, ImportedMedia, _Stored | None]]) -> int:
    """How many media the file states another type for than their bytes have (replaced)."""
    return sum(
        stored is not None
        and m.media_type is not None
        and _base_type(m.media_type) != _base_type(stored.media_type)
        for _sha, m, stored in staged
    )


# What an import counts when a file states a media type its bytes contradict (the bytes win).
TYPE_REPLACED = "stated media types contradicting the media (replaced)"
# Stated types kept over the one the bytes probe as: they say more of the same bytes.
_REFINED = {"image/tiff": (COG_MEDIA_TYPE,)}


class _Stored(NamedTuple):
    """What the import keeps of a media file once its bytes are staged in the blob store."""

    media_type: str
    size: int
    staged: Staged | None  # None: the store holds the blob already
    width: int | None = None  # an image's, as its bytes have it
    height: int | None = None


_STAGE_FILES = 256  # media a thread takes at a time (on S3, a pack each, as ingest's batches)
_STAGE_BYTES = 32 << 20  # bytes a thread holds before it stages them
_STAGE_THREADS = 4  # reading, hashing and writing release the GIL: threads overlap on big images


def _stage_batch(
    blobs: BlobStore, batch: Sequence[ImportedMedia], source: Path | None
) -> list[tuple[str, _Stored]]:
    """Read, hash, probe and stage a batch of media, at most `_STAGE_BYTES` held at a time;
    only their hashes and types are returned, so however large the images, the import holds
    no more bytes than its threads have in hand. The first bad file is an error naming it."""
    rows: list[tuple[str, tuple[str, int | None, int | None], int]] = []
    held: dict[str, bytes] = {}
    staged: dict[str, Staged] = {}

    def stage() -> None:
        present = blobs.present(list(held))
        new = {sha: data for sha, data in held.items() if sha not in present}
        staged.update(zip(new, blobs.stage_many(list(new.values()), list(new)), strict=True))
        held.clear()

    in_hand = 0
    for m in batch:
        data = _media_bytes(m, source)
        sha = hashlib.sha256(data).hexdigest()
        rows.append((sha, _media_type(m, data), len(data)))
        if sha not in staged and sha not in held:
            held[sha] = data
            in_hand += len(data)
        if in_hand >= _STAGE_BYTES:
            stage()
            in_hand = 0
    if held:
        stage()
    return [
        (sha, _Stored(kind, size, staged.pop(sha, None), w, h)) for sha, (kind, w, h), size in rows
    ]


def _stage_media(
    blobs: BlobStore,
    media: Sequence[ImportedMedia],
    source: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[str, _Stored]]:
    """`_stage_batch` over all `media`, in order, a few batches at a time on threads: memory
    stays bounded by the batches in hand however large the images, and big images are read and
    hashed on several cores. The first error (in media order) is raised, naming its file.
    `progress(done, total)` is told of each batch stored."""
    batches = [media[k : k + _STAGE_FILES] for k in range(0, len(media), _STAGE_FILES)]
    out: list[tuple[str, _Stored]] = []
    pool = ThreadPoolExecutor(min(_STAGE_THREADS, os.cpu_count() or 1))
    try:
        for got in pool.map(lambda b: _stage_batch(blobs, b, source), batches):
            out.extend(got)
            if progress:
                progress(len(out), len(media))
    finally:
        pool.shutdown(cancel_futures=True)  # a bad file stops the batches not yet begun
    return out


def _real_sizes(staged: Sequence[tuple[str, ImportedMedia, _Stored | None]], source: Any) -> int:
    """Give each image the size its bytes have, as ingest does: where the file stated none
    (a JSONL or Parquet record without ``width``/``height``) or another (a resized copy, a
    hand edit), after checking its regions fit that size; returns how many stated sizes were
    replaced. Readers that check sizes themselves (VOC, CVAT) never leave one here."""
    replaced = 0
    for _sha, m, stored in staged:
        if stored is None or stored.width is None or stored.height is None:
            continue
        w, h = stored.width, stored.height
        stated = (m.width, m.height)
        if stated == (w, h):
            continue
        contradicts = any(s is not None for s in stated)
        told = f"stated {m.width}x{m.height}, " if contradicts else ""
        where = f"{m.name} ({told}the image is {w}x{h})"
        for a in m.annotations:
            for k, r in enumerate(a.regions or [_encoded_region(t) for t, _ in a.encoded or []]):
                _fits(r, w, h, str(source), f"{where}, region {k + 1} ({r.label})")
        for k, r in enumerate(m.record or []):
            _fits(r, w, h, str(source), f"{where}, region of record {k + 1} ({r.label})")
        m.width, m.height = w, h
        replaced += contradicts
    return replaced


def _encoded_region(text: bytes) -> Region:
    return trusted_region(msgspec.json.decode(text))


def _fits(r: Region, width: int, height: int, file: str, place: str) -> None:
    if r.box is not None:
        check_box(r.box, width, height, file, place)
    if r.points is not None:
        check_points(list(r.points), width, height, file, place)


def _base_name(name: str) -> str:
    """``Path(name).name or name``: a name with no folder in it is its own."""
    if "/" not in name and name != ".":
        return name
    return Path(name).name or name


def _item_marking(ws: Workspace, given: Marking | None, stated: str | None, where: str) -> str:
    """The higher of `--marking` and what the file itself states: importing never lowers one.
    A stated marking this workspace does not know is an error naming `where` it is stated."""
    marks = [given or Marking()]
    if stated:
        try:
            marks.append(ws.scheme.parse(stated))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: marking: {exc}") from None
    return ws.scheme.render(ws.scheme.highest(marks))


class _Floors(NamedTuple):
    """What a file's own markings mean for an import (`_file_marking`)."""

    unmarked: Marking | None  # the floor of a row that states no marking of its own
    marked: Marking | None  # the floor of a row that does
    declared: str  # the file's banner, rendered, for a dataset the import creates ("": none)


def _file_marking(ws: Workspace, bundle: ImportBundle, given: Marking | None) -> _Floors:
    """The floors an item is met with; `given` is `--marking`.

    The markings a file states for everything in it (`ImportBundle.markings`, e.g. Parquet's
    schema metadata `assay.marking`) are its banner: the highest of all it holds. A row that
    states none gets the banner. Rows that state their own are portion markings: when they
    reach the banner together (an assay export of items marked alike or not), each keeps its
    own; when the banner says more than any row (a dataset's declared marking, a project's),
    nothing says which rows it covers, so it raises every row. A stated marking this workspace
    does not know is an error naming where the file states it."""
    if not bundle.markings:
        return _Floors(given, given, "")
    stated = []
    for place, text in bundle.markings.items():
        try:
            stated.append(ws.scheme.parse(text))
        except InvalidInput as exc:
            raise InvalidInput(f"{place}: {exc}") from None
    own = ws.scheme.highest(stated)
    banner = ws.scheme.highest([given or Marking(), own])
    portions = []
    for m in bundle.media:
        if m.marking:
            with contextlib.suppress(InvalidInput):  # named with its item where the row is met
                portions.append(ws.scheme.parse(m.marking))
    explained = bool(portions) and ws.scheme.allows(ws.scheme.highest(portions), own)
    declared = "" if own == Marking() else ws.scheme.render(own)
    return _Floors(banner, given if explained else banner, declared)


def annotation_id(
    item_id: str,
    author: str,
    regions: list[Region],
    source_id: str | None,
    label_hash: str | None = None,
) -> str:
    """Deterministic, so importing the same file twice stores each annotation once."""
    h = label_hash if label_hash is not None else payload_hash(regions)
    key = canonical_json([item_id, author, h, source_id or ""])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def import_bundle(
    ws: Workspace,
    bundle: ImportBundle,
    dataset: str,
    marking: Marking | None = None,
    progress: Callable[[int, int], None] | None = None,
    strict: bool = False,
) -> ImportReport:
    """Bring media and labels into `dataset`'s working state in one transaction
    (`progress(done, total)`: media files stored so far).

    An image decides its own size: a width and height the file states that its bytes
    contradict are replaced (counted under `dropped`; with `strict` that refuses the import
    before anything is written), one the file does not state is taken from the bytes (as
    ingest does), and the image's regions must fit its real size.

    Consumes the bundle: each annotation's regions are released once stored as text.
    """
    marking_text = ws.scheme.render(marking or Marking())
    # What the file states for all it holds (its banner) raises `--marking` (never lowers it):
    # for every item, or for those without a marking of their own when theirs reach it.
    floors = _file_marking(ws, bundle, marking)
    report = ImportReport(dataset, media=len(bundle.media), dropped=bundle.dropped.to_dict())
    # Media named by item id only (no bytes in the file): the workspace must hold them.
    by_id = [
        m.path is None and m.text is None and m.data is None and bool(m.item_id)
        for m in bundle.media
    ]
    _check_known_items(
        ws, bundle, [(str(m.item_id), m) for m, n in zip(bundle.media, by_id, strict=True) if n]
    )
    carried = iter(
        _stage_media(
            ws.blobs,
            [m for m, n in zip(bundle.media, by_id, strict=True) if not n],
            bundle.source,
            progress,
        )
    )
    staged: list[tuple[str, ImportedMedia, _Stored | None]] = []
    for m, n in zip(bundle.media, by_id, strict=True):
        got = (str(m.item_id), None) if n else next(carried)
        staged.append((got[0], m, got[1]))
    resized, retyped = _real_sizes(staged, bundle.source), _retyped(staged)
    if resized:
        bundle.dropped.add(SIZE_REPLACED, resized)
    if retyped:
        bundle.dropped.add(TYPE_REPLACED, retyped)
    if resized or retyped:
        report.dropped = bundle.dropped.to_dict()
        if strict:
            raise InvalidInput(
                f"{bundle.source}: the import cannot carry {bundle.dropped.describe()}; "
                "nothing imported (--strict)"
            )
    created = now_iso()
    item_rows: dict[str, dict[str, object]] = {}
    ann_rows: list[dict[str, object]] = []
    records: dict[str, LabelRecord] = {}
    authors: set[str] = set()
    met: dict[str, str] = {}
    sha_of = {id(m): sha for sha, m, _stored in staged}  # each media's item
    source = str(bundle.source or "")
    # Each (floor, stated marking) met so far, rendered: a file of many items states few.
    marks: dict[tuple[bool, str | None], str] = {}
    for sha, m, stored in staged:
        # The marking each item is met with: the highest the file states for it (the same
        # bytes may come twice) and `--marking`; new items get it, existing ones rise to it.
        mark = marks.get((bool(m.marking), m.marking))
        if mark is None:
            mark = marks[bool(m.marking), m.marking] = _item_marking(
                ws,
                floors.marked if m.marking else floors.unmarked,
                m.marking,
                f"{bundle.source}: media {m.name!r}",
            )
        met[sha] = ws.scheme.highest_text([met[sha], mark]) if sha in met else mark
        if sha not in item_rows and stored is not None:
            meta = dict(m.metadata)
            meta.setdefault("path", m.name)
            meta_text, meta_hash = metadata_record(meta)
            item_rows[sha] = {
                "id": sha,
                "media_type": stored.media_type,
                "size": stored.size,
                "width": m.width,
                "height": m.height,
                "name": _base_name(m.name),
                "source": source,
                "metadata": meta_text,
                "metadata_hash": meta_hash,
                "marking": mark,
                # A new item made from another of this import (a chip from its scene).
                "parent_id": sha_of.get(id(m.derived_from)) if m.derived_from else None,
                "derivation": m.derivation if m.derived_from else None,
                "created": created,
            }
        human = [a for a in m.annotations if a.kind == "human"]
        for a in m.annotations:
            # Validated regions with the author filled in (model_copy costs more than the rest).
            regions = [
                r if r.author else trusted_region({**r.__dict__, "author": a.author})
                for r in a.regions
            ]
            if a.encoded is not None:  # encoded by the reader, all by `a.author`
                payload, label_hash = payload_of_texts(
                    [t[0] for t in a.encoded], [t[1] for t in a.encoded]
                )
                n_regions = len(a.encoded)
                a.encoded = None
            else:
                payload, label_hash = payload_text_and_hash(regions)
                n_regions = len(regions)
            aid = annotation_id(sha, a.author, regions, a.source_id, label_hash)
            ann_rows.append(
                {
                    "id": aid,
                    "item_id": sha,
                    "project": None,
                    "author": a.author,
                    "kind": a.kind,
                    "payload": payload,
                    "created": a.created or created,
                    "lead_time": a.lead_time,
                    "supersedes": None,
                    "source_id": a.source_id,
                }
            )
            report.annotations += 1
            if m.record is None and human and a is human[-1]:
                # The label of record is the latest human annotation the file holds for the item.
                records[sha] = LabelRecord(
                    sha,
                    [],  # the payload says it all; the regions are released below
                    [aid],
                    sorted({r.author or a.author for r in regions} | {a.author}),
                    payload,
                    label_hash,
                    n_regions=n_regions,
                )
                report.regions += n_regions
                authors.add(a.author)
            # A big file's regions are the bulk of memory: the stored text replaces them.
            a.regions = []
        if m.record is not None:
            # The file states the labels of record itself (all regions of all authors).
            mine = ann_rows[len(ann_rows) - len(m.annotations) :]
            behind = [a.of_record for a in m.annotations]
            ids = [str(r["id"]) for r, b in zip(mine, behind, strict=True) if b or not any(behind)]
            who = m.record_authors or sorted({a.author for a in m.annotations})
            records[sha] = LabelRecord(sha, m.record, ids, who)
            report.regions += len(m.record)
            authors.update(who)
    report.authors = sorted(authors)
    # Durable before the rows that name them commit (as `BlobStore.put_many` does).
    # One of each: equal bytes met by two threads were staged twice (a loose blob in one file).
    blobs = list({s.staged.sha: s.staged for _h, _m, s in staged if s and s.staged}.values())
    ws.blobs.make_durable(blobs)
    ws.blobs.publish_many(blobs)
    members = list(dict.fromkeys(sha for sha, _m, _d in staged))
    with ws.db.begin() as conn:
        existing = {r[0] for r in select_in(conn, [items.c.id], items.c.id, list(item_rows))}
        # In key order, as ingest inserts them (the table is clustered on the id).
        new_rows = []
        for k in sorted(item_rows):
            if k not in existing:
                row = item_rows[k]
                row["marking"] = met[k]
                new_rows.append(row)
        report.new_items = len(new_rows)
        if new_rows:
            insert_rows(conn, items, new_rows)
        fresh = {str(r["id"]) for r in new_rows}
        higher = {k: v for k, v in met.items() if k not in fresh}
        report.raised = raise_markings(conn, ws.scheme, ws.actor, higher, via="import")
        ds_row = conn.execute(select(datasets.c.id).where(datasets.c.name == dataset)).first()
        report.created = ds_row is None
        if ds_row is None:
            # Declared at the file's banner: the dataset stays at least that marking whatever
            # items later leave it, as the dataset the file was exported from was.
            declared = floors.declared
            ds = create_dataset(conn, dataset, declared)
            # The same event `assay dataset create` appends, in this transaction: the trail
            # says where the dataset came from, and a refused import leaves neither.
            details = {"via": "import", **({"marking": declared} if declared else {})}
            audit.append(conn, ws.actor, "dataset.create", f"dataset:{dataset}", details)
        else:
            ds = int(ds_row[0])
        # New members are written with their labels of record at once (no insert, then update),
        # but those restore_committed may still fill in (no labels in the file): set_labels.
        columns = {sha: label_columns(r) for sha, r in records.items()}
        added = add_item_ids(conn, ds, members, columns)
        wanted = {sha: m.number for sha, m, _d in staged if m.number is not None}
        _ids.assign_numbers(conn, ds, members, wanted)
        old_map = _ids.load_label_map(conn, ds)
        _ids.save_label_map(conn, ds, _imported_map(old_map, bundle), old_map)
        if bundle.dataset_meta:
            _ids.save_meta(conn, ds, bundle.dataset_meta)
        restore_committed(conn, ws.blobs, ds)
        # Annotation ids are derived from their content: those already stored are re-imports.
        ann_ids = [str(r["id"]) for r in ann_rows]
        known = select_in(conn, [annotations_table.c.id], annotations_table.c.id, ann_ids)
        report.new_annotations = len(set(ann_ids)) - len(known)
        insert_ignore(conn, annotations_table, ann_rows)
        done = {sha for sha in added if sha in columns and columns[sha]["label_hash"] != EMPTY_HASH}
        set_labels(conn, ds, [r for sha, r in records.items() if sha not in done])
        audit.append(
            conn,
            ws.actor,
            "import",
            f"dataset:{dataset}",
            {
                "file": str(bundle.source),
                "media": report.media,
                "new_items": report.new_items,
                "annotations": report.new_annotations,
                "raised": len(report.raised),
                "marking": marking_text,
                **(
                    {"file_marking": ws.scheme.render(floors.unmarked)}
                    if floors.unmarked and bundle.markings
                    else {}
                ),
                # Binds each new item's marking to this signed event (`audit.marking_sum`).
                "items_sum": audit.marking_sum((str(r["id"]), str(r["marking"])) for r in new_rows),
            },
        )
    return report


def _check_known_items(
    ws: Workspace, bundle: ImportBundle, named: list[tuple[str, ImportedMedia]]
) -> None:
    """Media named only by item id (no bytes in the file) must already be in the workspace."""
    if not named:
        return
    with ws.db.read() as conn:
        found = {r[0] for r in select_in(conn, [items.c.id], items.c.id, [s for s, _ in named])}
    missing = [(sha, m) for sha, m in named if sha not in found]
    if missing:
        sha, m = missing[0]
        why, fix = bundle.no_media
        raise InvalidInput(
            f"{bundle.source}: item {sha[:12]} ({m.name}) is not in this workspace and the file "
            f"has no media for it ({len(missing)} such item(s); {why}): import it into the "
            f"workspace it came from, or {fix}"
        )


def _imported_map(old: LabelMap, bundle: ImportBundle) -> LabelMap:
    """The stored map, then the file's declared classes (with their ids where it gives them and
    they are free), then labels its regions use, each new one appended."""
    new = old.merge(bundle.label_map) if bundle.label_map is not None else old
    new = new.extend(bundle.label_names)
    used = (
        r.label
        for m in bundle.media
        for a in m.annotations
        for r in a.regions
        if r.label is not None and r.kind in CLASS_KINDS
    )
    return new.extend(used)


def _reader(blobs: BlobStore, sha: str) -> Callable[[], bytes]:
    return lambda: blobs.get_bytes(sha)


_INDEX_COLUMNS = ["item_id", "media_type", "marking"]
_WIDE_COLUMNS = ["labels", "annotation_ids", "authors"]  # read a chunk of rows at a time
_LABEL_SCAN = 65_536  # labels parsed at a time when looking for the classes in use


def _label_source(ws: Workspace, rev: Revision) -> tuple[Any, Any, Callable[[Any, list[str]], Any]]:
    """(the index columns of every row, the position of each, a reader of the rows at some
    positions): a commit's manifest is read a row group at a time (`_manifest.Positional`),
    the working state is read whole."""
    import numpy as np
    import pyarrow as pa

    if rev.commit is not None:
        source = _manifest.Positional(ws.blobs, rev.commit.manifest)
        t, pos = source.index(_INDEX_COLUMNS)
        return t, pos.to_numpy(), source.take
    with ws.db.read() as conn:
        whole = _rows.working_rows(conn, rev.dataset_id).select(_INDEX_COLUMNS + _WIDE_COLUMNS)

    def take(positions: Any, columns: list[str]) -> Any:
        return whole.select(columns).take(pa.array(positions, pa.int64()))

    return whole.select(_INDEX_COLUMNS), np.arange(whole.num_rows, dtype=np.int64), take


def _sorted_source(
    ws: Workspace, rev: Revision
) -> tuple[Any, Any, Callable[[Any, list[str]], Any]]:
    """`_label_source` with the rows in item id order."""
    import pyarrow.compute as pc

    t, where, take = _label_source(ws, rev)
    if len(t) > 1 and not pc.all(pc.less(t["item_id"][:-1], t["item_id"][1:])).as_py():
        by_id = pc.sort_indices(t["item_id"])  # a layered manifest appends changed rows
        t, where = t.take(by_id), where[by_id.to_numpy()]
    return t, where, take


def export_bundle(ws: Workspace, rev: Revision, *, all_annotations: bool = False) -> ExportBundle:
    """Everything an exporter needs for one dataset version; rows are built a chunk at a time.

    Rows come in image-number order. Items without a number yet get one here (in item id order,
    as exports numbered them before numbers were stored), and a dataset without a stored label
    map gets one (its labels sorted by name, as before), so every later export agrees. Memory
    stays a few compact columns per item (`assay.formats._stream`), whatever the dataset's size:
    label texts are read from the manifest a row group at a time, as the rows are written.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    with ws.db.read() as conn:
        label_map = _ids.load_label_map(conn, rev.dataset_id)
        ds_meta = _ids.load_meta(conn, rev.dataset_id)
        declared = conn.execute(
            select(datasets.c.marking).where(datasets.c.id == rev.dataset_id)
        ).scalar()
    # A commit's manifest is read, and the classes in use found in it (Arrow, GIL released),
    # on a second thread while this one reads the item table.
    with ThreadPoolExecutor(1, thread_name_prefix="assay-manifest") as pool:
        if rev.commit is not None:
            index = pool.submit(_sorted_source, ws, rev)
        else:  # the working state is read from the database, on its own thread
            index = Future()
            index.set_result(_sorted_source(ws, rev))

        def classes_in_use() -> dict[str, set[str]]:
            _, where, take = index.result()
            return _labels_in_use(where, take, set(label_map.names()))

        scan = pool.submit(classes_in_use)
        with ws.db.read() as conn:
            keys, items_now = _rows.numbered_items(conn, rev.dataset_id)
            t, where, take = index.result()
            ids = t["item_id"].combine_chunks()
            if keys.equals(ids):  # every numbered item is in this version, in id order
                found = items_now
            elif (at := pc.index_in(ids, value_set=keys)).null_count:
                found = _item_table(conn, rev.dataset_id, ids.to_pylist())
            else:
                found = items_now.take(at)
            del keys, items_now
        used = scan.result()
    markings = _markings_now(ws, t["marking"].combine_chunks(), found["marking"])
    given = found["name"].combine_chunks()
    names = _unique_names(given, ids)
    marking = ws.scheme.highest_text(
        [*pc.unique(markings).to_pylist(), declared or ws.scheme.render(Marking())]
    )
    if all_annotations:  # what was said in a project is marked as that project is
        marking = ws.scheme.highest_text([marking, *_projects_marking(ws, ids.to_pylist())])
    full_map = label_map.extend(sorted(used) if not label_map else used)
    numbers = found["number"].combine_chunks()
    if numbers.null_count or full_map != label_map:
        id_list = ids.to_pylist()
        with ws.db.begin() as conn:
            # Two first exports at once number the images once: the later one waits here and
            # finds the numbers (PostgreSQL's read committed let both find none and insert).
            lock_dataset(conn, rev.dataset_id)
            assigned = _ids.assign_numbers(conn, rev.dataset_id, id_list)
            numbers = pa.array([assigned[i] for i in id_list], pa.int64())
            del assigned, id_list
            stored = _ids.load_label_map(conn, rev.dataset_id)
            _ids.save_label_map(conn, rev.dataset_id, stored.extend(full_map.names()), stored)
            full_map = _ids.load_label_map(conn, rev.dataset_id)
    by_number = numbers.to_numpy(zero_copy_only=False)
    order = np.argsort(by_number, kind="stable")
    ordered = pa.table(
        {
            "item_id": ids,
            "name": names,
            "media_type": t["media_type"],
            "width": found["width"],
            "height": found["height"],
            "number": numbers,
            "marking": markings,
            "metadata": _finite_metadata(found["metadata"]),
        }
    )
    if len(by_number) > 1 and not (by_number[1:] > by_number[:-1]).all():
        ordered = ordered.take(pa.array(order))  # numbered otherwise than in id order
    columns = RowColumns.of_table(ordered.drop_columns(["metadata"]))
    columns.unique_names = names is given  # told apart by `_unique_names` already
    metas = ordered["metadata"]
    where = where[order]  # manifest position of each row, in export order
    del ids, given, names, markings, numbers, by_number, order, t, found
    blobs = ws.blobs

    def wide(positions: Sequence[int]) -> Any:
        return take(where[np.asarray(positions, dtype=np.int64)], _WIDE_COLUMNS)

    def build(positions: Sequence[int]) -> list[ExportRow]:
        """The full rows at `positions` of the export order, labels parsed."""
        if not len(positions):
            return []
        sub = wide(positions)
        # One parse per chunk: the per-call overhead of json.loads dominates small documents.
        parsed = _decode("[" + ",".join(sub["labels"].to_pylist()) + "]")
        meta = _decode("[" + ",".join(_take(metas, positions).to_pylist()) + "]")
        authors = sub["authors"].to_pylist()
        ann_ids = sub["annotation_ids"].to_pylist()
        c = columns
        rows = [
            ExportRow(
                item_id=c.item_ids[p],
                name=c.names[p],
                media_type=c.media_types[p],
                width=c.widths[p],
                height=c.heights[p],
                marking=c.markings[p],
                metadata=meta[j],
                regions=regions_from_dicts(parsed[j]),
                read_bytes=_reader(blobs, c.item_ids[p]),
                authors=list(authors[j] or ()),
                annotation_ids=list(ann_ids[j] or ()),
                number=c.numbers[p],
            )
            for j, p in enumerate(positions)
        ]
        if all_annotations:
            _attach_annotations(ws, rows)
        return rows

    def table(positions: Sequence[int]) -> Any:
        """The rows at `positions` as one Arrow table (`RowStream.BATCH_COLUMNS`), the label
        and metadata texts as stored: for writers that work on columns."""
        sub = wide(positions)
        cols = _take(ordered, positions)
        return pa.table(
            {
                **{name: cols[name] for name in _stream.BATCH_COLUMNS[:8]},
                "labels": sub["labels"],
                "authors": sub["authors"],
                "annotation_ids": sub["annotation_ids"],
            }
        )

    return ExportBundle(
        rows=RowStream(columns, build, used, table=None if all_annotations else table),
        label_names=full_map.names(),
        dataset=rev.dataset,
        revision=rev.commit.id if rev.commit else None,
        marking=marking,
        read_media=lambda rows: blobs.read_many(RowStream.of(rows).columns.item_ids),
        label_map=full_map,
        dataset_meta=ds_meta,
        all_annotations=all_annotations,
        lineage=lambda ids: _lineage(ws, ids),
    )


def _lineage(ws: Workspace, ids: Sequence[str]) -> dict[str, ItemLineage]:
    """Each item's parent and ingest time (`ExportBundle.lineage`)."""
    cols = [items.c.id, items.c.parent_id, items.c.created]
    with ws.db.read() as conn:
        return {
            r.id: ItemLineage(r.parent_id, str(r.created))
            for r in select_in(conn, cols, items.c.id, list(ids))
        }


def _finite_metadata(texts: Any) -> Any:
    """Stored metadata texts (Arrow strings) as JSON: what older ingests stored with a NaN or
    infinity in it is read as `finite_metadata` reads it; the rest untouched."""
    import pyarrow as pa
    import pyarrow.compute as pc

    odd = pc.or_(pc.match_substring(texts, "NaN"), pc.match_substring(texts, "Infinity"))
    if not pc.any(odd).as_py():
        return texts
    return pa.array([finite_metadata(t) for t in texts.to_pylist()], texts.type)


def _take(data: Any, positions: Sequence[int]) -> Any:
    """The rows of an Arrow table or array at `positions` (a run of them is a zero-copy slice)."""
    import pyarrow as pa

    if isinstance(positions, range) and positions.step == 1:
        return data.slice(positions.start, len(positions))
    return data.take(pa.array(positions, pa.int64()))


def _item_table(conn: Any, ds: int, ids: list[str]) -> Any:
    """`_rows.numbered_item_table` of items some of which have no number yet (number null)."""
    names, widths, heights, metas, marks = _rows.item_columns(conn, ids)
    numbers = _ids.numbers_of(conn, ds, ids)
    number_list = [numbers[i] for i in ids] if numbers is not None else [None] * len(ids)
    return _rows.item_table([names, widths, heights, metas, marks, number_list])


def _markings_now(ws: Workspace, recorded: Any, now: Any) -> Any:
    """Each row's marking: an old commit states the higher of the marking it recorded and the
    item's marking now (Arrow string arrays in, one out)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.all(pc.equal(recorded, now)).as_py() is not False:
        return recorded
    higher: dict[tuple[str, str], str] = {}
    out = []
    for was, is_ in zip(recorded.to_pylist(), now.to_pylist(), strict=True):
        if was == is_:
            out.append(was)
            continue
        if (was, is_) not in higher:
            higher[was, is_] = ws.scheme.highest_text([was, is_])
        out.append(higher[was, is_])
    return pa.array(out, pa.string())


class _LabelKind(msgspec.Struct):
    """The two fields of a stored region that say which classes a dataset uses."""

    kind: str = ""
    label: str | None = None


_decode = msgspec.json.decode  # untyped: dicts and lists, as json.loads gives, at twice the speed
_LABELS_DECODER = msgspec.json.Decoder(list[list[_LabelKind]])


def _labels_in_use(
    where: Any, take: Callable[[Any, list[str]], Any], known: set[str]
) -> dict[str, set[str]]:
    """Each label of a class-bearing region (box, polygon, point, span) in the stored payloads
    at manifest positions `where`, with the kinds it is used on, in first-seen order; decoded
    in chunks (two fields of each region only) and not kept. A chunk whose labels are all
    `known` (the label map's) adds nothing: they change neither the map nor the classes."""
    used: dict[str, set[str]] = {}
    for start in range(0, len(where), _LABEL_SCAN):
        texts = take(where[start : start + _LABEL_SCAN], ["labels"])["labels"]
        if (known and _all_known(texts, known)) or _arrow_labels(texts, used):
            continue
        chunk = texts.to_pylist()
        for payload in _LABELS_DECODER.decode("[" + ",".join(chunk) + "]"):
            for r in payload:
                label, kind = r.label, r.kind
                if label is not None and kind in CLASS_KINDS:
                    kinds = used.get(label)
                    if kinds is None:
                        used[label] = {kind}
                    else:
                        kinds.add(kind)
    return used


def _all_known(texts: Any, known: set[str]) -> bool:
    """Whether every ``"label":`` key in the payloads (canonical JSON texts, as stored: no
    white space) holds a string of `known`, told without parsing them: the text after each
    such key up to the next quote. Inside a
    JSON string a quote is escaped, so each key found is a real one (of a region or of its
    attributes, which only adds labels to check); a value that is no string, or a string
    with an escaped quote, is not told apart here and answers False."""
    import json

    import pyarrow.compute as pc

    after = pc.list_flatten(pc.list_slice(pc.split_pattern(texts, '"label":'), 1))
    if not pc.all(pc.starts_with(after, '"'), min_count=0).as_py():
        return False
    for raw in pc.unique(
        pc.list_element(pc.split_pattern(after, '"', max_splits=2), 1)
    ).to_pylist():
        try:
            if json.loads(f'"{raw}"') not in known:
                return False
        except json.JSONDecodeError:
            return False
    return True


def _arrow_labels(texts: Any, used: dict[str, set[str]]) -> bool:
    """`_labels_in_use` of one chunk of payloads read by Arrow (on every core); False when
    they do not read so."""
    import pyarrow.compute as pc

    from assay.formats._arrow_json import kinds_and_labels

    got = kinds_and_labels(texts)
    if got is None:
        return False
    kinds, labels = got
    keep = pc.and_(pc.is_in(kinds, value_set=_strings(CLASS_KINDS)), pc.is_valid(labels))
    kinds, labels = kinds.filter(keep), labels.filter(keep)
    for label in pc.unique(labels).to_pylist():  # in order of first use
        used.setdefault(label, set())
    pairs = pc.unique(pc.binary_join_element_wise(labels, kinds, "\x00"))
    for pair in pairs.to_pylist():
        label, _, kind = pair.rpartition("\x00")
        used[label].add(kind)
    return True


def _strings(values: Sequence[str]) -> Any:
    import pyarrow as pa

    return pa.array(list(values), pa.string())


def _projects_marking(ws: Workspace, ids: Sequence[str]) -> list[str]:
    """The markings of the projects the annotations of `ids` were made in: each project's
    declared marking, its dataset's, and its tasks' (a SECRET project's answers on an
    UNCLASSIFIED image are what the project is: the explorer hides them below it too)."""
    with ws.db.read() as conn:
        names = {
            r[0]
            for r in select_in(
                conn, [annotations_table.c.project], annotations_table.c.item_id, ids
            )
            if r[0]
        }
        if not names:
            return []
        declared = conn.execute(
            select(projects.c.marking, datasets.c.marking)
            .select_from(projects.outerjoin(datasets, datasets.c.name == projects.c.dataset))
            .where(projects.c.name.in_(sorted(names)))
        ).all()
        present = conn.execute(
            select(project_markings.c.marking)
            .join(projects, projects.c.id == project_markings.c.project_id)
            .where(projects.c.name.in_(sorted(names)))
        ).scalars()
        return [m for row in declared for m in row if m] + [m for m in present if m]


def _attach_annotations(ws: Workspace, rows: list[ExportRow]) -> None:
    """Every stored annotation of each row's item, oldest first (ties by id)."""
    by_item = {r.item_id: r for r in rows}
    cols = annotations_table.c
    with ws.db.read() as conn:
        found = select_in(
            conn,
            [
                cols.id,
                cols.item_id,
                cols.author,
                cols.kind,
                cols.payload,
                cols.created,
                cols.lead_time,
                cols.source_id,
            ],
            cols.item_id,
            list(by_item),
        )
    found.sort(key=lambda a: (a[5], a[0]))
    for a in found:
        row = by_item[a[1]]
        row.annotations.append(
            ExportAnnotation(
                id=a[0],
                author=a[2],
                kind=a[3],
                regions=payload_from_json_trusted(a[4]),
                created=a[5],
                lead_time=a[6],
                source_id=a[7],
                of_record=a[0] in row.annotation_ids,
            )
        )


def _unique_names(names: Any, ids: Any) -> Any:
    """File names to write media under; clashing names get the item id prefixed (Arrow string
    arrays in, one out)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.count_distinct(names).as_py() == len(names):
        return names
    name_list = names.to_pylist()
    seen: dict[str, int] = defaultdict(int)
    for nm in name_list:
        seen[nm] += 1
    return pa.array(
        [
            nm if seen[nm] == 1 else f"{i[:12]}_{nm}"
            for nm, i in zip(name_list, ids.to_pylist(), strict=True)
        ],
        pa.string(),
    )
