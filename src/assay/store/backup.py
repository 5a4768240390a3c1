"""`assay backup DIR` / `assay restore DIR`: a consistent copy of a workspace, taken live.

A backup folder holds the workspace config, the metadata (``assay.db``, a SQLite online
backup; or ``assay.pgdump``, a `pg_dump` custom archive, itself one consistent transaction)
and the blobs as a local store (``objects/``, packed). The metadata snapshot is taken first
and the blobs copied after it, under the blob-writer lock, so `assay gc` cannot collect a
blob the snapshot names; blobs written after the snapshot are copied too, which is harmless.
The folder is written under a temporary name and renamed when complete: a failed backup
leaves nothing that looks like one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.errors import Conflict, InvalidInput
from assay.store import locks
from assay.store.blobs import PACK_MAX, BlobStore, LocalBlobStore
from assay.store.database import Database

log = logging.getLogger(__name__)

FORMAT = 1
SQLITE_FILE = "assay.db"
PG_FILE = "assay.pgdump"
_BATCH = 500

Progress = Callable[[int, int], None]


def _pg_url(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InvalidInput(f"a PostgreSQL workspace is backed up with {name}; install it")
    return found


def backup(
    db: Database, blobs: BlobStore, config: Path, dest: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Copy the workspace (config, metadata, blobs) to the new folder `dest`."""
    if dest.exists() and any(dest.iterdir()):
        raise Conflict(f"{dest}: not empty; back up into a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copyfile(config, stage / config.name)
        with locks.blob_writes(db):
            if db.is_sqlite:
                src = sqlite3.connect(str(db.engine.url.database))
                out = sqlite3.connect(stage / SQLITE_FILE)
                try:
                    src.backup(out)  # one consistent snapshot, while writers go on
                finally:
                    out.close()
                    src.close()
            else:
                subprocess.run(
                    [_tool("pg_dump"), "--format=custom", "--no-owner",
                     f"--file={stage / PG_FILE}", _pg_url(db)],
                    check=True, capture_output=True,
                )  # fmt: skip
            copied = copy_blobs(blobs, LocalBlobStore(stage / "objects"), progress)
        meta = {"format": FORMAT, "metadata": SQLITE_FILE if db.is_sqlite else PG_FILE}
        (stage / "backup.json").write_text(json.dumps({**meta, "blobs": copied}) + "\n")
        if dest.exists():
            dest.rmdir()
        os.replace(stage, dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {"folder": str(dest), "blobs": copied, "metadata": meta["metadata"]}


def copy_blobs(src: BlobStore, dest: BlobStore, progress: Progress | None = None) -> int:
    """Copy every blob of `src` that `dest` lacks; large ones pass through a temporary
    file in chunks, never whole through memory."""
    shas = list(src.iter_shas())
    done = copied = 0
    for start in range(0, len(shas), _BATCH):
        batch = shas[start : start + _BATCH]
        have = dest.present(batch)
        missing = [s for s in batch if s not in have]
        small: list[tuple[bytes, str]] = []
        staged = []
        for sha in missing:
            with src.open(sha) as fh:
                head = fh.read(PACK_MAX + 1)
                if len(head) <= PACK_MAX:
                    small.append((head, sha))
                    continue
                fd, tmp = tempfile.mkstemp(prefix="assay-blob-")
                with os.fdopen(fd, "wb") as out:
                    out.write(head)
                    shutil.copyfileobj(fh, out, 1 << 20)
            staged.append(dest.stage_file(tmp, sha, move=True))
        staged += dest.stage_many([d for d, _ in small], [s for _, s in small])
        dest.make_durable(staged)
        dest.publish_many(staged)
        copied += len(missing)
        done += len(batch)
        if progress:
            progress(done, len(shas))
    return copied


def restore(
    source: Path, db: Database, blobs: BlobStore, config: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Restore a backup folder into a freshly made workspace (its database still empty)."""
    meta_file = source / "backup.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{meta_file}: not an assay backup ({exc})") from None
    if meta.get("format") != FORMAT:
        raise InvalidInput(f"{meta_file}: backup format {meta.get('format')!r} is not {FORMAT}")
    shutil.copyfile(source / config.name, config)
    # Blobs first: the metadata naming them arrives last, as with any write.
    copied = copy_blobs(LocalBlobStore(source / "objects"), blobs, progress)
    if meta["metadata"] == SQLITE_FILE:
        if not db.is_sqlite:
            raise InvalidInput(f"{source}: a SQLite backup; restore it into a SQLite workspace")
        src = sqlite3.connect(source / SQLITE_FILE)
        out = sqlite3.connect(str(db.engine.url.database))
        try:
            src.backup(out)
        finally:
            out.close()
            src.close()
    else:
        if db.is_sqlite:
            raise InvalidInput(f"{source}: a PostgreSQL backup; set ASSAY_DATABASE_URL")
        subprocess.run(
            [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
             f"--dbname={_pg_url(db)}", str(source / PG_FILE)],
            check=True, capture_output=True,
        )  # fmt: skip
    return {"folder": str(source), "blobs": copied, "metadata": meta["metadata"]}
