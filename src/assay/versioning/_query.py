"""A small item query language for `dataset add --items`.

Conditions joined by ``and``: ``FIELD OP VALUE`` with OP one of
``= != < <= > >= ~`` (``~`` is a glob, ASCII letters in either case). Fields:
``media_type``, ``name``, ``source``, ``marking``, ``width``, ``height``, ``size``,
``created`` and
``metadata.KEY`` (``meta.KEY`` for short; a JSONL/CSV row's field KEY where the row has one,
else the metadata's own KEY).

Two geographic conditions match an item's location (``metadata.geo``: a frame's center, an
image's EXIF GPS position, a report's coordinates): ``within MINLON,MINLAT,MAXLON,MAXLAT``
(WGS84 degrees, edges included) and ``near LAT,LON,RADIUS_M``, the distance computed on a
local equirectangular projection around LAT,LON (within 0.5% of the geodesic distance for
radii up to 50 km away from the poles).

Example: ``media_type~image/* and metadata.sensor=uav-2 and width>=640``, or
``media_type=image/jpeg and near 29.7604,-95.3698,250``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import ColumnElement, Float, String, and_, case, cast, func, literal, or_
from sqlalchemy.sql.elements import ColumnElement as _CE

from assay.errors import InvalidInput
from assay.store.database import FINITE_JSON
from assay.store.schema import items

_COND = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|<=|>=|=|<|>|~)\s*(.+?)\s*$")
_NUMERIC = {"width", "height", "size"}
_TEXT = {"media_type", "name", "source", "marking", "created", "id"}


def _value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


_TOKEN = re.compile(r"""(?:[^\s'"]+|'[^']*'|"[^"]*")+""")


def _split_and(query: str) -> list[str]:
    """Split on bare `and` words; quoted values may contain spaces and the word `and`."""
    parts: list[str] = []
    current: list[str] = []
    for m in _TOKEN.finditer(query):
        token = m.group(0)
        if token.lower() == "and":
            if not current:
                raise InvalidInput(
                    f"cannot read query condition {query[m.start() :]!r}: "
                    "expected FIELD OP VALUE before 'and'"
                )
            parts.append(" ".join(current))
            current = []
        else:
            current.append(token)
    parts.append(" ".join(current))
    return parts


def compile_query(query: str, dialect: str) -> ColumnElement[bool]:
    parts = _split_and(query.strip())
    conds: list[ColumnElement[bool]] = []
    for part in parts:
        word, _, rest = part.strip().partition(" ")
        if word.lower() in ("within", "near"):
            conds.append(_geo_cond(word.lower(), rest, dialect))
            continue
        m = _COND.match(part)
        if not m:
            raise InvalidInput(
                f"cannot read query condition {part!r}: expected FIELD OP VALUE, "
                "e.g. media_type~image/* or metadata.sensor=uav-2"
            )
        field, op, raw = m.group(1), m.group(2), _value(m.group(3))
        col: Any
        value: Any = raw
        if field in _NUMERIC:
            col = items.c[field]
            if op == "~":  # a glob reads text: SQLite never matched, PostgreSQL failed
                raise InvalidInput(
                    f"query field {field} is a number: compare it with = != < <= > >=, not ~"
                )
            try:
                value = float(raw)
            except ValueError:
                raise InvalidInput(f"query field {field} needs a number, got {raw!r}") from None
        elif field in _TEXT:
            col = items.c[field]
        elif field.startswith(("metadata.", "meta.")):
            conds.append(_metadata_cond(field.split(".", 1)[1], op, raw, dialect))
            continue
        else:
            raise InvalidInput(
                f"unknown query field {field!r}; use one of "
                f"{', '.join(sorted(_NUMERIC | _TEXT))} or metadata.KEY"
            )
        conds.append(_apply(col, op, value, dialect))
    return and_(*conds)


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def _metadata_cond(key: str, op: str, raw: str, dialect: str) -> ColumnElement[bool]:
    """A condition on a (possibly nested, dot-separated) metadata key.

    `=`/`!=`/`~` compare the value as text, so `priority=3` matches the JSON number 3;
    `< <= > >=` with a number compare numerically and match numeric values only.
    """
    parts = key.split(".")
    # A JSONL/CSV row's other fields sit under `fields`: `metadata.KEY` is the row's field
    # where it has one, else the metadata's own KEY, as LLM-eval templates and slices read it
    # (`fields_of`); `metadata.fields.KEY` names the field alone.
    tried = [parts] if parts[0] == "fields" else [["fields", *parts], parts]
    number = _number(raw)
    if dialect == "sqlite":
        paths = ["$." + ".".join(f'"{p}"' for p in ps) for ps in tried]
        meta_text = _stored_json(dialect)
        value = _first([func.json_extract(meta_text, path) for path in paths])
        kind = _first([func.json_type(meta_text, path) for path in paths])
        if op in ("<", "<=", ">", ">=") and number is not None:
            return and_(kind.in_(("integer", "real")), _apply(value, op, number, dialect))
        # SQLite's json_extract gives a JSON true or false as 1 or 0: the text is the JSON
        # word, as PostgreSQL's jsonb_extract_path_text gives it.
        as_text = case((kind.in_(("true", "false")), kind), else_=cast(value, String))
        return _apply(as_text, op, raw, dialect)
    from sqlalchemy.dialects.postgresql import JSONB

    meta = cast(_stored_json(dialect), JSONB)
    text_value = _first([func.jsonb_extract_path_text(meta, *ps) for ps in tried])
    if op in ("<", "<=", ">", ">=") and number is not None:
        # JSON numbers only, as on SQLite: not a string that reads as one (a CSV cell).
        kind = _first([func.jsonb_typeof(func.jsonb_extract_path(meta, *ps)) for ps in tried])
        guarded = case((kind == "number", cast(text_value, Float)), else_=None)
        return _apply(guarded, op, number, dialect)
    return _apply(text_value, op, raw, dialect)


def _first(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else func.coalesce(*values)


_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0  # at the equator; times cos(latitude)


def _numbers(word: str, rest: str, n: int, example: str) -> list[float]:
    parts = [p.strip() for p in rest.replace(" ", "").split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"cannot read {word} {rest!r}: expected {example}")
    return values


def _geo_cond(word: str, rest: str, dialect: str) -> ColumnElement[bool]:
    lat = _metadata_number("geo.lat", dialect)
    lon = _metadata_number("geo.lon", dialect)
    if word == "within":
        x0, y0, x1, y1 = _numbers(
            word, rest, 4, "MINLON,MINLAT,MAXLON,MAXLAT, e.g. within -95.4,29.7,-95.3,29.8"
        )
        if x0 > x1 or y0 > y1 or not (-90 <= y0 <= 90 and -90 <= y1 <= 90):
            raise InvalidInput(
                f"within {rest!r}: the box runs from the south-west to the north-east corner"
            )
        return and_(lat >= y0, lat <= y1, lon >= x0, lon <= x1)
    lat0, lon0, radius = _numbers(word, rest, 3, "LAT,LON,RADIUS_M, e.g. near 29.76,-95.37,500")
    if not -90 <= lat0 <= 90 or radius < 0:
        raise InvalidInput(f"near {rest!r}: latitude must lie in [-90, 90] and the radius be >= 0")
    kx = _M_PER_DEG_LON * math.cos(math.radians(lat0))
    dx = (lon - lon0) * kx
    dy = (lat - lat0) * _M_PER_DEG_LAT
    # A box first (an index-friendly prefilter), then the circle.
    pad_lat = radius / _M_PER_DEG_LAT
    pad_lon = radius / kx if kx > 1e-9 else 180.0
    return and_(
        lat >= lat0 - pad_lat,
        lat <= lat0 + pad_lat,
        lon >= lon0 - pad_lon,
        lon <= lon0 + pad_lon,
        dx * dx + dy * dy <= radius * radius,
    )


def _metadata_number(key: str, dialect: str) -> Any:
    """A numeric metadata value (NULL where absent or not a number)."""
    parts = key.split(".")
    if dialect == "sqlite":
        path = "$." + ".".join(f'"{p}"' for p in parts)
        meta_text = _stored_json(dialect)
        return case(
            (
                func.json_type(meta_text, path).in_(("integer", "real")),
                func.json_extract(meta_text, path),
            ),
            else_=None,
        )
    from sqlalchemy.dialects.postgresql import JSONB

    meta = cast(_stored_json(dialect), JSONB)
    value = func.jsonb_extract_path(meta, *parts)
    return case(
        (
            func.jsonb_typeof(value) == "number",
            cast(func.jsonb_extract_path_text(meta, *parts), Float),
        ),
        else_=None,
    )


# A bare token of JSON's outside its strings (text that, from its start, is whole strings and
# other characters, then a separator): where older ingests stored NaN or an infinity.
_BARE = r'(?<=^(?:[^"]|"(?:[^"\\]|\\.)*")*[:,\[][ \t\n\r]*)'
# JSON's escape of a NUL (\\u0000 after an even run of backslashes, which the rewrite keeps).
_NUL_ESCAPE = "\\u0000"
_NUL = r"(?<!\\)((?:\\\\)*)\\u0000"
# PostgreSQL's spelling of `finite_metadata`, -Infinity before Infinity.
_NON_FINITE_SQL = (("-Infinity", '"-inf"'), ("Infinity", '"inf"'), ("NaN", '"nan"'))


def _stored_json(dialect: str) -> Any:
    """Items' metadata text as JSON the database reads: a NaN or infinity that older ingests
    stored (which SQLite's and PostgreSQL's JSON refuse, failing the whole query) becomes
    "nan", "inf" or "-inf", as ingests store it now; the stored rows stay as they are (their
    metadata_hash is in commits). Only texts holding such a word pay for the rewrite."""
    col = items.c.metadata
    if dialect == "sqlite":
        odd = or_(func.instr(col, "NaN") > 0, func.instr(col, "Infinity") > 0)
        return case((odd, getattr(func, FINITE_JSON)(col)), else_=col)
    odd = or_(
        func.strpos(col, "NaN") > 0,
        func.strpos(col, "Infinity") > 0,
        func.strpos(col, _NUL_ESCAPE) > 0,
    )
    fixed: Any = col
    for word, spelling in _NON_FINITE_SQL:
        fixed = func.regexp_replace(fixed, literal(_BARE + word), literal(spelling), literal("g"))
    # JSONB refuses a NUL (valid JSON's \u0000) in a string, failing the whole query: it reads
    # as U+FFFD, so the string still differs from the one without it.
    fixed = func.regexp_replace(fixed, literal(_NUL), literal("\\1\ufffd"), literal("g"))
    return case((odd, fixed), else_=col)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
_FOLD = str.maketrans(_UPPER, _LOWER)


def _apply(col: Any, op: str, value: Any, dialect: str) -> _CE[bool]:
    if op == "~":
        pattern = str(value).replace("%", r"\%").replace("_", r"\_").replace("*", "%")
        pattern = pattern.replace("?", "_")
        if dialect != "sqlite":
            # SQLite's LIKE takes ASCII letters in either case (and only those): so here.
            col, pattern = func.translate(col, _UPPER, _LOWER), pattern.translate(_FOLD)
        return col.like(literal(pattern), escape="\\")  # type: ignore[no-any-return]
    ops = {
        "=": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }
    return ops[op](value)  # type: ignore[no-any-return]
