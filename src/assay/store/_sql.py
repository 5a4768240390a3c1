"""Small dialect-portable SQL helpers."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import IntegrityError

from assay.errors import Conflict


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), list(rows))
    elif not _to_driver(conn, table, rows, " ON CONFLICT DO NOTHING"):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), list(rows))


def insert_named(conn: Connection, stmt: Insert, taken: str) -> CursorResult[Any]:
    """Run `stmt`, the INSERT of a row whose only unique key besides its generated id is its
    name, raising Conflict(`taken`) if that name is taken.

    The caller's check that the name is free does not cover a concurrent create of the same
    name on PostgreSQL (read committed: both see no row, the second INSERT waits for the
    first and then violates the key); this gives that race the same error as the check.
    """
    try:
        return conn.execute(stmt)
    except IntegrityError as e:
        raise Conflict(taken) from e


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows (all with the same keys), as ``conn.execute(table.insert(), rows)``."""
    if rows and not _to_driver(conn, table, rows, ""):
        conn.execute(table.insert(), list(rows))


def _to_driver(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], tail: str) -> bool:
    """On SQLite, plain values (no type conversion, no Python-side default to fill in) straight
    to the driver's executemany: SQLAlchemy's per-row parameter handling costs more than
    SQLite's own insert on a bulk import's 100k rows. A column's bind processor (a float
    column's) is applied here as SQLAlchemy would. False where a Python-side default is due."""
    if conn.dialect.name != "sqlite":
        return False
    names = list(rows[0])
    unnamed = [c for c in table.c if c.name not in names]
    if any(c.default is not None for c in unnamed):
        return False
    procs = [table.c[n].type.bind_processor(conn.dialect) for n in names]
    sql = _insert_sql(conn, table, names) + tail
    # Each row's values in `names` order, by C loops (a generator per row cost more than the
    # insert); a column with a bind processor is converted a column at a time.
    get = itemgetter(*names)
    values = list(map(get, rows)) if len(names) > 1 else [(get(r),) for r in rows]
    converted = [(k, p) for k, p in enumerate(procs) if p is not None]
    if converted:
        columns = list(zip(*values, strict=True))
        for k, p in converted:
            columns[k] = tuple(map(p, columns[k]))
        values = list(zip(*columns, strict=True))
    conn.exec_driver_sql(sql, values)
    return True


def _insert_sql(conn: Connection, table: Table, names: Sequence[str]) -> str:
    """``INSERT INTO table (names) VALUES (...)`` in the driver's own placeholders."""
    quoted = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join([mark_of(conn)] * len(names))
    return f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'


def mark_of(conn: Connection) -> str:
    """The driver's placeholder for `Connection.exec_driver_sql`: ``%s`` on PostgreSQL
    (psycopg), ``?`` on SQLite."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def insert_tuples(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT rows of plain values (`names` in order; no type conversion, no Python-side
    default to fill in) straight to the driver's executemany: SQLAlchemy's per-row parameter
    handling costs more than the database's own insert on tens of thousands of rows."""
    if not rows:
        return
    conn.exec_driver_sql(_insert_sql(conn, table, names), list(rows))


CHUNK = 500  # stays under every backend's bound-parameter limit


def select_in(
    conn: Connection,
    columns: Sequence[Any],
    key: Any,
    values: Sequence[Any],
    *conditions: Any,
) -> list[Any]:
    """Rows of `SELECT columns WHERE key IN values AND conditions`, queried in chunks."""
    # One statement with an expanding parameter: compiled once and cached, rather than a new
    # statement (and compile) per chunk with every value a bound-parameter object.
    stmt = select(*columns).where(key.in_(bindparam("values", expanding=True)), *conditions)
    rows: list[Any] = []
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start : start + CHUNK])
        rows.extend(conn.execute(stmt, {"values": chunk}).all())
    return rows
