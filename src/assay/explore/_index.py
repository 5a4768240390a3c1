"""The explorer's index of a revision: one Arrow row per item with what the filters need.

Built once per commit manifest (classes, authors, region areas and top-level metadata fields
pulled out of the label and metadata JSON) and kept as a Parquet blob (`derived` table), so a
filtered page over a million items is a few vectorised Arrow/numpy operations. The labels
column stays on disk and is read per row group for the rows of a page only. The working state
changes under the reader, so its index is built fresh on each request (cost follows its size).
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.engine import Connection

from assay import versioning
from assay.explore._derived import derived_blob
from assay.versioning import Revision
from assay.workspace import Workspace

KIND = "explore-index/v1"
ROW_GROUP = 64 * 1024
MAX_FIELDS = 32  # metadata fields pulled out as columns, most common first
META = "meta."
_BASE = ["item_id", "media_type", "labels", "n_regions", "authors", "marking"]


@dataclass
class Index:
    """A loaded index: filter columns in memory, labels read from `source` by row group."""

    table: pa.Table  # every column but labels
    source: bytes | str  # Parquet bytes (working state) or the blob's path
    classes: list[str]
    authors: list[str]
    markings: list[str]
    fields: list[str]

    def labels(self, rows: list[int]) -> list[str]:
        """The labels JSON of the given row positions."""
        f = pq.ParquetFile(
            io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
        )
        groups = sorted({r // ROW_GROUP for r in rows})
        part = f.read_row_groups(groups, columns=["labels"])["labels"]
        where = {g: i * ROW_GROUP for i, g in enumerate(groups)}
        return [part[where[r // ROW_GROUP] + r % ROW_GROUP].as_py() for r in rows]


def _regions_facts(labels: str | None, n: int) -> tuple[list[str], list[float]]:
    if not n or not labels:
        return [], []
    classes: list[str] = []
    areas: list[float] = []
    for r in json.loads(labels):
        if r.get("label"):
            classes.append(str(r["label"]))
        if r.get("box"):
            areas.append(float(r["box"][2]) * float(r["box"][3]))
        elif r.get("points") and r.get("kind") == "polygon":
            xs = [p[0] for p in r["points"]]
            ys = [p[1] for p in r["points"]]
            areas.append((max(xs) - min(xs)) * (max(ys) - min(ys)))
    return sorted(set(classes)), areas


def build(conn: Connection, ws: Workspace, rev: Revision) -> bytes:
    """The index of `rev` as Parquet bytes."""
    t = versioning.revision_rows(conn, ws.blobs, rev, _BASE).sort_by("item_id")
    ids = t["item_id"].to_pylist()
    attrs = versioning.item_attributes(conn, ids)
    facts = [
        _regions_facts(lab, n)
        for lab, n in zip(t["labels"].to_pylist(), t["n_regions"].to_pylist(), strict=True)
    ]
    metas = [json.loads(attrs[i][3] or "{}") if i in attrs else {} for i in ids]
    counts: dict[str, int] = {}
    for m in metas:
        for k, v in m.items():
            if isinstance(v, str | int | float | bool):
                counts[k] = counts.get(k, 0) + 1
    fields = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_FIELDS]
    cols: dict[str, Any] = {
        "item_id": t["item_id"],
        "marking": t["marking"],
        "media_type": t["media_type"],
        "name": pa.array([attrs[i][0] if i in attrs else "" for i in ids], pa.string()),
        "width": pa.array([attrs[i][1] if i in attrs else None for i in ids], pa.int32()),
        "height": pa.array([attrs[i][2] if i in attrs else None for i in ids], pa.int32()),
        "n_regions": t["n_regions"],
        "authors": t["authors"],
        "classes": pa.array([c for c, _a in facts], pa.list_(pa.string())),
        "areas": pa.array([a for _c, a in facts], pa.list_(pa.float32())),
        "labels": t["labels"],
    }
    for k in fields:
        cols[META + k] = pa.array(
            [None if m.get(k) is None else str(m[k]) for m in metas], pa.string()
        )
    sink = io.BytesIO()
    pq.write_table(
        pa.table(cols),
        sink,
        row_group_size=ROW_GROUP,
        compression="lz4",
        use_dictionary=["marking", "media_type", "authors", "classes"],
    )
    return sink.getvalue()


_LOADED: OrderedDict[str, Index] = OrderedDict()
_LOCK = threading.Lock()
KEEP = 4


def _load(source: bytes | str) -> Index:
    f = pq.ParquetFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    names = [n for n in f.schema_arrow.names if n != "labels"]
    table = f.read(columns=names)
    import pyarrow.compute as pc

    def uniq(col: str) -> list[str]:
        values = pc.unique(pc.list_flatten(table[col])).to_pylist()
        return sorted(v for v in values if v)

    return Index(
        table=table,
        source=source,
        classes=uniq("classes"),
        authors=uniq("authors"),
        markings=sorted(v for v in pc.unique(table["marking"]).to_pylist() if v),
        fields=[n[len(META) :] for n in names if n.startswith(META)],
    )


def index_for(ws: Workspace, rev: Revision) -> Index:
    """The index of a commit (built once, then read from the blob store) or the working state."""
    if rev.commit is None:
        with ws.db.read() as conn:
            return _load(build(conn, ws, rev))
    manifest = rev.commit.manifest
    with _LOCK:
        hit = _LOADED.get(manifest)
        if hit is not None:
            _LOADED.move_to_end(manifest)
            return hit

    def make() -> bytes:
        with ws.db.read() as conn:
            return build(conn, ws, rev)

    sha = derived_blob(ws, KIND, manifest, make)
    index = _load(str(ws.blobs.path(sha)))
    with _LOCK:
        _LOADED[manifest] = index
        while len(_LOADED) > KEEP:
            _LOADED.popitem(last=False)
    return index
