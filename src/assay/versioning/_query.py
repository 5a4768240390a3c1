"""A small item query language for `dataset add --items`.

Conditions joined by ``and``: ``FIELD OP VALUE`` with OP one of
``= != < <= > >= ~`` (``~`` is a glob). Fields: ``media_type``, ``name``,
``source``, ``marking``, ``width``, ``height``, ``size``, ``created`` and
``metadata.KEY`` (``meta.KEY`` for short).

Example: ``media_type~image/* and metadata.sensor=uav-2 and width>=640``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Float, String, and_, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement as _CE

from assay.errors import InvalidInput
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
        conds.append(_apply(col, op, value))
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
    number = _number(raw)
    if dialect == "sqlite":
        path = "$." + ".".join(f'"{p}"' for p in parts)
        value = func.json_extract(items.c.metadata, path)
        as_text: Any = cast(value, String)
        if op in ("<", "<=", ">", ">=") and number is not None:
            numeric = func.json_type(items.c.metadata, path).in_(("integer", "real"))
            return and_(numeric, _apply(value, op, number))
        return _apply(as_text, op, raw)
    from sqlalchemy.dialects.postgresql import JSONB

    text_value = func.jsonb_extract_path_text(cast(items.c.metadata, JSONB), *parts)
    if op in ("<", "<=", ">", ">=") and number is not None:
        guarded = case(
            (
                text_value.op("~")(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"),
                cast(text_value, Float),
            ),
            else_=None,
        )
        return _apply(guarded, op, number)
    return _apply(text_value, op, raw)


def _apply(col: Any, op: str, value: Any) -> _CE[bool]:
    if op == "~":
        pattern = str(value).replace("%", r"\%").replace("_", r"\_").replace("*", "%")
        pattern = pattern.replace("?", "_")
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
