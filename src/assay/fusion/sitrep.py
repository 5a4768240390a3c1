"""Situation reports of a picture: the usual sections, marked, every number traceable.

`build` reads a version of a picture (at a reader's clearance and inside an area when given)
and makes a `Report`: situation overview; entities by type and by 1 km MGRS square; changes
since the last report (or since a time); confidence, corroboration and gaps; sources. Each
paragraph carries the highest marking of the entities it speaks of, the report the highest of
all; every count names the entities behind it and every entity links to its provenance
(`/api/v1/pictures/NAME/entities/ID?rev=N`). `save` stores the report's JSON (its facts) in
the blob store with an audit event, which is how the next report finds "the last report".
Rendering to Markdown, HTML and JSON is in `assay.fusion.sitrep_render`; the optional
summary paragraph a local language model writes from the report's facts is in
`assay.fusion.sitrep_summary`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from assay import audit
from assay.domain.entity import Entity, Picture, diff_entities
from assay.errors import InvalidInput, MissingExtra
from assay.fusion import pictures
from assay.store.schema import audit as audit_table
from assay.store.schema import picture_versions
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

__all__ = ["Count", "Para", "Report", "Section", "build", "parse_bbox", "save"]

STALE_S = 600.0  # an entity not seen for this long before the newest sighting is a gap


@dataclass
class Count:
    """A number in the text, and the entities it counts (its provenance)."""

    value: int
    entities: list[str]
    key: str = ""


@dataclass
class Para:
    """A paragraph: text pieces (str, `Count`, or ``("entity", id)``) and its marking."""

    parts: list[Any]
    marking: str


@dataclass
class Section:
    title: str
    paras: list[Para] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    marking: str = ""


@dataclass
class Report:
    picture: str
    version: int
    version_id: str
    created: str
    marking: str
    clearance: str | None
    area: tuple[float, float, float, float] | None
    since: dict[str, Any] | None
    sections: list[Section]
    entities: dict[str, dict[str, Any]]
    # The optional language-model summary, with the facts and prompt it was written from
    # (`assay.fusion.sitrep_summary`); None without a model.
    summary: dict[str, Any] | None = None

    def link(self, entity_id: str) -> str:
        return f"/api/v1/pictures/{self.picture}/entities/{entity_id}?rev={self.version}"

    def to_dict(self) -> dict[str, Any]:
        def part(p: Any) -> Any:
            if isinstance(p, Count):
                return {"count": p.value, "entities": p.entities}
            if isinstance(p, tuple):
                return {"entity": p[1], "link": self.link(p[1])}
            return p

        return {
            "picture": self.picture,
            "version": self.version,
            "version_id": self.version_id,
            "created": self.created,
            "marking": self.marking,
            "clearance": self.clearance,
            "area": list(self.area) if self.area else None,
            "since": self.since,
            "sections": [
                {
                    "title": s.title,
                    "marking": s.marking,
                    "paragraphs": [
                        {"marking": p.marking, "parts": [part(x) for x in p.parts]} for p in s.paras
                    ],
                    "table": s.table,
                }
                for s in self.sections
            ],
            "entities": self.entities,
        } | ({"summary": self.summary} if self.summary is not None else {})


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``W,S,E,N`` in degrees.

    Raises:
        InvalidInput: not four numbers, or west/south above east/north.
    """
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(
            f"--area {text!r}: give W,S,E,N in degrees, e.g. -95.40,29.74,-95.34,29.78"
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InvalidInput(f"--area {text!r}: west < east and south < north, within the globe")
    return w, s, e, n


def _entities(n: int) -> str:
    return "entity" if n == 1 else "entities"


def _mgrs(lat: float, lon: float, digits: int) -> str:
    try:
        import mgrs
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra(
            "MGRS references need the sensors extra: pip install 'assay[sensors]'"
        ) from exc
    return str(mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=digits))


def build(
    ws: Workspace,
    spec: str,
    *,
    clearance: Marking | None = None,
    area: tuple[float, float, float, float] | None = None,
    since: str | None = None,
) -> Report:
    """The report of version `spec` of a picture; see the module docstring.

    `since` (ISO 8601) compares with the newest version saved at or before it; without it,
    with the version the last saved report of this picture described.

    Raises:
        NotFound: no such picture.
        InvalidInput: a bad `since`.
    """
    pic = pictures.load(ws, spec)
    found = _scope(ws, pictures.entities(ws, pic), clearance, area)
    base, base_why = _baseline(ws, pic, since)
    old = _scope(ws, pictures.entities(ws, base), clearance, area) if base else []
    scheme = ws.scheme

    def mark(es: Sequence[Entity]) -> str:
        return scheme.highest_text(e.marking for e in es) if es else scheme.levels[0]

    def ids(es: Sequence[Entity]) -> list[str]:
        return [e.id for e in es]

    ents: dict[str, dict[str, Any]] = {}
    for e in found:
        ents[e.id] = {
            "label": e.label,
            "cot_type": e.cot_type,
            "status": e.status,
            "confidence": round(e.confidence, 3),
            "mgrs": _mgrs(e.lat, e.lon, 4),
            "square": _mgrs(e.lat, e.lon, 2),
            "lon": e.lon,
            "lat": e.lat,
            "ce_m": round(e.ce_m, 1),
            "last_seen": e.last_seen,
            "detections": e.detections,
            "sensors": list(e.sensors),
            "marking": e.marking or scheme.levels[0],
            "link": f"/api/v1/pictures/{pic.name}/entities/{e.id}?rev={pic.seq}",
        }
    by_status = {s: [e for e in found if e.status == s] for s in ("new", "confirmed", "lost")}
    by_type: dict[str, list[Entity]] = defaultdict(list)
    for e in found:
        by_type[e.label].append(e)

    overview = Section("Situation overview")
    overview.paras.append(
        Para(
            [
                f"Picture {pic.name} version {pic.seq} ({pic.created}) holds ",
                Count(len(found), ids(found), "all"),
                f" {_entities(len(found))}: ",
                Count(len(by_status["confirmed"]), ids(by_status["confirmed"]), "confirmed"),
                " confirmed, ",
                Count(len(by_status["new"]), ids(by_status["new"]), "new"),
                " new (tentative) and ",
                Count(len(by_status["lost"]), ids(by_status["lost"]), "lost"),
                " lost.",
            ],
            mark(found),
        )
    )
    for label in sorted(by_type):
        es = by_type[label]
        overview.paras.append(
            Para(
                [f"{label}: ", Count(len(es), ids(es), f"type-{label}"), f" {_entities(len(es))}."],
                mark(es),
            )
        )

    squares = Section("Entities by type and area (MGRS)")
    for label in sorted(by_type):
        per_square: dict[str, list[Entity]] = defaultdict(list)
        for e in by_type[label]:
            per_square[ents[e.id]["square"]].append(e)
        for sq in sorted(per_square):
            es = per_square[sq]
            squares.paras.append(
                Para(
                    [f"{label} in 1 km square {sq}: ", Count(len(es), ids(es), f"{label}-{sq}")]
                    + [x for e in es for x in ((" ", ("entity", e.id)))],
                    mark(es),
                )
            )
    squares.table = [
        {"id": e.id, **ents[e.id]} for e in sorted(found, key=lambda e: (e.label, e.id))
    ]

    changes = Section("Changes since the last report")
    if base is None:
        changes.paras.append(
            Para(
                ["No earlier report or version to compare with: every entity is new here."],
                mark([]),
            )
        )
    else:
        diff = diff_entities(old, found)
        changes.paras.append(
            Para(
                [
                    f"Compared with version {base.seq} ({base_why}): ",
                    Count(len(diff), [c.entity for c in diff], "changes"),
                    " change." if len(diff) == 1 else " changes.",
                ],
                # A lost entity is named here too (in the list of changes): its old self counts.
                mark([e for c in diff for e in (c.after or c.before,) if e is not None]),
            )
        )
        for kind in ("appeared", "moved", "lost", "reclassified"):
            cs = [c for c in diff if c.kind == kind]
            if not cs:
                continue
            related = [c.after or c.before for c in cs]
            parts: list[Any] = [f"{kind}: ", Count(len(cs), [c.entity for c in cs], kind)]
            for c in cs:
                parts += [" ", ("entity", c.entity)]
                if kind == "moved":
                    parts.append(f" ({c.distance_m:.0f} m)")
                if kind == "reclassified" and c.before and c.after:
                    parts.append(f" ({c.before.label} to {c.after.label})")
            changes.paras.append(Para(parts, mark([e for e in related if e is not None])))

    quality = Section("Confidence, corroboration and gaps")
    if found:
        mean = sum(e.confidence for e in found) / len(found)
        single = [e for e in found if len(e.sensors) <= 1]
        few = [e for e in found if e.detections < 3]
        newest = max(e.last_seen for e in found)
        stale = [e for e in found if _seconds(e.last_seen, newest) > STALE_S]
        quality.paras += [
            Para(
                [
                    f"Mean confidence {mean:.2f} over ",
                    Count(len(found), ids(found), "all"),
                    f" {_entities(len(found))}.",
                ],
                mark(found),
            ),
            Para(
                [
                    "Seen by one sensor or source only (uncorroborated): ",
                    Count(len(single), ids(single), "single"),
                ]
                + [x for e in single for x in (" ", ("entity", e.id))],
                mark(single),
            ),
            Para(
                ["Resting on fewer than 3 detections: ", Count(len(few), ids(few), "few")],
                mark(few),
            ),
            Para(
                [
                    f"Gaps: not seen for over {STALE_S / 60:.0f} minutes before the newest "
                    f"sighting ({newest}): ",
                    Count(len(stale), ids(stale), "stale"),
                ]
                + [x for e in stale for x in (" ", ("entity", e.id))],
                mark(stale),
            ),
        ]
    else:
        quality.paras.append(Para(["No entities in scope."], mark([])))

    sources = Section("Sources")
    for key, title in (
        ("sources", "inputs"),
        ("models", "model versions"),
        ("eval_runs", "evaluation runs"),
        ("commits", "dataset commits"),
        ("items", "items (frames, chips, reports)"),
        ("annotations", "annotations"),
    ):
        used: dict[str, list[Entity]] = defaultdict(list)
        for e in found:
            for v in getattr(e.provenance, key):
                used[v].append(e)
        behind = sorted({e.id for es in used.values() for e in es})
        line: list[Any] = [f"{title}: ", Count(len(used), behind, f"src-{key}")]
        if key in ("sources", "models", "eval_runs", "commits") and used:
            line.append(" — " + ", ".join(sorted(used)))
        sources.paras.append(Para(line, mark([e for es in used.values() for e in es])))

    sections = [overview, squares, changes, quality, sources]
    for s in sections:
        s.marking = scheme.highest_text(p.marking for p in s.paras) if s.paras else mark([])
    # The report is marked as high as any paragraph: one may name an entity no longer in the
    # picture (lost since the last report), marked above everything that is left.
    marking = scheme.highest_text([mark(found), *(s.marking for s in sections)])
    return Report(
        picture=pic.name,
        version=pic.seq,
        version_id=pic.id,
        created=now_iso(),
        marking=marking,
        clearance=scheme.render(clearance) if clearance is not None else None,
        area=area,
        since={"version": base.seq, "version_id": base.id, "why": base_why} if base else None,
        sections=sections,
        entities=ents,
    )


def save(ws: Workspace, report: Report, fmt: str) -> str:
    """Store the report's JSON in the blob store and record it (audit `sitrep.write`);
    returns the blob's sha256."""
    blob = ws.blobs.put_bytes(json.dumps(report.to_dict(), sort_keys=True).encode())
    with ws.db.begin() as conn:
        audit.append(
            conn,
            ws.actor,
            "sitrep.write",
            f"picture:{report.picture}",
            {
                "version_id": report.version_id,
                "version": report.version,
                "report": blob,
                "format": fmt,
                "marking": report.marking,
                "clearance": report.clearance,
            },
        )
    return blob


def _scope(
    ws: Workspace,
    found: list[Entity],
    clearance: Marking | None,
    area: tuple[float, float, float, float] | None,
) -> list[Entity]:
    if clearance is not None:
        found = [e for e in found if ws.scheme.allows(clearance, ws.scheme.parse(e.marking))]
    if area is not None:
        w, s, e_, n = area
        found = [e for e in found if w <= e.lon <= e_ and s <= e.lat <= n]
    return found


def _baseline(ws: Workspace, pic: Picture, since: str | None) -> tuple[Picture | None, str]:
    if since is not None:
        since = _normal_time(since)
        with ws.db.read() as conn:
            row = conn.execute(
                select(picture_versions.c.seq)
                .where(
                    picture_versions.c.picture == pic.name,
                    picture_versions.c.created <= since,
                    picture_versions.c.seq < pic.seq,
                )
                .order_by(picture_versions.c.seq.desc())
                .limit(1)
            ).first()
        if row is None:
            return None, f"no version before {since}"
        return pictures.load(ws, f"{pic.name}@{row.seq}"), f"the newest version at {since}"
    with ws.db.read() as conn:
        rows = conn.execute(
            select(audit_table.c.details)
            .where(
                audit_table.c.action == "sitrep.write",
                audit_table.c.target == f"picture:{pic.name}",
            )
            .order_by(audit_table.c.seq.desc())
        ).all()
    for r in rows:
        seq = json.loads(r.details).get("version")
        if isinstance(seq, int) and seq < pic.seq:
            return pictures.load(ws, f"{pic.name}@{seq}"), "the version of the last report"
    return None, "no earlier report"


def _normal_time(text: str) -> str:
    """`text` in the stored form of times (UTC, microseconds, Z), so strings compare."""
    from datetime import UTC, datetime

    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"--since {text!r}: give an ISO 8601 time, e.g. 2026-07-25T17:00:00Z"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _seconds(a: str, b: str) -> float:
    from datetime import datetime

    ta = datetime.fromisoformat(a.replace("Z", "+00:00"))
    tb = datetime.fromisoformat(b.replace("Z", "+00:00"))
    return (tb - ta).total_seconds()
