"""Parquet: one row per item, labels as a list of structs.

Columns: ``id``, ``name``, ``file``, ``media_type``, ``width``, ``height``, ``marking``,
``metadata`` (JSON text, since metadata keys differ between items), ``labels``
(list of structs with the canonical region fields; ``attributes`` as JSON text), ``authors``,
``annotation_ids`` and ``text`` (text items). The schema metadata carries ``assay.marking`` (the
highest marking), ``assay.dataset``, ``assay.revision`` and ``assay.label_names``.
``datasets.load_dataset("parquet", data_files=...)`` reads the file as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _validate as v
from assay.formats._export import check_unique, copy_media, prepare_out, write_marking
from assay.formats._model import ExportBundle, ImportBundle, ImportedMedia
from assay.formats._records import (
    file_metadata,
    inline_text,
    media_from_record,
    media_paths,
    region_from_dict,
)
from assay.formats._registry import Codec

ITEMS_FILE = "items.parquet"
_COLUMNS = ("id", "name", "file", "media_type", "width", "height", "marking", "metadata", "labels")


def _schema(meta: dict[bytes, bytes]) -> Any:
    import pyarrow as pa

    region = pa.struct(
        [
            ("id", pa.string()),
            ("kind", pa.string()),
            ("control", pa.string()),
            ("label", pa.string()),
            ("box", pa.list_(pa.float64())),
            ("points", pa.list_(pa.list_(pa.float64()))),
            ("span", pa.list_(pa.int64())),
            ("text", pa.string()),
            ("value", pa.float64()),
            ("ranking", pa.list_(pa.string())),
            ("attributes", pa.string()),
            ("score", pa.float64()),
            ("author", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.string()),
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
        ],
        metadata=meta,
    )


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``items.parquet``, ``media/`` and ``MARKING.txt``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = media_paths(bundle)
    check_unique(files, "media file")
    rows = bundle.rows
    info = file_metadata(bundle)
    meta = {f"assay.{k}".encode(): json.dumps(val).encode() for k, val in info.items()}
    meta[b"assay.marking"] = bundle.marking.encode()
    cols: dict[str, list[Any]] = {
        "id": [r.item_id for r in rows],
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
    }
    table = pa.Table.from_pydict(cols, schema=_schema(meta))
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    path = out_dir / ITEMS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    written = [path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, rows, out_dir, files)
    return written


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
    labels: dict[str, None] = {}
    raw_names = meta.get(b"assay.label_names")
    if raw_names:
        labels.update((str(n), None) for n in json.loads(raw_names))
    root = Path(images) if images is not None else path.parent
    media: list[ImportedMedia] = []
    for i, rec in enumerate(table.to_pylist()):
        place = f"row {i}"
        try:
            rec["metadata"] = json.loads(rec["metadata"] or "{}")
        except json.JSONDecodeError as exc:
            v.fail(f, place + ".metadata", f"invalid JSON: {exc.msg}")
        regions = []
        for j, d in enumerate(rec["labels"] or []):
            rp = f"{place}.labels[{j}]"
            clean = {k: val for k, val in d.items() if val is not None}
            try:
                clean["attributes"] = json.loads(clean.get("attributes") or "{}")
            except json.JSONDecodeError as exc:
                v.fail(f, rp + ".attributes", f"invalid JSON: {exc.msg}")
            regions.append(region_from_dict(clean, f, rp))
        labels.update((r.label, None) for r in regions if r.label is not None)
        media.append(media_from_record(rec, regions, root, f, place))
    return ImportBundle(media=media, label_names=list(labels), source=path)


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


CODEC = Codec(
    name="parquet",
    read=read,
    write=write,
    description="Parquet, one row per item, labels as nested structs (Hugging Face datasets)",
    title="Parquet",
    media=("",),
)
