"""COCO object detection JSON: boxes and polygons with classes.

Reading: ``path`` is the JSON file (or a folder holding ``annotations.json``, ``result.json`` or
a single ``*.json``). ``file_name`` is found under ``images`` (default: the JSON file's folder,
then its ``images/`` subfolder) by the rule in `assay.formats._media`, so Label Studio's COCO
export (``file_name`` = ``/data/local-files/?d=...``) reads too. Image entries that name the same
file become one media file with one annotation per entry. COCO records no authors, so every
annotation gets the default author. Each polygon of a ``segmentation`` becomes a polygon region;
an annotation without polygons becomes a box region. RLE masks (crowd regions) keep their box,
with ``iscrowd: 1`` in the attributes. Extra image keys become media metadata; extra annotation
``attributes`` become region attributes.

Writing: ``annotations.json`` (categories 1..N in ``label_names`` order, then any label not
declared there in order of first use; ``area`` = w*h for boxes and the shoelace area for polygons;
``iscrowd`` 0), images under ``images/`` (names every file system takes,
`assay.formats._portable`: a renamed image's entry keeps the item's name as ``assay_name``,
which reading takes back), and ``info.marking``. Points, spans and whole-item answers
have no COCO form and are skipped (logged).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from assay._atomic import atomic_text_file
from assay.domain.labelmap import LabelClass, LabelMap
from assay.domain.labels import Region, region_texts, trusted_region
from assay.errors import InvalidInput
from assay.formats import _arrow_json as aj
from assay.formats import _coco_fast, _coco_objects, _media
from assay.formats import _validate as v
from assay.formats._export import (
    check_unique,
    copy_media,
    image_rows,
    marking_description,
    prepare_out,
    safe_relpath,
    unique_relpaths,
    warn_dropped,
    write_marking,
)
from assay.formats._model import (
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
)
from assay.formats._portable import portable_array
from assay.formats._registry import Codec
from assay.formats._stream import Batch

ANNOTATION_FILE = "annotations.json"
# The item's name, on an image entry whose file has another (`assay.formats._portable`).
NAME_KEY = "assay_name"
_IMAGE_CORE = {"id", "file_name", "width", "height", "metadata", NAME_KEY}
# Image keys of the COCO format itself: read into media metadata, written back at top level.
_IMAGE_KEYS = ("license", "coco_url", "flickr_url", "date_captured")


def read(path: Path, images: Path | None = None, *, encoded: bool = False) -> ImportBundle:
    """Read a COCO JSON file into an `ImportBundle`, validating all of it first.

    With `encoded`, each annotation comes with its regions already encoded
    (`ImportedAnnotation.encoded`), polygon points spliced from the file's own number text
    where it is canonical (`_coco_points`): an import's way, many times faster on big files.
    """
    path = _find_json(Path(path))
    f = path.name
    fast: _coco_fast.Doc | _coco_fast.RawDoc | None
    try:
        fast = _coco_fast.decode_raw(path) if encoded else _coco_fast.decode(path)
    except RecursionError:  # nested too deep for the fast decoder: the validating path says so
        fast = None
    if fast is not None:
        doc: dict[str, Any] = {"info": fast.info, "licenses": fast.licenses}
        raw_cats, raw_images = fast.categories, fast.images
        raw_anns: list[Any] = fast.annotations
    else:  # the validating path: it names what is wrong with the file
        doc = v.need_obj(v.load_json(path), f, "top level")
        raw_cats = v.need_list(v.need_key(doc, "categories", f, ""), f, "categories")
        raw_images = v.need_list(v.need_key(doc, "images", f, ""), f, "images")
        raw_anns = v.need_list(doc.get("annotations", []), f, "annotations")
    info = doc.get("info")
    marking = info.get("marking") if isinstance(info, dict) else None
    roots = [Path(images)] if images is not None else [path.parent, path.parent / "images"]

    cats: dict[Any, str] = {}
    label_names: list[str] = []
    classes: list[LabelClass] = []
    for i, c in enumerate(raw_cats):
        place = f"categories[{i}]"
        c = v.need_obj(c, f, place)
        cid = _need_id(v.need_key(c, "id", f, place), f, place + ".id")
        name = v.need_str(v.need_key(c, "name", f, place), f, place + ".name")
        if cid in cats:
            v.fail(f, place + ".id", f"duplicate category id {cid!r}")
        if name in label_names:
            v.fail(f, place + ".name", f"duplicate category name {name!r}")
        cats[cid] = name
        label_names.append(name)
        extra = {k: val for k, val in c.items() if k not in ("id", "name")}
        if isinstance(cid, int):
            classes.append(LabelClass(name, cid, extra))
    dataset_meta = {
        "coco": {
            k: doc[k]
            for k in ("info", "licenses")
            if doc.get(k) is not None and doc[k] not in ({}, [])
        }
    }

    media: dict[Path, ImportedMedia] = {}
    by_image: dict[Any, tuple[ImportedMedia, ImportedAnnotation]] = {}
    folders = _media.Folders()
    for i, img in enumerate(raw_images):
        place = f"images[{i}]"
        img = v.need_obj(img, f, place)
        iid = _need_id(v.need_key(img, "id", f, place), f, place + ".id")
        if iid in by_image:
            v.fail(f, place + ".id", f"duplicate image id {iid!r}")
        ref = v.need_str(v.need_key(img, "file_name", f, place), f, place + ".file_name")
        file = _resolve(ref, roots, folders)
        if file is None:
            where = " or ".join(str(r) for r in roots)
            v.fail(f, place + ".file_name", f"image {ref!r} not found in {where}")
        m = media.get(file)
        if m is None:
            w, h = _size(img, file, f, place)
            meta = {k: val for k, val in img.items() if k not in _IMAGE_CORE}
            if isinstance(img.get("metadata"), dict):
                meta.update(img["metadata"])
            given = img.get(NAME_KEY)
            name = given if isinstance(given, str) and given else _media.media_name(ref)
            m = ImportedMedia(name=name, path=file, width=w, height=h, metadata=meta)
            m.marking = marking if isinstance(marking, str) else None
            if isinstance(iid, int):
                m.number = iid
            media[file] = m
        ann = ImportedAnnotation(regions=[], source_id=str(iid))
        m.annotations.append(ann)
        by_image[iid] = (m, ann)

    if isinstance(fast, _coco_fast.RawDoc):
        if not _encode_annotations(fast.annotations, by_image, cats, f):
            return read(path, images)  # a segmentation of the wrong type: named by that path
    else:
        for i, a in enumerate(raw_anns):
            ann, found = _annotation(i, a, by_image, cats, f)
            ann.regions.extend(found)

    return ImportBundle(
        media=list(media.values()),
        label_names=label_names,
        source=path,
        # String category ids have no numeric form: those classes get the next free ids.
        label_map=LabelMap(tuple(classes)),
        dataset_meta=dataset_meta if dataset_meta["coco"] else {},
    )


def _annotation(
    i: int,
    a: Any,
    by_image: dict[Any, tuple[ImportedMedia, ImportedAnnotation]],
    cats: dict[Any, str],
    f: str,
) -> tuple[ImportedAnnotation, list[Region]]:
    """The regions of ``annotations[i]`` (a typed `_coco_fast.Ann` or a dict) and the image's
    annotation they belong to, validated (naming the failing field)."""
    if isinstance(a, _coco_fast.Ann):
        got = by_image.get(a.image_id)
        label = cats.get(a.category_id)
        if got is not None and label is not None:
            m, ann = got
            found = _coco_fast.regions(a, label, m.width, m.height, ann.author)
            if found is None:
                a_dict = msgspec.structs.asdict(a)
                found = _coco_objects.to_regions(
                    {k: val for k, val in a_dict.items() if val is not None},
                    label,
                    m,
                    f,
                    f"annotations[{i}]",
                    ann.author,
                )
            return ann, found
        a = {k: val for k, val in msgspec.structs.asdict(a).items() if val is not None}
    place = f"annotations[{i}]"
    a = v.need_obj(a, f, place)
    iid = _need_id(v.need_key(a, "image_id", f, place), f, place + ".image_id")
    if iid not in by_image:
        v.fail(f, place + ".image_id", f"unknown image id {iid!r}")
    cid = _need_id(v.need_key(a, "category_id", f, place), f, place + ".category_id")
    if cid not in cats:
        known = ", ".join(str(k) for k in cats) or "none"
        v.fail(f, place + ".category_id", f"unknown category id {cid!r} (known: {known})")
    m, ann = by_image[iid]
    return ann, _coco_objects.to_regions(a, cats[cid], m, f, place, ann.author)


def _encode_annotations(
    anns: list[_coco_fast.RawAnn],
    by_image: dict[Any, tuple[ImportedMedia, ImportedAnnotation]],
    cats: dict[Any, str],
    f: str,
) -> bool:
    """Fill each image's `ImportedAnnotation.encoded` with the regions of `anns`, in file
    order: single polygon rings in canonical number text straight from the file, the rest
    through `_annotation`. False when an annotation is not of `_coco_fast.Ann`'s types."""
    lists: dict[int, list[tuple[bytes, bytes]]] = {}  # each image's, by id()
    for _m, ann in by_image.values():
        ann.encoded = lists[id(ann)] = []
    # Which annotations may be plain polygons (the rest of `_coco_fast.regions`' conditions
    # is checked on their text, all at once), with the image's annotation each would go to.
    tol = v.BOUNDS_TOLERANCE_PX
    picked: list[int] = []
    owner: list[ImportedAnnotation | None] = [None] * len(anns)
    hi_x: list[float] = []
    hi_y: list[float] = []
    boxed: list[bool] = []
    for i, a in enumerate(anns):
        got = by_image.get(a.image_id)
        if got is None or a.category_id not in cats or a.attributes or a.iscrowd not in (0, 1):
            continue
        m = got[0]
        if m.width is None or m.height is None or not len(a.segmentation):
            continue
        picked.append(i)
        owner[i] = got[1]
        hi_x.append(m.width + tol)
        hi_y.append(m.height + tol)
        boxed.append(a.bbox is not None)
    points: list[bytes | None] = [None] * len(anns)
    if picked:
        from assay.formats._coco_points import polygon_points

        for i, p in zip(
            picked,
            polygon_points([anns[i].segmentation for i in picked], hi_x, hi_y, boxed, tol),
            strict=True,
        ):
            points[i] = p
    texts = _PolygonTexts()
    for i, (a, p, owned) in enumerate(zip(anns, points, owner, strict=True)):
        if p is not None and owned is not None:
            pair = texts(a, cats[a.category_id], owned.author, p)
            if pair is not None:
                lists[id(owned)].append(pair)
                continue
        typed = _coco_fast.typed(a)
        if typed is None:
            return False
        ann, found = _annotation(i, typed, by_image, cats, f)
        lists[id(ann)].extend(
            region_texts(r if r.author else trusted_region({**r.__dict__, "author": ann.author}))
            for r in found
        )
    return True


class _PolygonTexts:
    """The `region_texts` of a polygon region of one ring from an annotation's fields and its
    points' JSON text, written as `canonical_json` writes them (keys sorted)."""

    def __init__(self) -> None:
        self._json: dict[str, bytes] = {}
        self._tails: dict[str, tuple[bytes, bytes]] = {}  # by label: after the id, the key's
        self._heads: dict[str, bytes] = {}  # by author: after the attributes, up to the id

    def _string(self, s: str) -> bytes:
        got = self._json.get(s)
        if got is None:
            got = self._json[s] = json.dumps(s, ensure_ascii=False).encode()
        return got

    def __call__(
        self, a: _coco_fast.RawAnn, label: str, author: str, points: bytes
    ) -> tuple[bytes, bytes] | None:
        area = a.area
        if area is None:
            attrs = b'{"iscrowd":1}' if a.iscrowd else b"{}"
        elif area - area == 0:  # finite: written as json.dumps writes a float
            crowd = b',"iscrowd":1}' if a.iscrowd else b"}"
            attrs = b'{"area":' + float.__repr__(area).encode() + crowd
        else:
            return None
        rid = a.id
        if rid is None:
            id_text = b'""'
        elif isinstance(rid, int):
            id_text = b'"%d"' % rid
        else:
            id_text = self._string(rid)
        score = b"}"
        if a.score is not None:
            if a.score - a.score != 0:
                return None
            score = b',"score":' + float.__repr__(a.score).encode() + b"}"
        tails = self._tails.get(label)
        if tails is None:
            tail = b',"kind":"polygon","label":' + self._string(label) + b',"points":'
            tails = self._tails[label] = (tail, b',"control":"label"' + tail)
        head = self._heads.get(author)
        if head is None:
            head = self._heads[author] = (
                b',"author":' + self._string(author) + b',"control":"label","id":'
            )
        record = b"".join((b'{"attributes":', attrs, head, id_text, tails[0], points, score))
        return record, b"".join((b'{"attributes":', attrs, tails[1], points, b"}"))


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``annotations.json``, ``images/`` and ``MARKING.txt`` into `out_dir`.

    The file is written as the rows stream by: images go straight into it and annotations into
    a side file appended after them, so memory does not grow with the dataset.
    """
    rows = image_rows(bundle, "COCO")
    names = unique_relpaths(rows.columns, "image")
    if bundle.copy_media:
        # With its type's suffix: a file named `0001` (a PNG) is opened by no viewer.
        typed = _media.typed_names(names, rows.columns.array("media_types"))
        if typed is not names:
            check_unique(typed, "image")
        names = typed
    names, renamed = portable_array(bundle, names)
    moved = [] if renamed is None else renamed.to_pylist()
    classes = bundle.classes(("box", "polygon"))
    cat_ids = classes.ids()
    categories = [
        {"id": c.id, "name": c.name, "supercategory": "", **c.attributes} for c in classes.classes
    ]
    dropped: Counter[str] = Counter()
    counter = [0]

    def next_id() -> int:
        counter[0] += 1
        return counter[0]

    def category(label: str) -> int:
        cid = cat_ids.get(label)
        if cid is None:  # an unlabelled region: a category with an empty name
            cid = cat_ids[label] = max(cat_ids.values(), default=0) + 1
            categories.append({"id": cid, "name": label, "supercategory": ""})
        return cid

    def drop(r: Region) -> None:
        dropped[r.kind] += 1

    kept = bundle.dataset_meta.get("coco") or {}
    # The imported file's info is written back as it was; the marking is always added.
    info = dict(kept.get("info") or {}) or {
        "description": marking_description(bundle),
        "version": bundle.revision or "working",
        "contributor": "assay",
        "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        "year": datetime.now(UTC).year,
    }
    info["marking"] = bundle.marking
    licenses = kept.get("licenses") or []
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    ann_path = out_dir / ANNOTATION_FILE
    with (
        atomic_text_file(ann_path) as fh,
        tempfile.TemporaryFile("w+b", dir=out_dir) as side,
    ):
        fh.write(f'{{"info":{_dumps(info)},"licenses":{_dumps(licenses)},"images":[')
        fh.flush()
        k = 0
        any_ann = False
        meta_parts: dict[str, str] = {}

        def prepare(b: Batch, start: int) -> _Columns | None:
            if any(moved[start : start + len(b)]):
                return None  # a renamed image carries its name (`_rows_text`)
            return _batch_columns(b.table, names.slice(start, len(b)), start, meta_parts)

        # The next batch's columns are made (Arrow) while this one is written; annotation and
        # category ids are given here, in order.
        for batch in rows.batches(prepare=prepare):
            ids = names.slice(k, len(batch))
            got = None
            if batch.prepared is not None:
                got = _batch_text(batch.prepared, category, counter)
            if got is None:
                got = _rows_text(batch.rows(), ids.to_pylist(), k, category, next_id, drop)
            images, anns = got
            if len(images):
                fh.buffer.write(b"," if k else b"")
                fh.buffer.write(images)
            if len(anns):
                side.write(b"," if any_ann else b"")
                side.write(anns)
                any_ann = True
            k += len(batch)
        fh.buffer.write(b'],"annotations":[')
        side.seek(0)
        shutil.copyfileobj(side, fh.buffer, 1 << 20)
        fh.write(f'],"categories":{_dumps(categories)}}}')
    warn_dropped("COCO", dropped, bundle)
    written = [ann_path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, rows, out_dir / "images", names.to_pylist())
    return written


def _image_extra(meta: dict[str, Any]) -> dict[str, Any]:
    """The keys an image entry holds besides id, file name and size: COCO's own image keys at
    top level, the rest of the item's metadata under ``metadata``."""
    img = {key: meta[key] for key in _IMAGE_KEYS if key in meta}
    rest = {key: val for key, val in meta.items() if key not in _IMAGE_KEYS}
    if rest:
        img["metadata"] = rest
    return img


def _rows_text(
    rows: list[ExportRow],
    names: list[str],
    k: int,
    category: Callable[[str], int],
    next_id: Callable[[], int],
    drop: Callable[[Region], None],
) -> tuple[bytes, bytes]:
    """(image entries, annotations) of `rows`, the `k`th row of the export first, as JSON
    texts joined by commas."""
    images: list[dict[str, Any]] = []
    anns: list[str] = []
    for j, row in enumerate(rows):
        image_id = row.number or k + j + 1
        img = {"id": image_id, "file_name": names[j], "width": row.width, "height": row.height}
        if names[j] != safe_relpath(row.name):  # renamed (portable, typed): keep the item's
            img[NAME_KEY] = row.name
        images.append({**img, **_image_extra(row.metadata)})
        anns += _coco_objects.to_annotations(row.regions, image_id, category, next_id, drop)
    # msgspec: the values json.dumps writes (UTF-8, shortest round-trip floats), faster
    return msgspec.json.encode(images)[1:-1], ",".join(anns).encode()


@dataclass
class _Columns:
    """A batch's image entries and the parts of its annotations that need no ids (made on the
    read-ahead thread, `_batch_columns`)."""

    images: Any  # the image entries, joined by commas
    labels: Any = None  # each region's label
    of_image: Any = None  # each region's image id
    tail: Any = None  # each annotation's text after its category id


def _batch_columns(t: Any, names: Any, k: int, meta_parts: dict[str, str]) -> _Columns | None:
    """The columns of `_rows_text` of a batch (`RowStream.batches`), the `k`th row of the
    export first, with no Python object per row: for batches whose regions are all plain boxes
    (no attributes, no score); None for any other. `_batch_text` adds the ids."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed = aj.regions(t["labels"])
    if parsed is None:
        return None
    regions = parsed.flatten()
    n_regions = len(regions)
    boxes = pc.struct_field(regions, "box")
    if n_regions:
        kinds = pc.struct_field(regions, "kind")
        plain = pc.and_(pc.equal(kinds, "box"), pc.equal(pc.list_value_length(boxes), 4))
        scored = pc.struct_field(regions, "score").null_count != n_regions
        if scored or not pc.all(pc.fill_null(plain, False)).as_py():
            return None
    n = t.num_rows
    numbers = t["number"].combine_chunks()
    image_ids = pc.if_else(
        pc.equal(numbers, 0), pa.array(np.arange(k + 1, k + n + 1, dtype=np.int64)), numbers
    )
    metas = t["metadata"].combine_chunks().dictionary_encode()
    parts = []
    for text in metas.dictionary.to_pylist():
        if text not in meta_parts:
            extra = msgspec.json.encode(_image_extra(msgspec.json.decode(text))).decode()
            meta_parts[text] = "," + extra[1:-1] if len(extra) > 2 else ""
        parts.append(meta_parts[text])
    extras = pa.array(parts, pa.string()).take(metas.indices)
    images = pc.binary_join_element_wise(
        ',{"id":',
        aj.integers(image_ids),
        ',"file_name":',
        aj.strings(names),
        ',"width":',
        aj.integers(t["width"]),
        ',"height":',
        aj.integers(t["height"]),
        extras,
        "}",
        "",
    )
    done = _Columns(aj.text(images)[1:])  # each entry comes after a comma: all but the first
    if not n_regions:
        return done
    done.labels = pc.fill_null(pc.struct_field(regions, "label"), "")
    done.of_image = aj.integers(image_ids.take(pc.list_parent_indices(parsed)))
    xywh = pc.list_flatten(boxes).to_numpy(zero_copy_only=False).reshape(-1, 4)
    x, y, w, h = (xywh[:, c] for c in range(4))
    sx, sy, sw, sh = (aj.floats(c) for c in (x, y, w, h))
    x2, y2, area = (aj.floats(c) for c in (x + w, y + h, w * h))
    done.tail = pc.binary_join_element_wise(
        ',"bbox":[', sx, ",", sy, ",", sw, ",", sh, '],"area":', area,
        ',"segmentation":[[', sx, ",", sy, ",", x2, ",", sy, ",", x2, ",", y2, ",", sx, ",", y2,
        ']],"iscrowd":0}', "",
    )  # fmt: skip
    return done


def _batch_text(
    cols: _Columns, category: Callable[[str], int], counter: list[int]
) -> tuple[Any, Any]:
    """(image entries, annotations) of a batch's `_batch_columns`, annotation and category
    ids given in order, as JSON texts joined by commas."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if cols.labels is None:
        return cols.images, b""
    labels = cols.labels
    seen = pc.unique(labels)  # in order of first use, as the row path meets them
    cats = pa.array([category(s) for s in seen.to_pylist()], pa.int64())
    cat_ids = cats.take(pc.index_in(labels, value_set=seen))
    n_regions = len(labels)
    ann_ids = pa.array(np.arange(counter[0] + 1, counter[0] + n_regions + 1, dtype=np.int64))
    counter[0] += n_regions
    anns = pc.binary_join_element_wise(
        ',{"id":', aj.integers(ann_ids), ',"image_id":', cols.of_image,
        ',"category_id":', aj.integers(cat_ids), cols.tail, "",
    )  # fmt: skip
    return cols.images, aj.text(anns)[1:]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _need_id(value: Any, f: str, place: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        v.fail(f, place, f"expected an integer id, got {v.type_name(value)}")
    return value if isinstance(value, str) else v.need_int(value, f, place)


def _size(img: dict[str, Any], file: Path, f: str, place: str) -> tuple[int, int]:
    if "width" in img or "height" in img:
        w = v.need_int(v.need_key(img, "width", f, place), f, place + ".width")
        h = v.need_int(v.need_key(img, "height", f, place), f, place + ".height")
        if w <= 0 or h <= 0:
            v.fail(f, place, f"image size must be positive, got {w}x{h}")
        return w, h
    return _media.image_size(file, f"{f}: {place}")


def _resolve(ref: str, roots: list[Path], folders: _media.Folders) -> Path | None:
    for root in roots:
        found = _media.resolve(ref, root, folders)
        if found is not None:
            return found
    return None


def _find_json(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in (ANNOTATION_FILE, "result.json"):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*.json"))
    if len(found) == 1:
        return found[0]
    raise InvalidInput(
        f"{path}: expected one COCO JSON file in the folder, found {len(found)}; name the file"
    )


def read_encoded(path: Path, images: Path | None = None) -> ImportBundle:
    """`read` with the annotations encoded, for an import into a workspace."""
    return read(path, images, encoded=True)


CODEC = Codec(
    name="coco",
    read=read,
    read_encoded=read_encoded,
    write=write,
    description="COCO detection JSON (boxes, polygons, classes)",
    title="COCO",
)
