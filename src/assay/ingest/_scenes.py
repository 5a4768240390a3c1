"""Scenes already ingested: a scene met again is a duplicate before it is converted or chipped.

A converted scene's item is its COG, whose sha256 differs from the file's; and chips depend on
the chip options and on the PNG and COG encoders of the version that cut them. So the file's
own sha256 is the key: each ingested scene records, in the `derived` table,

* ``(scene-original, the file's sha256) -> the COG's sha256`` when it was converted, and
* ``(scene-chips:<options>, the file's sha256) -> the COG's sha256`` for the chip options it was
  cut with (size, overlap, the display bands and stretch as the scene resolved them).

Finding a file is two primary-key lookups and one of the COG item (for its band count and
types, against which the options are resolved); no item is scanned. A COG given as is is its
own item (no `scene-original` row). Scenes ingested before these rows existed got theirs
from their items when the workspace moved to schema version 11 (`scene_rows_of_items`). An
ingest into a workspace without any scene skips the lookup (`any_scenes`): the workers then
hash the original beside its conversion, as they always did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.domain.canonical import read_metadata
from assay.errors import InvalidInput
from assay.ingest.sensors.options import (
    COG_MEDIA_TYPE,
    ChipOptions,
    display_bands,
    display_percentiles,
)
from assay.store._sql import insert_ignore, select_in
from assay.store.schema import derived, items

ORIGINAL = "scene-original"


def chips_kind(size: int, overlap: int, bands: Iterable[int], percentiles: Any) -> str:
    """The `derived` kind naming one way of cutting a scene into chips."""
    canonical = json.dumps([size, overlap, list(bands), percentiles], separators=(",", ":"))
    return "scene-chips:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _kind_of(meta: Mapping[str, Any]) -> str | None:
    """The chips kind an ingested scene's metadata records (None: not a scene's)."""
    scene = meta.get("scene")
    if not isinstance(scene, dict):
        return None
    chip, display = scene.get("chip") or {}, scene.get("display") or {}
    try:
        return chips_kind(
            chip["size"], chip["overlap"], display["bands"], display.get("percentiles")
        )
    except (KeyError, TypeError):
        return None


def _wanted_kind(meta: Mapping[str, Any], options: ChipOptions) -> str | None:
    """The chips kind `options` would give on the scene `meta` describes (None: options the
    scene refuses, left for the ingest to report)."""
    scene = meta.get("scene")
    if not isinstance(scene, dict):
        return None
    try:
        bands = display_bands(int(scene["bands"]), options)
        pct = display_percentiles(tuple(scene["dtypes"]), bands, options)
    except (InvalidInput, KeyError, TypeError, ValueError, IndexError):
        return None
    return chips_kind(options.size, options.overlap, bands, pct)


def any_scenes(conn: Connection) -> bool:
    """Whether the workspace holds a scene (a range of the `derived` key: cheap), so an
    ingest into one without any reads no file twice to look for them."""
    # A range rather than LIKE: it walks the primary key on every backend ("." follows "-").
    in_range = (derived.c.kind >= "scene-", derived.c.kind < "scene.")
    first = conn.execute(select(derived.c.kind).where(*in_range).limit(1)).first()
    return first is not None


def known_scenes(conn: Connection, shas: Mapping[str, str], options: ChipOptions) -> dict[str, str]:
    """Of the scene files `shas` (path -> the file's sha256), those already ingested with
    `options`: path -> the scene's item id."""
    if not shas:
        return {}
    originals = list(set(shas.values()))
    cog_of = {
        r.source: r.blob
        for r in select_in(
            conn, [derived.c.source, derived.c.blob], derived.c.source, originals,
            derived.c.kind == ORIGINAL,
        )
    }  # fmt: skip
    # A file no row names may be a COG ingested as given: its own item.
    candidates = {sha: cog_of.get(sha, sha) for sha in originals}
    metas = {
        r.id: read_metadata(r.metadata)
        for r in select_in(
            conn, [items.c.id, items.c.metadata], items.c.id, list(set(candidates.values())),
            items.c.media_type == COG_MEDIA_TYPE,
        )
    }  # fmt: skip
    found: dict[str, str] = {}  # original sha -> item id
    for sha, cog in candidates.items():
        meta = metas.get(cog)
        if meta is None:
            continue
        kind = _wanted_kind(meta, options)
        if kind is None:
            continue
        row = conn.execute(
            select(derived.c.blob).where(derived.c.kind == kind, derived.c.source == sha)
        ).scalar()
        if row is not None:
            found[sha] = str(row)
    return {path: found[sha] for path, sha in shas.items() if sha in found}


def record_scenes(conn: Connection, scenes: Iterable[tuple[str, str]], created: str) -> None:
    """Record scenes ingested now, each as (its item id, its metadata as canonical JSON)."""
    rows: list[dict[str, str]] = []
    for cog, meta_text in scenes:
        meta = json.loads(meta_text)
        kind = _kind_of(meta)
        if kind is None:
            continue
        original = meta["scene"].get("original_sha256") or cog
        if original != cog:
            rows.append({"kind": ORIGINAL, "source": original, "blob": cog, "created": created})
        rows.append({"kind": kind, "source": original, "blob": cog, "created": created})
    insert_ignore(conn, derived, rows)


def scene_rows_of_items(conn: Connection) -> None:
    """Record the rows of every scene item (the migration to schema version 11)."""
    from assay.timeutil import now_iso

    found = conn.execute(
        select(items.c.id, items.c.metadata).where(items.c.media_type == COG_MEDIA_TYPE)
    )
    record_scenes(conn, [(r.id, r.metadata) for r in found], now_iso())
