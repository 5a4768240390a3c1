"""A revision's rows as one Arrow table, for readers outside versioning (the explorer).

Example:
    >>> import tempfile
    >>> from assay import Workspace
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> ws.create_dataset("empty")
    >>> with ws.db.read() as conn:
    ...     revision_rows(conn, ws.blobs, ws.resolve("empty", default_head=False)).num_rows
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import Connection

from assay.store import BlobStore
from assay.versioning import _manifest, _rows
from assay.versioning.commit import Revision

COLUMNS = _manifest.COLUMNS


def revision_rows(
    conn: Connection, blobs: BlobStore, rev: Revision, columns: list[str] | None = None
) -> pa.Table:
    """Manifest rows (item_id, labels, authors, marking, ...) of a commit or the working state."""
    if rev.commit is not None:
        return _manifest.read(blobs, rev.commit.manifest, columns)
    t = _rows.working_rows(conn, rev.dataset_id)
    return t if columns is None else t.select(columns)


def item_attributes(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """(name, width, height, metadata JSON) of each item id, read in chunks."""
    return _rows.item_attributes(conn, ids)
