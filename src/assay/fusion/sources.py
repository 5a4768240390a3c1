"""What `assay fuse --from` reads: detections projected to the ground, field-report mentions
and external track points, each with its time, place, uncertainty, marking and provenance.

Sources (`KIND:WHAT`):
    predictions:FILE   JSON Lines of detections on workspace items: ``item`` (id or name, e.g.
                       ``flight-a.ts#t=1.500``), ``label``, ``box`` [x, y, w, h] in pixels,
                       ``score`` (default 1), ``model`` (``model:NAME@VERSION``, optional)
    model:NAME[@VER]   the detections a registered model made on workspace items
                       (`assay prelabel`): the annotations it authored
    labels:DATASET[@REV]  the boxes of a dataset commit's labels of record (people's labels;
                       the newest commit by default)
    reports:FILE       JSON Lines of field reports: ``id``, ``time``, ``text``, ``lon``,
                       ``lat``, ``cep_m`` (default 50), ``spans`` [{start, end, label}],
                       ``marking``
    tracks:FILE        external tracks, CSV or Parquet: ``time``, ``track_id``, ``lon``,
                       ``lat``, ``label``, ``marking``, optional ``sigma_m`` (default 5); a
                       Parquet file's own marking is its schema metadata under a key of
                       `assay.formats.parquet.FILE_MARKING_KEYS` (``assay.marking`` or
                       ``marking``), as assay's exports write it and its import reads it
    items:QUERY        text report items in the workspace (`assay ingest` of .txt/.md files
                       or text rows) matching an item query (`assay dataset add --items`
                       syntax; ``all`` for every text item): see `_report_items`

A report or track row is marked as it states, raised to the source's marking (`assay fuse
--marking`) when one is given; a row that states none takes the source's marking, and without
one it is refused, naming the file and line: a marking is never taken as the lowest unseen. A
tracks Parquet file that states its own marking raises the source's to it (never lowers it).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from assay.domain.canonical import read_metadata
from assay.domain.entity import Provenance
from assay.domain.geo import pixel_mapper
from assay.errors import InvalidInput, NotFound
from assay.store.schema import annotations_table, eval_runs, items, models_table

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Mention", "Observation", "Source", "parse_source", "read_source", "source_marking"]

KINDS = ("predictions", "model", "labels", "reports", "tracks", "items")
# How far a source is trusted when nothing measured says otherwise (a model without an
# evaluation run, a person's field report, another system's tracks).
DEFAULT_RELIABILITY = {
    "predictions": 0.7,
    "model": 0.7,
    "labels": 0.9,
    "reports": 0.6,
    "tracks": 0.8,
    "items": 0.6,
}
REPORT_CEP_M = 50.0  # how far a person's reported place is from the target, at best
WORKSPACE_KINDS = ("model", "labels", "items")  # read from the workspace, not a file
GEOREG_SIGMA_M = 3.0  # telemetry's georegistration error, added to the pixel error
PIXEL_SIGMA = 1.5


@dataclass(frozen=True)
class Source:
    kind: str
    what: str
    marking: str | None = None  # what the rows of a file take at least (`fuse --marking`)

    @property
    def name(self) -> str:
        what = self.what if self.kind in WORKSPACE_KINDS else Path(self.what).name
        return f"{self.kind}:{what}"


@dataclass(frozen=True)
class Observation:
    """One detection or track point on the ground, in WGS84 with a covariance in m²."""

    time: float  # seconds since the epoch
    label: str
    lon: float
    lat: float
    cov: tuple[float, float, float]  # east-east, east-north, north-north
    score: float
    sensor: str  # what saw it: the video (parent item) of a frame, a track file's track
    source: str
    reliability: float
    marking: str
    provenance: Provenance
    key: str  # unique within a run: where it came from


@dataclass(frozen=True)
class Mention:
    """A labelled entity span of a field report, at the report's place and time."""

    id: str
    time: float
    label: str
    text: str
    lon: float
    lat: float
    cep_m: float
    source: str
    reliability: float
    marking: str
    provenance: Provenance


def parse_source(spec: str, marking: str | None = None) -> Source:
    """`KIND:WHAT`; a file's rows are marked at least `marking` (rendered), see the module."""
    kind, sep, what = spec.partition(":")
    if not sep or kind not in KINDS or not what:
        raise InvalidInput(
            f"bad source {spec!r}: expected KIND:WHAT with KIND one of {', '.join(KINDS)}"
        )
    if kind not in WORKSPACE_KINDS and not Path(what).is_file():
        raise InvalidInput(f"source {spec!r}: no such file {what}")
    return Source(kind, what, marking)


def source_marking(ws: Workspace, marking: str | None) -> str | None:
    """`assay fuse --marking` checked and rendered (None stays None)."""
    if marking is None:
        return None
    try:
        return ws.scheme.render(ws.scheme.parse(marking))
    except InvalidInput as exc:
        raise InvalidInput(f"--marking: {exc}") from None


def _row_marking(ws: Workspace, value: object, where: str, fallback: str | None, name: str) -> str:
    """A report's, track point's or ground detection's marking: its own raised to `fallback`
    (the source's), else `fallback`; with neither, refused (source `name` would otherwise go in
    at the lowest level unseen)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if fallback is None:
            raise InvalidInput(
                f"{where}: no marking: give it a 'marking', or its source one with "
                f"`assay fuse --marking M` ({name} is not taken as the lowest level unseen)"
            )
        return fallback
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: field 'marking' must be text")
    try:
        own = ws.scheme.render(ws.scheme.parse(value))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: field 'marking': {exc}") from None
    return ws.scheme.highest_text([own, fallback]) if fallback else own


def read_source(
    ws: Workspace, src: Source, since: float | None, unplaced: list[str] | None = None
) -> tuple[list[Observation], list[Mention]]:
    """Everything a source holds at or after `since` (raises InvalidInput naming file and line).

    Report items with labelled spans but no coordinate in their text are appended to
    `unplaced` (items sources only)."""
    if src.kind == "predictions":
        obs = _predictions(ws, src)
    elif src.kind == "model":
        obs = _model(ws, src)
    elif src.kind == "tracks":
        obs = _tracks(ws, src)
    elif src.kind == "labels":
        obs = _labels(ws, src)
    else:
        if src.kind == "reports":
            mentions = _reports(ws, src)
        else:
            from assay.fusion.report_items import report_items

            mentions = report_items(ws, src, unplaced if unplaced is not None else [])
        return [], [m for m in mentions if since is None or m.time >= since]
    return [o for o in obs if since is None or o.time >= since], []


def _lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            yield n, json_row(f"{path}, line {n}", line)


def json_row(where: str, text: str) -> dict[str, Any]:
    """One JSON Lines row as an object; one error naming `where` (file and line) otherwise."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise InvalidInput(f"{where}: expected a JSON object")
    return row


def _field(row: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in row:
        raise InvalidInput(f"{where}: missing field {key!r}")
    value = row[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput(f"{where}: field {key!r} has the wrong type ({value!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where}: field {key!r} is not a finite number")
    return value


@dataclass
class _Frame:
    id: str
    marking: str
    sensor: str
    time: float
    to_ground: Any


class _Frames:
    """Workspace items by id or name, with their georeference (read once each)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.cache: dict[str, _Frame] = {}

    def get(self, ref: str, where: str) -> _Frame:
        if ref in self.cache:
            return self.cache[ref]
        with self.ws.db.read() as conn:
            rows = conn.execute(
                select(items).where(or_(items.c.id == ref, items.c.name == ref)).limit(2)
            ).all()
        if not rows:
            raise InvalidInput(f"{where}: no item {ref!r} in the workspace (ingest it first)")
        if len(rows) > 1:
            raise InvalidInput(f"{where}: item name {ref!r} is ambiguous; give the item id")
        r = rows[0]._mapping
        meta = read_metadata(r["metadata"])
        mapper = pixel_mapper(meta, r["width"], r["height"])
        captured = meta.get("captured_at")
        if mapper is None or not isinstance(captured, str):
            raise InvalidInput(
                f"{where}: item {ref!r} has no georeference or capture time (a frame with "
                "KLV telemetry or a scene chip is needed)"
            )
        frame = _Frame(
            r["id"], r["marking"], r["parent_id"] or r["id"], _time(captured, where), mapper
        )
        self.cache[ref] = frame
        return frame


def _time(text: Any, where: str) -> float:
    try:
        when = datetime.fromisoformat(str(text))
    except (ValueError, TypeError):
        raise InvalidInput(f"{where}: bad time {text!r} (expected ISO 8601)") from None
    if when.tzinfo is None:
        raise InvalidInput(f"{where}: time {text!r} has no time zone (add Z for UTC)")
    return when.timestamp()


def _project(frame: _Frame, box: list[float]) -> tuple[float, float, tuple[float, float, float]]:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    lon, lat = frame.to_ground(cx, cy)
    lon_x, lat_x = frame.to_ground(cx + 1, cy)
    lon_y, lat_y = frame.to_ground(cx, cy + 1)
    m_lat = 110_574.0 + 1_110.0 * math.sin(math.radians(lat)) ** 2
    m_lon = 111_320.0 * math.cos(math.radians(lat))
    gsd = (
        math.hypot((lon_x - lon) * m_lon, (lat_x - lat) * m_lat)
        + math.hypot((lon_y - lon) * m_lon, (lat_y - lat) * m_lat)
    ) / 2
    var = (PIXEL_SIGMA * gsd) ** 2 + GEOREG_SIGMA_M**2
    return lon, lat, (var, 0.0, var)


def _model_record(ws: Workspace, author: str) -> tuple[float | None, str | None, str]:
    """A registered model's evaluated precision, the eval run it comes from, and its marking."""
    name, _, version = author.removeprefix("model:").partition("@")
    with ws.db.read() as conn:
        q = select(models_table).where(models_table.c.name == name)
        if version.isdigit():
            q = q.where(models_table.c.version == int(version))
        model = conn.execute(q.order_by(models_table.c.version.desc()).limit(1)).first()
        if model is None:
            return None, None, ""
        marking = str(json.loads(model._mapping["details"]).get("marking") or "")
        run = conn.execute(
            select(eval_runs.c.id, eval_runs.c.headline)
            .where(eval_runs.c.model_id == model._mapping["id"])
            .order_by(eval_runs.c.created.desc())
        ).first()
    if run is None:
        return None, None, marking
    headline = json.loads(run.headline)
    precision = headline.get("precision")
    if not isinstance(precision, int | float):
        return None, None, marking
    return float(precision), run.id, marking


def _detection(
    ws: Workspace,
    src: Source,
    frames: _Frames,
    row: dict[str, Any],
    where: str,
    key: str,
    annotation: str | None,
    models: dict[str, tuple[float | None, str | None, str]],
    commit: str | None = None,
    annotations: tuple[str, ...] = (),
    reliability: float | None = None,
) -> Observation:
    ref = _field(row, "item", str, where)
    label = _field(row, "label", str, where)
    box = _field(row, "box", list, where)
    if len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
        raise InvalidInput(f"{where}: field 'box' must be [x, y, w, h] in pixels")
    score = float(_field(row, "score", (int, float), where)) if "score" in row else 1.0
    if not 0 <= score <= 1:
        raise InvalidInput(f"{where}: field 'score' must be between 0 and 1")
    author = row.get("model")
    if author is not None and not isinstance(author, str):
        raise InvalidInput(f"{where}: field 'model' must be text like model:NAME@VERSION")
    frame = frames.get(ref, where)
    lon, lat, cov = _project(frame, [float(v) for v in box])
    run, model_marking = None, ""
    if author:
        if author not in models:
            models[author] = _model_record(ws, author)
        reliability, run, model_marking = models[author]
    prov = Provenance(
        items=(frame.id,),
        annotations=(annotation,) if annotation else tuple(sorted(annotations)),
        models=(author,) if author else (),
        eval_runs=(run,) if run else (),
        commits=(commit,) if commit else (),
        sources=(src.name,),
    )
    marking = ws.scheme.highest_text([frame.marking, model_marking])
    return Observation(
        frame.time,
        label,
        lon,
        lat,
        cov,
        score,
        frame.sensor,
        src.name,
        reliability if reliability is not None else DEFAULT_RELIABILITY[src.kind],
        marking,
        prov,
        key,
    )


def _predictions(ws: Workspace, src: Source) -> list[Observation]:
    frames, models = _Frames(ws), {}  # type: ignore[var-annotated]
    return [
        _detection(ws, src, frames, row, f"{src.what}, line {n}", f"{src.name}:{n}", None, models)
        for n, row in _lines(src.what)
    ]


def _model(ws: Workspace, src: Source) -> list[Observation]:
    author = src.what if "@" in src.what else None
    with ws.db.read() as conn:
        q = select(
            annotations_table.c.id,
            annotations_table.c.item_id,
            annotations_table.c.author,
            annotations_table.c.payload,
        ).where(annotations_table.c.kind == "model")
        if author:
            q = q.where(annotations_table.c.author == f"model:{author}")
        else:
            q = q.where(annotations_table.c.author.like(f"model:{src.what}@%"))
        rows = conn.execute(q.order_by(annotations_table.c.created)).all()
    if not rows:
        raise NotFound(
            f"source model:{src.what}: the model made no detections here (run `assay prelabel`)"
        )
    frames, models, out = _Frames(ws), {}, []  # type: ignore[var-annotated]
    for r in rows:
        for k, region in enumerate(json.loads(r.payload)):
            if region.get("kind") != "box":
                continue
            row = {
                "item": r.item_id,
                "label": region.get("label"),
                "box": region.get("box"),
                "score": region.get("score", 1.0),
                "model": r.author,
            }
            where = f"annotation {r.id}"
            out.append(_detection(ws, src, frames, row, where, f"{r.id}:{k}", r.id, models))
    return out


def _labels(ws: Workspace, src: Source) -> list[Observation]:
    from assay.versioning import revision_rows

    rev = ws.resolve(src.what, default_head=True)
    if rev.commit is None:
        raise NotFound(f"source labels:{src.what}: the dataset has no commits yet")
    from assay.fusion.reliability import annotator_scores

    with ws.db.read() as conn:
        rows = revision_rows(
            conn, ws.blobs, rev, ["item_id", "labels", "annotation_ids", "authors"]
        )
    scores = annotator_scores(ws, src.what.partition("@")[0])
    frames, models, out = _Frames(ws), {}, []  # type: ignore[var-annotated]
    for r in rows.to_pylist():
        boxes = [g for g in json.loads(r["labels"] or "[]") if g.get("kind") == "box"]
        measured = [scores[a] for a in (r["authors"] or ()) if a in scores]
        reliability = sum(measured) / len(measured) if measured else None
        for k, region in enumerate(boxes):
            row = {"item": r["item_id"], "label": region.get("label"), "box": region.get("box")}
            where = f"labels:{src.what}, item {r['item_id'][:12]}"
            out.append(
                _detection(
                    ws,
                    src,
                    frames,
                    row,
                    where,
                    f"{src.name}:{r['item_id']}:{k}",
                    None,
                    models,
                    commit=rev.commit.id,
                    annotations=tuple(r["annotation_ids"] or ()),
                    reliability=reliability,
                )
            )
    return out


def _reports(ws: Workspace, src: Source) -> list[Mention]:
    out = []
    for n, row in _lines(src.what):
        where = f"{src.what}, line {n}"
        rid = str(_field(row, "id", (str, int), where))
        text = _field(row, "text", str, where)
        lon = float(_field(row, "lon", (int, float), where))
        lat = float(_field(row, "lat", (int, float), where))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"{where}: lon/lat out of range")
        cep = float(_field(row, "cep_m", (int, float), where)) if "cep_m" in row else 50.0
        marking = _row_marking(ws, row.get("marking"), where, src.marking, src.name)
        when = _time(_field(row, "time", str, where), where)
        for k, span in enumerate(_field(row, "spans", list, where)):
            at = f"{where}, span {k + 1}"
            if not isinstance(span, dict):
                raise InvalidInput(f"{at}: expected an object with start, end and label")
            start, end = _field(span, "start", int, at), _field(span, "end", int, at)
            if not 0 <= start < end <= len(text):
                raise InvalidInput(f"{at}: [{start}, {end}) is outside the text")
            out.append(
                Mention(
                    f"{rid}#{k + 1}",
                    when,
                    _field(span, "label", str, at),
                    text[start:end],
                    lon,
                    lat,
                    cep,
                    src.name,
                    DEFAULT_RELIABILITY["reports"],
                    marking,
                    Provenance(sources=(src.name,), reports=(f"{rid}#{k + 1}",)),
                )
            )
    return out


def _file_marking(
    ws: Workspace, path: Path, meta: dict[bytes, bytes], fallback: str | None
) -> str | None:
    """A Parquet file's own marking (its schema metadata) raised to `fallback` (`--marking`):
    the higher of the two marks every row that states none, and raises every row below it.
    The keys read are those the Parquet import reads (imported here: `assay.formats` loads
    every codec, which a fusion run without a Parquet file does not need)."""
    from assay.formats.parquet import FILE_MARKING_KEYS

    found = [fallback] if fallback else []
    for key in FILE_MARKING_KEYS:
        if key not in meta:
            continue
        name = key.decode()
        try:
            found.append(ws.scheme.render(ws.scheme.parse(meta[key].decode("utf-8"))))
        except (InvalidInput, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path}: schema metadata {name!r}: {exc}") from None
    return ws.scheme.highest_text(found) if found else None


def _tracks(ws: Workspace, src: Source) -> list[Observation]:
    path, fallback = Path(src.what), src.marking
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
        fallback = _file_marking(ws, path, table.schema.metadata or {}, fallback)
        lines = [(n + 1, r) for n, r in enumerate(table.to_pylist())]
        where_of = "row"
    else:
        with path.open(newline="", encoding="utf-8") as f:
            lines = [(n + 2, r) for n, r in enumerate(csv.DictReader(f))]
        where_of = "line"
    out = []
    for n, row in lines:
        where = f"{path}, {where_of} {n}"
        for key in ("time", "track_id", "lon", "lat", "label"):
            if row.get(key) in (None, ""):
                raise InvalidInput(f"{where}: missing field {key!r}")
        try:
            lon, lat = float(row["lon"]), float(row["lat"])
            sigma = float(row.get("sigma_m") or 5.0)
        except ValueError:
            raise InvalidInput(f"{where}: lon, lat and sigma_m must be numbers") from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not sigma > 0:
            raise InvalidInput(f"{where}: lon/lat out of range or sigma_m not positive")
        when = row["time"]
        t = when.timestamp() if isinstance(when, datetime) else _time(when, where)
        marking = _row_marking(ws, row.get("marking"), where, fallback, src.name)
        out.append(
            Observation(
                t,
                str(row["label"]),
                lon,
                lat,
                (sigma**2, 0.0, sigma**2),
                1.0,
                f"{src.name}#{row['track_id']}",
                src.name,
                DEFAULT_RELIABILITY["tracks"],
                marking,
                Provenance(sources=(src.name,)),
                f"{src.name}:{n}",
            )
        )
    return out
