"""The lock between blob writers and the blob collector (`assay gc`).

A writer stores blobs first and commits the metadata naming them afterwards; in between, the
blobs are referenced by nothing. Writers hold this lock shared from before they look for a
blob until their metadata is committed; `assay gc` holds it exclusively while it marks and
sweeps. So gc never removes a blob a writer has just stored or just found already present.

The lock lives with the metadata database, since every process sharing blobs shares it: a
file lock next to a SQLite database, an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from assay.store.database import Database

# One advisory lock for the blob writers of a schema ("assa", then the schema's hash): the
# workspaces of other schemas in the same database neither wait for nor hold up this one.
_PG_KEY = f"{0x6173_7361}, hashtext(current_schema())"


_HELD = threading.local()  # databases whose writer lock this thread holds


@contextmanager
def blob_writes(db: Database) -> Iterator[None]:
    """Held by every operation that stores blobs and then names them in the metadata (and
    by `assay backup`, so no blob of its snapshot is collected while it copies).

    Re-entrant within a thread: a nested writer (an evaluation that stores a derived blob)
    must not queue behind a waiting gc that waits for the outer one."""
    held: set[str] = _HELD.__dict__.setdefault("urls", set())
    if db.url in held:
        yield
        return
    with _held(db, exclusive=False):
        held.add(db.url)
        try:
            yield
        finally:
            held.discard(db.url)


@contextmanager
def blob_collection(db: Database) -> Iterator[None]:
    """Held by `assay gc` while it marks and sweeps."""
    with _held(db, exclusive=True):
        yield


@contextmanager
def _held(db: Database, *, exclusive: bool) -> Iterator[None]:
    if db.is_sqlite:
        path = f"{db.engine.url.database}.blobs-lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock
        return
    fn = "pg_advisory_lock" if exclusive else "pg_advisory_lock_shared"
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT {fn}({_PG_KEY})")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT {fn.replace('_lock', '_unlock')}({_PG_KEY})")
            conn.commit()
