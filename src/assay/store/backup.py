"""`assay backup DIR` / `assay restore DIR`: a consistent copy of a workspace, taken live.

A backup folder holds the workspace config, the metadata (``assay.db``, a SQLite online
backup; or ``postgresql/``, every table of the workspace's schema in PostgreSQL's COPY format,
read in one REPEATABLE READ transaction, so one consistent snapshot, and restorable into a
schema of any name, which a `pg_dump` archive is not) and the blobs as a local store
(``objects/``, packed). The metadata snapshot is taken first
and the blobs copied after it, under the blob-writer lock, so `assay gc` cannot collect a
blob the snapshot names; blobs written after the snapshot are copied too, which is harmless.
The folder is written under a temporary name and renamed when complete: a failed backup
leaves nothing that looks like one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.errors import Conflict, InvalidInput
from assay.store import locks
from assay.store.blobs import PACK_MAX, BlobStore, LocalBlobStore, blob_name, corrupt_blob
from assay.store.database import Database
from assay.store.schema import metadata as tables_metadata

log = logging.getLogger(__name__)

FORMAT = 1
SQLITE_FILE = "assay.db"
PG_FOLDER = "postgresql"  # one COPY file per table, and tables.json naming their columns
_BATCH = 500

Progress = Callable[[int, int], None]


def _schema_tables(conn: Any) -> dict[str, list[str]]:
    """The tables of the connection's schema and their columns, parents before children
    (the order foreign keys need when the rows go back in)."""
    rows = conn.exec_driver_sql(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    order = [t.name for t in tables_metadata.sorted_tables if t.name in found]
    return {t: found[t] for t in order + sorted(set(found) - set(order))}


def _copy_sql(conn: Any, table: str, columns: list[str], direction: str) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) {direction}"


def _pg_dump(db: Database, folder: Path) -> None:
    """Every table of the workspace's schema as of one snapshot, in COPY text format."""
    folder.mkdir()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # the snapshot starts here
            tables = _schema_tables(conn)
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for table, columns in tables.items():
                with (
                    (folder / f"{table}.copy").open("wb") as out,
                    cur.copy(_copy_sql(conn, table, columns, "TO STDOUT")) as copy,
                ):
                    for chunk in copy:
                        out.write(chunk)
    (folder / "tables.json").write_text(json.dumps(tables, indent=1) + "\n")


def _pg_load(folder: Path, db: Database) -> None:
    """Replace every row of the workspace's schema with the backup's, in one transaction;
    identity sequences then continue after the restored rows."""
    tables: dict[str, list[str]] = json.loads((folder / "tables.json").read_text())
    with db.begin() as conn:
        present = _schema_tables(conn)
        for table, columns in tables.items():
            unknown = sorted(set(columns) - set(present.get(table, [])))
            if unknown:
                raise InvalidInput(
                    f"{folder}: {table}.{', '.join(unknown)} is not in this assay's schema; "
                    "restore with the assay version that made the backup"
                )
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"TRUNCATE {', '.join(quote(t) for t in present)} RESTART IDENTITY")
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for table in [t for t in present if t in tables]:
            with (
                (folder / f"{table}.copy").open("rb") as src,
                cur.copy(_copy_sql(conn, table, tables[table], "FROM STDIN")) as copy,
            ):
                while chunk := src.read(1 << 20):
                    copy.write(chunk)
        serials = conn.exec_driver_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND (left(column_default, 8) = 'nextval(' OR is_identity = 'YES')"
        ).all()
        for table, column in serials:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence(%(t)s, %(c)s), "
                f"coalesce(max({quote(column)}), 0) + 1, false) FROM {quote(table)}",
                {"t": quote(table), "c": column},
            )


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
                _pg_dump(db, stage / PG_FOLDER)
            copied = copy_blobs(blobs, LocalBlobStore(stage / "objects"), progress)
        meta = {"format": FORMAT, "metadata": SQLITE_FILE if db.is_sqlite else PG_FOLDER}
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
    # A name listed by a backup's own index is a path component below: refused unless a sha256.
    shas = [blob_name(sha, src.url) for sha in src.iter_shas()]
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
                digest = hashlib.sha256(head)
                if len(head) <= PACK_MAX:
                    _check(src, sha, digest)
                    small.append((head, sha))
                    continue
                fd, tmp = tempfile.mkstemp(prefix="assay-blob-")
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(head)
                        while chunk := fh.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                    _check(src, sha, digest)
                except BaseException:
                    os.unlink(tmp)
                    raise
            staged.append(dest.stage_file(tmp, sha, move=True))
        staged += dest.stage_many([d for d, _ in small], [s for _, s in small])
        dest.make_durable(staged)
        dest.publish_many(staged)
        copied += len(missing)
        done += len(batch)
        if progress:
            progress(done, len(shas))
    return copied


def _check(src: BlobStore, sha: str, digest: Any) -> None:
    """A blob copied under its name must hash to it: a backup folder (or a bucket) edited by
    hand cannot put other bytes into the copy under a name its metadata trusts."""
    if digest.hexdigest() != sha:
        raise corrupt_blob(sha, src.url, "nothing was copied from it")


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
        _pg_load(source / PG_FOLDER, db)
    return {"folder": str(source), "blobs": copied, "metadata": meta["metadata"]}
