"""The attacker's tools in audit tests: plain SQL on the workspace's database, verify as found.

The writer goes through the workspace's own database (SQLite file or PostgreSQL schema) but
not through assay: no audit event, no checkpoint, so an edit on either store is the same edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from assay import Workspace
from assay.audit import VerifyResult


@contextmanager
def raw(folder: Path, *, write: bool = True) -> Iterator[Connection]:
    """A connection to the workspace's database, as a writer outside assay would hold it.

    The workspace is disposed, not closed: close() would sign a checkpoint of the head. It is
    opened on any database: once the first event is rewritten, it is not the folder's."""
    w = Workspace.open(folder, any_database=True)
    try:
        with w.db.begin() if write else w.db.read() as conn:
            yield conn
    finally:
        w.db.dispose()


def sql(folder: Path, statement: str, **params: object) -> None:
    """Run one statement (named `:param`s) on the workspace database. A literal colon before a
    word needs a space or a backslash after it (`'{"new": 0}'`): `text()` reads `:0` as a
    parameter."""
    with raw(folder) as conn:
        conn.execute(text(statement), params)


def query(folder: Path, statement: str, **params: object) -> list[Any]:
    """The rows of one query on the workspace database, read as an outside reader would."""
    with raw(folder, write=False) as conn:
        return list(conn.execute(text(statement), params))


def verify_as_found(folder: Path, *files: Path) -> VerifyResult:
    """Verify without closing the workspace: close() would sign a checkpoint of the head;
    on any database, as `assay audit verify` does."""
    w = Workspace.open(folder, any_database=True)
    try:
        return w.audit_verify(list(files))
    finally:
        w.db.dispose()
