"""PostgreSQL for the tests: the loopback server (trust auth, database `test`), one fresh schema
per test so tests and xdist workers never see each other's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose connections live in a new, empty schema; the schema is dropped after."""
    schema = f"assay_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        # No wait for the WAL flush at commit: a test survives killed clients and servers, not a
        # crash of the database server, and the loaded test machine commits far faster.
        yield f"{SERVER}?options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    finally:
        with admin.begin() as conn:
            # A connection a test left inside a transaction must not hang the teardown.
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
