"""Opening the metadata database: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from assay.domain.canonical import finite_metadata
from assay.store import schema

# The SQL function SQLite queries read stored metadata through (`versioning._query`): a NaN or
# infinity older ingests stored, which SQLite's JSON functions refuse, as `finite_metadata`
# reads it.
FINITE_JSON = "assay_finite_json"


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-200000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()
    dbapi_conn.create_function(FINITE_JSON, 1, _finite_json, deterministic=True)


def _finite_json(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return finite_metadata(text)
    except ValueError:  # not JSON at all: SQLite's JSON functions say so
        return text


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so concurrent writers queue instead of failing
    # mid-way; readers start a deferred transaction (a WAL snapshot) and block nobody.
    if conn.get_execution_options().get("assay_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class Database:
    """An engine plus the schema guarantee: opening migrates forward."""

    def __init__(self, url: str, check: Callable[[Connection], None] | None = None) -> None:
        """Open `url`; `check`, given a read connection, may refuse the database (by raising)
        before anything is written to it, the schema's migration included."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling is turned off so BEGIN IMMEDIATE is ours.
            event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
            event.listen(engine, "begin", _sqlite_begin)
        else:
            # Enough connections for a server's thread pool (40 threads) and the tests' crowds
            # of concurrent annotators; PostgreSQL's default max_connections is 100.
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=60)
        self.engine: Engine = engine
        try:
            if check is not None:
                with self.read() as conn:
                    check(conn)
            with self.begin() as conn:
                schema.migrate(conn)
        except BaseException:
            engine.dispose()
            raise

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls(f"sqlite:///{path}")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: everything inside commits together or not at all."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(assay_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot; it never holds the write lock."""
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
