"""Parquet: one row per item, labels as a list of structs.

Columns: ``id``, ``number``, ``name``, ``file``, ``media_type``, ``width``, ``height``,
``marking``, ``metadata`` (JSON text, since metadata keys differ between items), ``labels``
(list of structs with the canonical region fields; ``attributes`` as JSON text), ``authors``,
``annotation_ids``, ``text`` (text items) and ``annotations`` (with ``--all-annotations``: every
stored annotation of the item as JSON text, as in the JSONL records). The schema metadata
carries ``assay.marking`` (the highest marking), ``assay.dataset``, ``assay.revision``,
``assay.label_names``, ``assay.label_map`` and ``assay.dataset_meta``.

With ``embed_media`` (``--embed-media``) an ``image`` column holds each image's bytes and name
as Hugging Face's ``Image`` feature stores them (``{bytes, path}``), and the schema metadata
declares the features (``huggingface``), so ``datasets.load_dataset("parquet", data_files=...)``
decodes the images; without it the file is read as plain columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _arrow_json as aj
from assay.formats import _validate as v
from assay.formats._export import (
    copy_media,
    is_image,
    media_contents,
    prepare_out,
    write_marking,
)
from assay.formats._model import ExportBundle, ExportRow, ImportBundle, ImportedMedia
from assay.formats._records import (
    annotation_records,
    file_metadata,
    inline_text,
    media_from_record,
    read_file_metadata,
    region_from_dict,
    unique_media_paths,
)
from assay.formats._registry import Codec
from assay.formats._stream import Batch

ITEMS_FILE = "items.parquet"
# Where a Parquet file states its own marking: ``assay.marking`` as this export writes it,
# ``marking`` as the geojson export's ``telemetry.parquet`` does. Read, the highest of both
# and ``--marking`` marks every row at least (`ImportBundle.markings`).
FILE_MARKING_KEYS = (b"assay.marking", b"marking")
_COLUMNS = ("id", "name", "file", "media_type", "width", "height", "marking", "metadata", "labels")


def _schema(meta: dict[bytes, bytes], embed: bool) -> Any:
    import pyarrow as pa

    # The stored region's fields (`_arrow_json.REGION`), attributes as JSON text.
    region = pa.struct(
        [pa.field("attributes", pa.string()) if f.name == "attributes" else f for f in aj.REGION]
    )
    fields = [
        ("id", pa.string()),
        ("number", pa.int64()),
        ("name", pa.string()),
        ("file", pa.string()),
        ("media_type", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("marking", pa.string()),
        ("metadata", pa.string()),
        ("labels", pa.list_(region)),
        ("authors", pa.list_(pa.string())),
        ("annotation_ids", pa.list_(pa.string())),
        ("text", pa.string()),
        ("annotations", pa.string()),
    ]
    if embed:
        features = {name: _hf_feature(t) for name, t in fields}
        features["image"] = {"_type": "Image"}
        fields.append(("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])))
        meta = {**meta, b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pa.schema(fields, metadata=meta)


_HF_DTYPES = {"string": "string", "int32": "int32", "int64": "int64", "double": "float64"}


def _hf_feature(t: Any) -> Any:
    """Hugging Face `datasets` feature (as its JSON holds it) of an Arrow type of this schema."""
    import pyarrow as pa

    if pa.types.is_struct(t):
        return {f.name: _hf_feature(f.type) for f in t}
    if pa.types.is_list(t):
        return [_hf_feature(t.value_type)]  # a list of one feature: datasets' list notation
    return {"dtype": _HF_DTYPES[str(t)], "_type": "Value"}


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``items.parquet``, ``media/`` (or the bytes inside) and ``MARKING.txt``.

    One row group per chunk of rows, written as the rows stream by, so memory does not grow
    with the dataset."""
    import pyarrow.parquet as pq

    files = unique_media_paths(bundle)
    info = file_metadata(bundle)
    meta = {f"assay.{k}".encode(): json.dumps(val).encode() for k, val in info.items()}
    meta[b"assay.marking"] = bundle.marking.encode()
    schema = _schema(meta, bundle.embed_media)
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    path = out_dir / ITEMS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    other = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            k = 0

            def prepare(batch: Batch, start: int) -> Any:
                if bundle.embed_media:
                    return None
                names = files.slice(start, len(batch)) if bundle.copy_media else None
                return _batch_table(batch.table, names, schema)

            for batch in bundle.rows.batches(prepare=prepare):
                names = files.slice(k, len(batch))
                fast = batch.prepared
                if fast is not None:
                    writer.write_table(fast)
                else:
                    rows = batch.rows()
                    writer.write_table(_table(bundle, rows, names.to_pylist(), schema))
                    other += sum(
                        not is_image(r) and not r.media_type.startswith("text/") for r in rows
                    )
                k += len(batch)
            if not k:
                writer.write_table(schema.empty_table())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    if bundle.embed_media:
        # Text travels in the `text` column; any other media has no column and is counted.
        bundle.dropped.add("media of non-image items", other)
    written = [path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, bundle.rows, out_dir, files.to_pylist())
    return written


def _table(bundle: ExportBundle, rows: list[ExportRow], files: list[str], schema: Any) -> Any:
    """One chunk of rows as a table of `schema`."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {
        "id": [r.item_id for r in rows],
        "number": [r.number for r in rows],
        "name": [r.name for r in rows],
        "file": files if bundle.copy_media else [None] * len(rows),
        "media_type": [r.media_type for r in rows],
        "width": [r.width for r in rows],
        "height": [r.height for r in rows],
        "marking": [r.marking for r in rows],
        "metadata": [json.dumps(r.metadata, ensure_ascii=False) for r in rows],
        "labels": [[_region_record(g) for g in r.regions] for r in rows],
        "authors": [r.authors for r in rows],
        "annotation_ids": [r.annotation_ids for r in rows],
        "text": [inline_text(r) for r in rows],
        "annotations": [
            json.dumps(annotation_records(r), ensure_ascii=False)
            if bundle.all_annotations
            else None
            for r in rows
        ],
    }
    if bundle.embed_media:
        cols["image"] = _embedded(bundle, rows)
    return pa.Table.from_pydict(cols, schema=schema)


def _batch_table(t: Any, files: Any, schema: Any) -> Any:
    """A batch (`RowStream.batches`) as a table of `schema`, straight from its columns: the
    stored labels parsed by Arrow, no Python object per row. None when a row needs the row
    path (a text item carries its text; a region has attributes, written as JSON text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.any(pc.starts_with(t["media_type"], "text/")).as_py():
        return None
    parsed = aj.regions(t["labels"])
    if parsed is None:
        return None
    n = t.num_rows
    structs = parsed.values
    region_type = schema.field("labels").type.value_type
    fields = [
        pa.nulls(len(structs), pa.string())
        if f.name == "attributes"
        else structs.field(f.name).cast(f.type)
        for f in region_type
    ]
    labels = pa.ListArray.from_arrays(
        parsed.offsets, pa.StructArray.from_arrays(fields, fields=list(region_type))
    )
    cols = {
        "id": t["item_id"],
        "number": t["number"],
        "name": t["name"],
        "file": files if files is not None else pa.nulls(n, pa.string()),
        "media_type": t["media_type"],
        "width": t["width"],
        "height": t["height"],
        "marking": t["marking"],
        "metadata": t["metadata"],
        "labels": labels,
        "authors": pc.fill_null(t["authors"], pa.scalar([], pa.list_(pa.string()))),
        "annotation_ids": pc.fill_null(t["annotation_ids"], pa.scalar([], pa.list_(pa.string()))),
        "text": pa.nulls(n, pa.string()),
        "annotations": pa.nulls(n, pa.string()),
    }
    return pa.table(cols).cast(schema)


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read an assay Parquet export back into an `ImportBundle`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        path = path / ITEMS_FILE
    f = path.name
    if not path.is_file():
        raise InvalidInput(f"{f}: file not found ({path})")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{f}: not a readable Parquet file: {exc}") from None
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing:
        v.fail(f, "schema", f"missing columns: {', '.join(missing)}")
    meta = table.schema.metadata or {}
    bundle = ImportBundle(media=[], source=path)
    info = {}
    for key in ("label_names", "label_map", "dataset_meta"):
        raw = meta.get(f"assay.{key}".encode())
        if raw:
            info[key] = json.loads(raw)
    read_file_metadata(info, f, bundle)
    for mark_key in FILE_MARKING_KEYS:
        if meta.get(mark_key):
            place = f"{f}: schema metadata {mark_key.decode()!r}"
            try:
                bundle.markings[place] = meta[mark_key].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{place}: not UTF-8 text") from None
    labels = dict.fromkeys(bundle.label_names)
    root = Path(images) if images is not None else path.parent
    media: list[ImportedMedia] = []
    for i, rec in enumerate(table.to_pylist()):
        place = f"row {i}"
        rec["metadata"] = v.json_cell(rec["metadata"] or "{}", f, place + ".metadata")
        regions = []
        for j, d in enumerate(rec["labels"] or []):
            rp = f"{place}.labels[{j}]"
            clean = {k: val for k, val in d.items() if val is not None}
            clean["attributes"] = v.json_cell(
                clean.get("attributes") or "{}", f, rp + ".attributes"
            )
            regions.append(region_from_dict(clean, f, rp))
        labels.update((r.label, None) for r in regions if r.label is not None)
        if rec.get("annotations") is not None:
            rec["annotations"] = v.json_cell(rec["annotations"], f, place + ".annotations")
        image = rec.get("image")
        data = image.get("bytes") if isinstance(image, dict) else None
        media.append(media_from_record(rec, regions, root, f, place, data))
    bundle.media, bundle.label_names = media, list(labels)
    return bundle


def _region_record(r: Region) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "control": r.control,
        "label": r.label,
        "box": r.box,
        "points": r.points,
        "span": r.span,
        "text": r.text,
        "value": r.value,
        "ranking": r.ranking,
        "attributes": json.dumps(r.attributes, ensure_ascii=False) if r.attributes else None,
        "score": r.score,
        "author": r.author,
    }


def _embedded(bundle: ExportBundle, rows: list[ExportRow]) -> list[dict[str, Any] | None]:
    """Each image row's bytes and name as `datasets`' ``Image`` feature stores them."""
    images = [r for r in rows if is_image(r)]
    by_id = {
        r.item_id: {"bytes": data, "path": r.name}
        for r, data in zip(images, media_contents(bundle, images), strict=True)
    }
    return [by_id.get(r.item_id) for r in rows]


CODEC = Codec(
    name="parquet",
    read=read,
    write=write,
    description="Parquet, one row per item, labels as nested structs (Hugging Face datasets)",
    title="Parquet",
    media=("",),
    embeds_media=True,
)
