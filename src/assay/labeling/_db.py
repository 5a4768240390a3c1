"""Write transactions that queue in-process before they queue in SQLite.

SQLite serializes writers anyway; letting threads of one process wait on a lock
instead of SQLite's sleeping busy handler keeps the tail latency short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from assay.store import Database

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock_for(db: Database) -> threading.Lock:
    with _guard:
        return _locks.setdefault(db.url, threading.Lock())


@contextmanager
def write(db: Database) -> Iterator[Connection]:
    """A write transaction; on SQLite, one writer thread per process at a time."""
    if not db.is_sqlite:
        with db.begin() as conn:
            yield conn
        return
    with _lock_for(db), db.begin() as conn:
        yield conn
