"""Field reports that are workspace items: `assay fuse --from items:QUERY`.

A report is a text item (an ingested .txt/.md file, or a row of a CSV/JSONL of texts) whose
labelled entity spans come from its annotations: the newest human or aggregate annotation of
the item holding span regions (an annotation a later human edit supersedes, or a reviewer
rejected, is left out). Each span is a mention:

- place: the coordinate written in the report nearest the span (in characters), parsed by
  `assay.ingest.sensors.coords` (decimal degrees, DMS, MGRS); its uncertainty (CEP) is the
  notation's precision, but never below `REPORT_CEP_M` (a person's reported place);
- time: the item's ``captured_at``, else the first ISO 8601 time written in the text, else
  when the item was ingested;
- marking: the item's; provenance: the item, the annotation and the mention (``ITEM#K``).

A matched report with spans but no coordinate cannot be placed: it is counted in `unplaced`
(and `assay fuse` reports the count), never guessed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal, or_, select

from assay.domain.canonical import read_metadata
from assay.domain.entity import Provenance
from assay.errors import InvalidInput, NotFound
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items

if TYPE_CHECKING:
    from assay.fusion.sources import Mention, Source
    from assay.ingest.sensors.coords import Place
    from assay.workspace import Workspace

__all__ = ["cep_of", "report_items"]

_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})")
_MGRS_DIGITS = re.compile(r"^\d{1,2}[A-Z]{3}(\d+)$")
M_PER_DEG = 111_320.0


def cep_of(place: Place, floor: float) -> float:
    """The place's uncertainty in metres: its notation's precision, at least `floor`."""
    written = place.text
    if place.notation == "mgrs":
        m = _MGRS_DIGITS.match(re.sub(r"\s+", "", written))
        precision = 10.0 ** (5 - len(m.group(1)) // 2) if m else 1e4
    elif place.notation == "dms":
        seconds = re.findall(r"\d+(?:\.(\d+))?\s*(?:\"|″|'')?\s*[NSEW]", written)
        decimals = min((len(d) for d in seconds), default=0)
        precision = 30.9 * 10.0**-decimals
    else:
        places = [len(d) for d in re.findall(r"\.(\d+)", written)]
        precision = M_PER_DEG * 10.0 ** -min(places, default=0)
    return max(floor, precision)


def _places(text: str) -> list[tuple[int, int, Place]]:
    """Each coordinate in `text` with its character range."""
    from assay.ingest.sensors.coords import find_points

    out, cursor = [], 0
    for p in find_points(text):
        start = text.find(p.text, cursor)
        if start < 0:  # written with other whitespace than kept: search from the start
            start = max(text.find(p.text), 0)
        out.append((start, start + len(p.text), p))
        cursor = start + len(p.text)
    return out


def _report_time(meta: dict[str, Any], text: str, created: str, where: str) -> float:
    raw = meta.get("captured_at")
    if not isinstance(raw, str):
        m = _ISO.search(text)
        raw = m.group(0).replace(" ", "T", 1) if m else created
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{where}: bad time {raw!r} (expected ISO 8601)") from None
    if when.tzinfo is None:
        raise InvalidInput(f"{where}: time {raw!r} has no time zone (add Z for UTC)")
    return when.timestamp()


def _newest_span_annotations(conn: Any, ids: list[str]) -> dict[str, tuple[str, list[Any]]]:
    """Item id -> (annotation id, span regions) of its newest annotation holding spans."""
    dropped = select(ann_t.c.supersedes).where(
        ann_t.c.supersedes.is_not(None),
        or_(ann_t.c.kind == "human", ann_t.c.source_id == "review:reject"),
    )
    out: dict[str, tuple[str, list[Any]]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(ann_t.c.id, ann_t.c.item_id, ann_t.c.payload)
            .where(
                ann_t.c.item_id.in_(ids[start : start + 500]),
                ann_t.c.kind.in_(("human", "aggregate")),
                ann_t.c.id.not_in(dropped),
            )
            .order_by(ann_t.c.created, ann_t.c.id)
        ).all()
        for r in rows:
            spans = [g for g in json.loads(r.payload or "[]") if g.get("kind") == "span"]
            if spans:
                out[r.item_id] = (r.id, spans)
    return out


def report_items(ws: Workspace, src: Source, unplaced: list[str]) -> list[Mention]:
    """The mentions of the text report items `src.what` matches (see the module docstring).

    Raises:
        NotFound: no text item matches.
        InvalidInput: a bad query, or a span outside its report's text (naming the annotation).
    """
    from assay.fusion.sources import DEFAULT_RELIABILITY, REPORT_CEP_M, Mention
    from assay.versioning import compile_query

    with ws.db.read() as conn:
        cond = (
            literal(True)
            if src.what.strip().lower() == "all"
            else compile_query(src.what, conn.dialect.name)
        )
        rows = conn.execute(
            select(items.c.id, items.c.metadata, items.c.marking, items.c.created)
            .where(items.c.media_type.like("text/%"), cond)
            .order_by(items.c.id)
        ).all()
        if not rows:
            raise NotFound(f"source {src.name}: no text item matches (ingest the reports first)")
        spans_of = _newest_span_annotations(conn, [r.id for r in rows])
    out: list[Mention] = []
    for r in rows:
        if r.id not in spans_of:
            continue
        ann_id, spans = spans_of[r.id]
        where = f"source {src.name}, item {r.id[:12]}, annotation {ann_id[:12]}"
        text = ws.blobs.get_bytes(r.id).decode("utf-8", errors="replace")
        places = _places(text)
        if not places:
            unplaced.append(r.id)
            continue
        when = _report_time(read_metadata(r.metadata), text, r.created, where)
        marking = ws.scheme.render(ws.scheme.parse(r.marking or ""))
        for k, span in enumerate(spans):
            at = f"{where}, span {k + 1}"
            start, end = (span.get("span") or (None, None))[:2]
            label = span.get("label")
            if not isinstance(start, int) or not isinstance(end, int) or not label:
                raise InvalidInput(f"{at}: a span needs [start, end) and a label")
            if not 0 <= start < end <= len(text):
                raise InvalidInput(f"{at}: [{start}, {end}) is outside the report's text")
            _, _, place = min(
                places,
                key=lambda p: max(p[0] - end, start - p[1], 0),
            )
            mid = f"{r.id}#{k + 1}"
            out.append(
                Mention(
                    mid,
                    when,
                    str(label),
                    text[start:end],
                    place.lon,
                    place.lat,
                    cep_of(place, REPORT_CEP_M),
                    src.name,
                    DEFAULT_RELIABILITY["items"],
                    marking,
                    Provenance(
                        items=(r.id,), annotations=(ann_id,), sources=(src.name,), reports=(mid,)
                    ),
                )
            )
    return out
