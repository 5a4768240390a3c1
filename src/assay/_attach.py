"""Whether a new workspace folder may use a shared (PostgreSQL) database.

`assay init` needs a database that holds no workspace yet; `assay init --attach` one that
does, with this folder's blobs in the place that workspace keeps them, or the items the
database records would have no bytes here. A database holds a workspace once its audit trail
has begun: every workspace's first event is ``workspace.init``, naming its folder and host.

At init `meta` records the blob store (``blob_url``: an S3 URL, or the absolute path of a
local folder) and the marking levels (``marking_levels``), which an attached folder takes
over, since each folder keeps them in its own config. For a workspace made before assay
recorded its blob store, the bytes of one recorded item are looked up in this folder's store
instead. The trail is signed with one key, so an attaching machine must hold it too.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, inspect, select
from sqlalchemy.engine import Connection

from assay._binding import genesis
from assay.audit import KEY_ENV, key_path, lock_trail, trusted_keys
from assay.errors import Conflict, NotFound
from assay.store import Database, LocalBlobStore, open_blobs
from assay.store.schema import audit, items, meta

BLOB_KEY = "blob_url"
LEVELS_KEY = "marking_levels"
KEYS = (BLOB_KEY, LEVELS_KEY)


def blob_location(url: str) -> str:
    """The blob store's place as recorded and compared: S3 URLs as written, folders absolute."""
    return url.rstrip("/") if url.startswith("s3://") else str(Path(url).resolve())


def check_blobs(conn: Connection, root: Path, blobs: str) -> None:
    """Refuse the folder `root` opened with a blob store (`blobs`, a `blob_location`) other
    than the S3 one its workspace recorded, or with S3 when the workspace keeps its blobs in
    a folder: its items' bytes are not there, and what it stored would be where no other
    process of the workspace looks. A local folder at another path passes (a moved folder)."""
    if not inspect(conn).has_table(meta.name):
        return
    row = conn.execute(select(meta.c.value).where(meta.c.key == BLOB_KEY)).first()
    recorded = str(row[0]) if row is not None else None
    if recorded is None or recorded == blobs:
        return
    if not recorded.startswith("s3://") and not blobs.startswith("s3://"):
        return
    here = f"ASSAY_BLOB_URL={blobs}" if blobs.startswith("s3://") else "ASSAY_BLOB_URL unset"
    if recorded.startswith("s3://"):
        remedy = f"set ASSAY_BLOB_URL={recorded} (and the AWS_* variables of its endpoint)"
    else:
        remedy = f"unset ASSAY_BLOB_URL: its blobs are in {recorded}"
    raise Conflict(
        f"{root.parent}: this workspace keeps its blobs in {recorded}, and this shell names "
        f"another store ({here}), where its items have no bytes; nothing was opened: {remedy}"
    )


def host() -> str:
    return socket.gethostname()


def record(conn: Connection, blobs: str, levels: list[str] | None = None) -> None:
    """Record where the workspace keeps its blobs (and, at init, its marking levels)."""
    values = {BLOB_KEY: blobs, **({LEVELS_KEY: json.dumps(levels)} if levels else {})}
    conn.execute(delete(meta).where(meta.c.key.in_(values)))
    conn.execute(meta.insert(), [{"key": k, "value": v} for k, v in values.items()])


@dataclass(frozen=True)
class _Found:
    folder: str  # where the workspace was made (its first event's target)
    host: str  # and on which machine ("" before hosts were recorded)
    blobs: str | None  # the recorded blob store, None before it was recorded
    levels: list[str] | None  # the recorded marking levels, likewise
    item: str | None  # one recorded item, whose bytes the blob store must hold
    key: str | None  # the id of the key that signed the newest signed event

    def described(self) -> str:
        return f"{self.folder} on host {self.host}" if self.host else self.folder


def _found(conn: Connection) -> _Found | None:
    first = genesis(conn)
    if first is None:
        return None
    rows = conn.execute(select(meta.c.key, meta.c.value).where(meta.c.key.in_(KEYS)))
    recorded = {str(k): str(v) for k, v in rows}
    levels = json.loads(recorded[LEVELS_KEY]) if LEVELS_KEY in recorded else None
    item = conn.execute(select(items.c.id).limit(1)).scalar()
    signed = select(audit.c.sig).where(audit.c.sig.is_not(None))
    sig = conn.execute(signed.order_by(audit.c.seq.desc()).limit(1)).scalar()
    key = str(sig).partition(":")[0] if sig else None
    return _Found(first.folder, first.host, recorded.get(BLOB_KEY), levels, item, key)


def _inspect(url: str) -> tuple[str, _Found | None]:
    """The database's URL as shown (no password) and the workspace it holds, if any."""
    db = Database(url)
    try:
        with db.read() as conn:
            return db.engine.url.render_as_string(hide_password=True), _found(conn)
    finally:
        db.dispose()


NEW_HERE = (
    "run `assay init --attach` to use that workspace from this folder too (its blobs must be "
    "shared, e.g. ASSAY_BLOB_URL on S3), or point ASSAY_DATABASE_URL at an empty database or "
    "schema for a new workspace"
)


def refuse_taken(url: str, remedy: str = NEW_HERE) -> None:
    """Refuse a database that already holds a workspace (for a new one, or a restore)."""
    _refuse(*_inspect(url), remedy)


def claim(conn: Connection) -> None:
    """In the transaction that writes a new workspace's first event, before it writes
    anything: wait for any other init on the database to end, then refuse the database as
    `refuse_taken` does if it holds a workspace by now. Of inits started at the same moment,
    which all passed `refuse_taken`, exactly one goes on; the others' transactions roll back."""
    lock_trail(conn)
    _refuse(conn.engine.url.render_as_string(hide_password=True), _found(conn), NEW_HERE)


def _refuse(where: str, found: _Found | None, remedy: str) -> None:
    if found is not None:
        raise Conflict(
            f"ASSAY_DATABASE_URL={where} already holds the assay workspace made in "
            f"{found.described()}; {remedy}"
        )


def check_attach(url: str, blobs: str) -> list[str] | None:
    """Refuse to attach to a database that holds no workspace, or whose workspace keeps its
    blobs where this folder's store (`blobs`, a `blob_location`) is not, or signs its trail
    with a key this machine lacks; answer the workspace's marking levels (None if not
    recorded)."""
    where, found = _inspect(url)
    if found is None:
        raise NotFound(
            f"ASSAY_DATABASE_URL={where} holds no assay workspace to attach to; "
            "run `assay init` without --attach to make one there"
        )
    # A local folder is never shared: a new folder's objects/ is new, even at the same path.
    local = found.blobs is not None and not found.blobs.startswith("s3://")
    if found.blobs is not None and (found.blobs != blobs or local):
        theirs = f"{found.blobs} on host {found.host}" if local and found.host else found.blobs
        mine = blobs if blobs.startswith("s3://") else f"{blobs} on host {host()}"
        raise Conflict(
            f"cannot attach to the workspace in ASSAY_DATABASE_URL={where}: it keeps its "
            f"blobs in {theirs}, this folder would keep them in {mine}, so the items it "
            f"records would have no bytes here; {_remedy(found)}"
        )
    if found.item is not None and not _holds(blobs, found.item):
        raise Conflict(
            f"cannot attach to the workspace in ASSAY_DATABASE_URL={where}: {blobs} lacks "
            f"the bytes of its item {found.item[:12]}, so it is not that workspace's blob "
            f"store; {_remedy(found)}"
        )
    if found.key is not None and found.key not in trusted_keys():
        raise Conflict(
            f"cannot attach to the workspace in ASSAY_DATABASE_URL={where}: its audit trail "
            f"is signed with key {found.key}, and this machine's key ({key_path()}) "
            f"is another, so `assay audit verify` would fail on every event; copy the key file "
            f"the workspace is signed with here and point {KEY_ENV} at it"
        )
    return found.levels


def _remedy(found: _Found) -> str:
    if found.blobs is not None and found.blobs.startswith("s3://"):
        return f"set ASSAY_BLOB_URL={found.blobs} (and the AWS endpoint it is on)"
    return (
        f"use it from {found.described()} itself, or move its blobs to S3 "
        "(`assay backup`, then `assay restore` with ASSAY_BLOB_URL set) and attach with "
        "that ASSAY_BLOB_URL"
    )


def _holds(location: str, sha: str) -> bool:
    if location.startswith("s3://"):
        return open_blobs(location).exists(sha)
    return Path(location).is_dir() and LocalBlobStore(Path(location)).exists(sha)
