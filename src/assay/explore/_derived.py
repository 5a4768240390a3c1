"""Blobs computed once from content: (kind, source sha) -> blob sha in the `derived` table."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select

from assay.labeling._db import write
from assay.store.schema import derived
from assay.timeutil import now_iso
from assay.workspace import Workspace

# The blob store stages a loose blob under a name made of the process id and its sha, so two
# threads of one process storing the same bytes at once would share a temporary file.
_PUT = threading.Lock()


def derived_blob(ws: Workspace, kind: str, source: str, make: Callable[[], bytes]) -> str:
    """The blob `make` produces for `source`, made the first time only.

    A recorded blob that went missing (a blob-store gc, a copied workspace) is made again.
    Two processes making the same one at once both store identical bytes: the blob store is
    content-addressed, so the second write is a no-op.
    """
    with ws.db.read() as conn:
        sha = conn.execute(
            select(derived.c.blob).where(derived.c.kind == kind, derived.c.source == source)
        ).scalar()
    if sha is not None and ws.blobs.exists(sha):
        return str(sha)
    data = make()
    with ws.blob_writes():
        with _PUT:
            sha = ws.blobs.put_bytes(data)
        with write(ws.db) as conn:
            conn.execute(derived.delete().where(derived.c.kind == kind, derived.c.source == source))
            conn.execute(
                derived.insert().values(kind=kind, source=source, blob=sha, created=now_iso())
            )
    return sha
