"""One write transaction as the hot paths see it: plain SQL with `:name` parameters.

The queue and submit paths run about ten short statements per request. Through
SQLAlchemy each costs far more than SQLite takes to run it, so on SQLite they go to the
sqlite3 connection itself, which keeps every statement prepared (its statement cache is
keyed by the SQL text). Other databases run the same SQL through SQLAlchemy `text()`.
Rows are plain tuples either way: read them by position.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from assay import audit
from assay.labeling._db import write
from assay.store import Database

Params = Mapping[str, Any]


class Tx(Protocol):
    """An open write transaction."""

    key: str  # names the database, for per-database caches
    dialect: str  # "sqlite" or "postgresql"

    def one(self, sql: str, params: Params) -> Any:
        """The first row (a tuple), or None."""

    def all(self, sql: str, params: Params) -> list[Any]:
        """Every row."""

    def run(self, sql: str, params: Params) -> int:
        """Execute a change; the number of rows it touched."""

    def audit(self, actor: str, action: str, target: str, details: dict[str, Any]) -> int:
        """Append an audit event inside this transaction (`assay.audit.append`)."""

    def serialize(self, key: str) -> None:
        """Make transactions naming the same `key` run one after another from here to their
        commit (a no-op where writers are one at a time already, as on SQLite)."""


class RawTx:
    """A transaction on a sqlite3 connection (the caller began it)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, key: str, *, sign_each: bool = True) -> None:
        self.conn = conn
        self.key = key
        # A group commit signs once, the newest event, just before COMMIT (`audit.seal`).
        self.sign_each = sign_each

    def one(self, sql: str, params: Params) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Params) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Params) -> int:
        return self.conn.execute(sql, params).rowcount

    def audit(self, actor: str, action: str, target: str, details: dict[str, Any]) -> int:
        return audit.append(self.conn, actor, action, target, details, sign=self.sign_each)

    def serialize(self, key: str) -> None:
        return None  # BEGIN IMMEDIATE: one writer at a time


@lru_cache(maxsize=256)
def _text(sql: str) -> TextClause:
    return text(sql)


class AlchemyTx:
    """The same operations through a SQLAlchemy connection (PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.key = str(conn.engine.url)
        self.dialect = conn.dialect.name

    def one(self, sql: str, params: Params) -> Any:
        return self.conn.execute(_text(sql), dict(params)).first()

    def all(self, sql: str, params: Params) -> list[Any]:
        return list(self.conn.execute(_text(sql), dict(params)).all())

    def run(self, sql: str, params: Params) -> int:
        return int(self.conn.execute(_text(sql), dict(params)).rowcount)

    def audit(self, actor: str, action: str, target: str, details: dict[str, Any]) -> int:
        return audit.append(self.conn, actor, action, target, details)

    def serialize(self, key: str) -> None:
        if self.conn.dialect.name == "postgresql":  # held until this transaction ends
            self.one("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": key})


def tx_for(conn: Connection) -> Tx:
    """The hot-path view of a SQLAlchemy connection inside its transaction."""
    driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    if isinstance(driver, sqlite3.Connection):
        return RawTx(driver, str(conn.engine.url))
    return AlchemyTx(conn)


@contextmanager
def write_tx(db: Database) -> Iterator[Tx]:
    """A write transaction (`_db.write`) seen as a `Tx`."""
    with write(db) as conn:
        yield tx_for(conn)


def in_list(name: str, values: list[str]) -> tuple[str, dict[str, str]]:
    """`(:name0, :name1, ...)` and its parameters, for `column IN ...` in plain SQL."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params
