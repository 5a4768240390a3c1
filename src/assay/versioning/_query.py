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

from sqlalchemy import ColumnElement, and_, func, literal
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


def compile_query(query: str, dialect: str) -> ColumnElement[bool]:
    parts = re.split(r"\s+and\s+", query.strip(), flags=re.IGNORECASE)
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
            key = field.split(".", 1)[1]
            if dialect == "sqlite":
                col = func.json_extract(items.c.metadata, f"$.{key}")
            else:
                col = func.cast(items.c.metadata, _json_type())[key].astext
        else:
            raise InvalidInput(
                f"unknown query field {field!r}; use one of "
                f"{', '.join(sorted(_NUMERIC | _TEXT))} or metadata.KEY"
            )
        conds.append(_apply(col, op, value))
    return and_(*conds)


def _json_type() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB


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
