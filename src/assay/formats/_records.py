"""One item as a flat record, shared by the JSONL and Parquet codecs.

A record holds ``id`` (the item id: the sha256 of its media), ``number`` (its stable image id in
the dataset), ``name``, ``file`` (the media path relative to the export folder, when the media
was written: a name every file system takes, `assay.formats._portable`, so not always
``name``), ``media_type``, ``width``, ``height``, ``marking``, ``metadata``, ``labels`` (the
labels of record: canonical regions of every author, each naming its author), ``authors``,
``annotation_ids`` and, for text items, the ``text`` itself.

Read back, ``labels`` become the item's labels of record as they are (all regions, in order)
and one stored annotation per region author. A record without media (an export made with
``--no-media``) names its item by ``id``; the workspace must already hold that item.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.domain.labelmap import LabelMap
from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _media
from assay.formats import _validate as v
from assay.formats._export import check_unique, safe_relpath, unique_relpaths
from assay.formats._model import (
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
)
from assay.formats._portable import portable, portable_array
from assay.ingest._probe import TEXT_TYPES

TEXT_MEDIA_TYPES = frozenset(TEXT_TYPES.values())

MEDIA_DIR = "media"


def media_paths(bundle: ExportBundle, rows: Sequence[ExportRow]) -> list[str]:
    """Where the media of each of `rows` goes, relative to the export folder: named as the
    item, with its media type's suffix where the name has none of it (`_media.typed_name`: a
    frame ``f.ts#t=4.500`` is ``f.ts#t=4.500.jpg``), portable (`assay.formats._portable`;
    renames counted in the bundle)."""
    names = portable(bundle, [_media.typed_name(safe_relpath(r.name), r.media_type) for r in rows])
    return [f"{MEDIA_DIR}/{name}" for name in names]


def unique_media_paths(bundle: ExportBundle) -> Any:
    """`media_paths` as an Arrow string array, refused when two rows would share a file
    (named as they are when no media is written: the records then name no file)."""
    import pyarrow.compute as pc

    columns = bundle.rows.columns
    names = unique_relpaths(columns, "media file")
    if bundle.copy_media:
        # With its type's suffix, as `media_paths`: a file named `0001` (a PNG) is opened by
        # no viewer and taken by no `assay ingest`.
        typed = _media.typed_names(names, columns.array("media_types"))
        if typed is not names:
            check_unique(typed, "media file")
        names, _ = portable_array(bundle, typed)
    return pc.binary_join_element_wise(f"{MEDIA_DIR}/", names, "")


def inline_text(row: ExportRow) -> str | None:
    """The text of a text item (None for other media)."""
    if not row.media_type.startswith("text/"):
        return None
    try:
        return row.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"item {row.item_id} ({row.name}): text is not UTF-8") from None


def region_record(r: Region) -> dict[str, Any]:
    """``r.model_dump(exclude_none=True)`` at a fraction of the cost (tuples stay tuples,
    which JSON writes as lists); the fields are plain values, so nothing needs serializing."""
    return {k: val for k, val in r.__dict__.items() if val is not None}


def region_from_dict(d: Any, f: str, place: str) -> Region:
    """Validate one canonical region, naming the failing field."""
    try:
        return Region.model_validate(v.need_obj(d, f, place))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"{f}: {place}.{loc}: {err['msg']}") from None


def media_from_record(
    rec: dict[str, Any],
    regions: list[Region],
    root: Path,
    f: str,
    place: str,
    data: bytes | None = None,
) -> ImportedMedia:
    """Rebuild an `ImportedMedia`: the labels of record as they are, and one annotation per
    distinct region author. `data` is the media itself when the file embeds it."""
    name = v.need_str(v.need_key(rec, "name", f, place), f, place + ".name")
    file, text = rec.get("file"), rec.get("text")
    item_id = rec.get("id")
    item_id = item_id if isinstance(item_id, str) and item_id else None
    path: Path | None = None
    if data is not None:
        text = None
    elif isinstance(file, str) and file:
        path = _media.resolve(file, root)
        if path is None and not isinstance(text, str):
            v.fail(f, place + ".file", f"media {file!r} not found in {root}")
    elif not isinstance(text, str) and item_id is None:
        v.fail(f, place, "neither 'file', 'text' nor the item 'id' gives the media")
    dims = []
    for key in ("width", "height"):
        val = rec.get(key)
        dims.append(None if val is None else v.need_int(val, f, f"{place}.{key}"))
    metadata = v.need_obj(rec.get("metadata") or {}, f, place + ".metadata")
    marking = rec.get("marking")
    number = rec.get("number")
    media_type = rec.get("media_type")
    if (
        isinstance(media_type, str)
        and media_type.startswith("text/")
        and media_type not in TEXT_MEDIA_TYPES
    ):
        # The server answers an item's bytes in its media type: a `text/html` or
        # `text/javascript` item would be a page or a script of its origin.
        v.fail(
            f,
            place + ".media_type",
            f"{media_type!r} is not a text type assay keeps "
            f"({', '.join(sorted(TEXT_MEDIA_TYPES))})",
        )
    authors = [str(a) for a in rec.get("authors") or []]
    m = ImportedMedia(
        name=name,
        path=path,
        text=text if path is None and isinstance(text, str) else None,
        width=dims[0],
        height=dims[1],
        metadata=dict(metadata),
        marking=marking if isinstance(marking, str) else None,
        number=None if number is None else v.need_int(number, f, place + ".number"),
        data=data,
        item_id=item_id,
        record=list(regions),
        record_authors=authors,
        media_type=media_type if isinstance(media_type, str) and media_type else None,
    )
    stored = rec.get("annotations")
    if stored is not None:
        m.annotations = _annotations(stored, f, place)
        return m
    default = authors[0] if len(authors) == 1 else "user:import"
    groups: dict[str, list[Region]] = {}
    for r in regions:
        groups.setdefault(r.author or default, []).append(r)
    ids = [str(a) for a in rec.get("annotation_ids") or []]
    for author, rs in groups.items():
        kind = "model" if author.startswith("model:") else "human"
        if author.startswith("aggregate:"):
            kind = "aggregate"
        src = ids[0] if len(ids) == 1 and len(groups) == 1 else None
        m.annotations.append(ImportedAnnotation(rs, author=author, kind=kind, source_id=src))
    return m


_KINDS = ("human", "model", "aggregate", "review")


def annotation_records(row: ExportRow) -> list[dict[str, Any]]:
    """Every stored annotation of the row (``--all-annotations``), oldest first."""
    return [
        {
            "id": a.id,
            "author": a.author,
            "kind": a.kind,
            "created": a.created,
            "lead_time": a.lead_time,
            "source_id": a.source_id,
            "of_record": a.of_record,
            "labels": [region_record(r) for r in a.regions],
        }
        for a in row.annotations
    ]


def _annotations(stored: Any, f: str, place: str) -> list[ImportedAnnotation]:
    out = []
    for k, a in enumerate(v.need_list(stored, f, place + ".annotations")):
        ap = f"{place}.annotations[{k}]"
        a = v.need_obj(a, f, ap)
        author = v.need_str(v.need_key(a, "author", f, ap), f, ap + ".author")
        kind = a.get("kind", "human")
        if kind not in _KINDS:
            v.fail(f, ap + ".kind", f"must be one of {', '.join(_KINDS)}, got {kind!r}")
        raw = v.need_list(a.get("labels") or [], f, ap + ".labels")
        regions = [region_from_dict(d, f, f"{ap}.labels[{i}]") for i, d in enumerate(raw)]
        lead = a.get("lead_time")
        out.append(
            ImportedAnnotation(
                regions,
                author=author,
                kind=kind,
                created=a.get("created") if isinstance(a.get("created"), str) else None,
                lead_time=None
                if lead is None
                else float(v.need_number(lead, f, ap + ".lead_time")),
                source_id=str(a.get("source_id") or a.get("id") or "") or None,
                of_record=bool(a.get("of_record")),
            )
        )
    return out


def file_metadata(bundle: ExportBundle) -> dict[str, Any]:
    """What the whole file carries: dataset, revision, marking, classes, count."""
    return {
        "format": "assay-items/1",
        "dataset": bundle.dataset,
        "revision": bundle.revision,
        "marking": bundle.marking,
        "label_names": bundle.label_names,
        "label_map": [[n, i] for n, i in bundle.classes().pairs()],
        "dataset_meta": bundle.dataset_meta,
        "items": len(bundle.rows),
    }


def read_file_metadata(meta: dict[str, Any], f: str, bundle: ImportBundle) -> None:
    """Declared classes (with their ids), dataset-level facts and the file's own marking (the
    highest of the export: every item is met with at least it) from `file_metadata`."""
    marking = meta.get("marking")
    if marking is not None and not isinstance(marking, str):
        v.fail(f, "marking", f"expected a marking, got {v.type_name(marking)}")
    if marking and marking.strip():
        bundle.markings[f"{f}: marking"] = marking
    bundle.label_names = [str(n) for n in meta.get("label_names") or []]
    pairs = meta.get("label_map")
    if pairs is not None:
        try:
            bundle.label_map = LabelMap.from_pairs((str(n), int(i)) for n, i in pairs)
        except (TypeError, ValueError):
            v.fail(f, "label_map", "must be a list of [name, id] pairs")
    ds_meta = meta.get("dataset_meta")
    if isinstance(ds_meta, dict):
        bundle.dataset_meta = ds_meta
