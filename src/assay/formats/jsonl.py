"""JSON Lines: one object per item with its labels in canonical form.

With ``--all-annotations`` each record also holds ``annotations``: every stored annotation of
the item (id, author, kind, created, lead_time, source_id, of_record, labels), oldest first;
read back they are stored as they are instead of one annotation per region author.

Writing: ``items.jsonl`` (one record per item, see `assay.formats._records`; each carries its
``marking``), ``metadata.json`` (dataset, revision, highest marking, classes), media under
``media/`` and ``MARKING.txt``. Reading takes the file (or its folder) back; ``file`` is found
under ``images`` (default: the file's folder), inline ``text`` serves text items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay._atomic import atomic_text_file, atomic_write_text
from assay.errors import InvalidInput
from assay.formats import _arrow_json as aj
from assay.formats import _validate as v
from assay.formats._export import copy_media, prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow, ImportBundle, ImportedMedia
from assay.formats._records import (
    annotation_records,
    file_metadata,
    inline_text,
    media_from_record,
    read_file_metadata,
    region_from_dict,
    region_record,
    unique_media_paths,
)
from assay.formats._registry import Codec
from assay.formats._stream import Batch

ITEMS_FILE = "items.jsonl"
METADATA_FILE = "metadata.json"


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read an assay JSONL export back into an `ImportBundle`."""
    path = Path(path)
    if path.is_dir():
        path = path / ITEMS_FILE
    f = path.name
    root = Path(images) if images is not None else path.parent
    media: list[ImportedMedia] = []
    bundle = ImportBundle(media=media, source=path)
    meta_path = path.parent / METADATA_FILE
    if meta_path.is_file():
        meta = v.need_obj(v.load_json(meta_path), METADATA_FILE, "top level")
        read_file_metadata(meta, METADATA_FILE, bundle)
    labels = dict.fromkeys(bundle.label_names)
    for lineno, line in enumerate(v.read_text(path, f).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{f} line {lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where} column {exc.colno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise InvalidInput(f"{where}: JSON nested too deep to read") from None
        rec = v.need_obj(rec, where, "record")
        raw = rec.get("labels")
        raw = v.need_list([] if raw is None else raw, where, "labels")
        regions = [region_from_dict(d, where, f"labels[{i}]") for i, d in enumerate(raw)]
        labels.update((r.label, None) for r in regions if r.label is not None)
        media.append(media_from_record(rec, regions, root, where, "record"))
    bundle.label_names = list(labels)
    return bundle


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``items.jsonl``, ``metadata.json``, ``media/`` and ``MARKING.txt``.

    Lines are written as the rows stream by, so memory does not grow with the dataset."""
    files = unique_media_paths(bundle)
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    items_path = out_dir / ITEMS_FILE

    def at(start: int, batch: Batch) -> Any:
        return files.slice(start, len(batch)) if bundle.copy_media else None

    k = 0
    with atomic_text_file(items_path) as fh:
        for batch in bundle.rows.batches(
            prepare=lambda b, start: _batch_lines(b.table, at(start, b))
        ):
            data = batch.prepared
            if data is None:
                names = at(k, batch)
                listed = None if names is None else names.to_pylist()
                fh.write(_rows_text(bundle, batch.rows(), listed))
            else:
                fh.flush()
                fh.buffer.write(data)
            k += len(batch)
    meta_path = out_dir / METADATA_FILE
    atomic_write_text(meta_path, json.dumps(file_metadata(bundle), indent=2) + "\n")
    written = [items_path, meta_path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, bundle.rows, out_dir, files.to_pylist())
    return written


def _rows_text(bundle: ExportBundle, rows: list[ExportRow], files: list[str] | None) -> str:
    """The lines of `rows`, one record each."""
    lines = []
    for k, row in enumerate(rows):
        rec = {
            "id": row.item_id,
            "number": row.number,
            "name": row.name,
            "file": files[k] if files is not None else None,
            "media_type": row.media_type,
            "width": row.width,
            "height": row.height,
            "marking": row.marking,
            "metadata": row.metadata,
            "labels": [region_record(r) for r in row.regions],
            "authors": row.authors,
            "annotation_ids": row.annotation_ids,
        }
        if bundle.all_annotations:
            rec["annotations"] = annotation_records(row)
        text = inline_text(row)
        if text is not None:
            rec["text"] = text
        lines.append(_dumps(rec))
    return "".join(line + "\n" for line in lines)


def _batch_lines(t: Any, files: Any) -> Any:
    """The lines of a batch built from its columns (`RowStream.batches`), the stored label and
    metadata texts written as they are (canonical JSON: the same values, keys sorted); None
    when a row needs more than columns (a text item carries its text)."""
    import pyarrow.compute as pc

    if pc.any(pc.starts_with(t["media_type"], "text/")).as_py():
        return None
    file = aj.strings(files) if files is not None else "null"
    parts = [
        ("id", aj.strings(t["item_id"])),
        ("number", aj.integers(t["number"])),
        ("name", aj.strings(t["name"])),
        ("file", file),
        ("media_type", aj.strings(t["media_type"])),
        ("width", aj.integers(t["width"])),
        ("height", aj.integers(t["height"])),
        ("marking", aj.strings(t["marking"])),
        ("metadata", pc.fill_null(t["metadata"], "{}")),
        ("labels", pc.fill_null(t["labels"], "[]")),
        ("authors", aj.string_lists(t["authors"])),
        ("annotation_ids", aj.string_lists(t["annotation_ids"])),
    ]
    return aj.text(aj.objects(parts, after="\n"))


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


CODEC = Codec(
    name="jsonl",
    read=read,
    write=write,
    description="JSON Lines, one item per line, labels in canonical form",
    title="JSONL",
    media=("",),
)
