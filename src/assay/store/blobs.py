"""Content-addressed blob storage.

Blobs are named by the sha256 of their bytes and never modified afterwards. A blob lives in
one of two places under the store's folder:

- loose, as its own file under a two-level fan-out (``objects/ab/cdef...``): single puts
  (manifests, model files) and anything larger than `PACK_MAX`;
- packed, as a span of a pack file (``objects/pack/*.pack``) listed in the pack index
  (``objects/packs.db``): small blobs written in bulk (ingest, import). Creating and renaming
  one file per blob costs more than hashing and checking a small image chip; a pack is one
  append-only file per writing process.

Either way a blob is first written where nobody looks (a temporary file, or pack bytes no
index row points at), made durable, and only then made visible (renamed into place, or
indexed), so a crash never leaves a blob that is named but incomplete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

from assay.errors import Corrupt, InvalidInput, NotFound

CHUNK = 1 << 20
PACK_MAX = 1 << 20  # larger blobs stay loose files
WRITEBACK_STEP = 8 << 20
_INDEX_CHUNK = 500


class BlobStore(Protocol):
    """The seam between assay and where bytes live: every service holds one.

    Two backends: `LocalBlobStore` (a folder; the embedded default) and
    `assay.store.s3.S3BlobStore` (S3-compatible object storage). A store is described by its
    `url`, a plain string that `open_blobs` turns back into an equal store: that is what
    crosses to worker processes and cluster workers, never a path on the client machine nor
    a credential (S3 credentials come from each process's own AWS variables).

    Writing in bulk is three steps so a crash never names an incomplete blob: `stage_many` /
    `stage_file` write where nobody reads, `make_durable` flushes, `publish_many` makes the
    blobs visible. Metadata naming a blob is committed only after it is published.
    """

    @property
    def url(self) -> str: ...
    def put_bytes(self, data: bytes) -> str: ...
    def put_many(self, blobs: Sequence[bytes]) -> list[str]: ...
    def get_bytes(self, sha: str) -> bytes: ...
    def read_many(self, shas: Sequence[str]) -> Iterator[bytes]: ...
    def in_read_order(self, shas: Sequence[str]) -> list[str]: ...
    def open(self, sha: str) -> BinaryIO: ...
    def exists(self, sha: str) -> bool: ...
    def present(self, shas: Iterable[str]) -> set[str]: ...
    def path(self, sha: str) -> Path: ...
    def iter_shas(self) -> Iterator[str]: ...
    def stage_many(self, blobs: Sequence[bytes], shas: Sequence[str]) -> list[Staged]: ...
    def stage_file(self, src: str, sha: str, *, move: bool = False) -> Staged: ...
    def make_durable(self, staged: Sequence[Staged]) -> None: ...
    def publish_many(self, staged: Sequence[Staged]) -> None: ...
    def collect(self, live: set[str]) -> CollectReport: ...
    def check_many(self, shas: Sequence[str]) -> Iterator[tuple[str, str | None]]: ...


# What `check_many` finds wrong with a blob.
MISSING, CHANGED = "missing", "changed"


_NAME = re.compile(r"[0-9a-f]{64}")


def is_blob_name(sha: str) -> bool:
    """True for a sha256 in lowercase hex, the only name a blob has."""
    return _NAME.fullmatch(sha) is not None


def blob_name(sha: str, where: str) -> str:
    """`sha` when it is a blob name, else one error: a name is joined into file paths and
    object keys, so one read from a file (a pack index, a backup) must never be a path."""
    if not is_blob_name(sha):
        raise InvalidInput(f"{where}: {sha!r} is not a blob name (a sha256 in hex)")
    return sha


def corrupt_blob(sha: str, where: str, outcome: str = "nothing read from it was used") -> Corrupt:
    """The error for bytes stored under `sha` in `where` that do not hash to it."""
    return Corrupt(
        f"blob {sha[:12]} in {where} does not hash to its name: the stored bytes were changed "
        f"or damaged; {outcome}"
    )


def put_many(store: BlobStore, blobs: Sequence[bytes]) -> list[str]:
    """`BlobStore.put_many` for any store: hash, skip what is present or repeated, stage, make
    durable, publish; returns the sha256s in order."""
    shas = [hashlib.sha256(data).hexdigest() for data in blobs]
    present = store.present(shas)
    new: dict[str, bytes] = {}
    for sha, data in zip(shas, blobs, strict=True):
        if sha not in present:
            new.setdefault(sha, data)
    staged = store.stage_many(list(new.values()), list(new))
    store.make_durable(staged)
    store.publish_many(staged)
    return shas


@dataclass
class CollectReport:
    """What `BlobStore.collect` removed and rewrote."""

    removed: int = 0  # blobs no longer stored
    freed: int = 0  # bytes given back
    repacked: int = 0  # packs rewritten without their dead blobs
    kept: int = 0  # live blobs

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def read_order(shas: Sequence[str], where: dict[str, tuple[str, int, int]]) -> list[str]:
    """`shas` (without repeats) as they lie in the store: packed blobs by pack and offset (as
    `where` locates them), then the others in their given order."""
    unique = list(dict.fromkeys(shas))
    packed = sorted((s for s in unique if s in where), key=lambda s: where[s][:2])
    return packed + [s for s in unique if s not in where]


def open_blobs(url: str) -> BlobStore:
    """The store a `BlobStore.url` describes: ``s3://bucket/prefix`` or a local folder."""
    # One store object per url and process: a worker handles many batches, and opening a
    # store (folders, the pack index, an S3 client) once is cheaper than once per batch.
    key = (url, os.getpid())
    store = _OPENED.get(key)
    if store is None:
        if url.startswith("s3://"):
            from assay.store.s3 import S3BlobStore

            store = S3BlobStore(url)
        else:
            store = LocalBlobStore(Path(url))
        _OPENED[key] = store
    return store


@contextlib.contextmanager
def raster_path(store: BlobStore, sha: str) -> Iterator[str]:
    """A name rasterio (GDAL) opens the blob by, inside this context: on S3 the object in
    place through ``/vsis3/`` (read in ranges, never downloaded whole, each range conditional
    on the version whose hash was checked), else a local file.

    Raises:
        Corrupt: on S3, the object was replaced between the check and a read (GDAL's read
        failed on it; nothing it read was of the new bytes).
    """
    gdal_path = getattr(store, "gdal_path", None)
    where = gdal_path(sha) if gdal_path is not None else None
    if where is None:
        yield str(store.path(sha))
        return
    import rasterio

    name, options, etag = where
    try:
        with rasterio.Env(**options):
            yield name
    except Exception as exc:
        replaced = store.replaced(sha, etag)  # type: ignore[attr-defined]
        if replaced is not None:
            raise replaced from exc
        raise


class Staged(NamedTuple):
    """A blob written but not yet visible: a temporary file, or a span of a pack file."""

    sha: str
    tmp: str = ""  # the temporary file of a loose blob
    pack: str = ""  # or the pack file's name under objects/pack/, with the span
    offset: int = 0
    length: int = 0


class _PackWriter:
    """This process's open pack file for one store: appended to, never rewritten."""

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.pid = os.getpid()
        self.name = f"{self.pid}-{secrets.token_hex(8)}.pack"
        self.fd = os.open(
            os.path.join(folder, self.name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644
        )
        self.pos = self.started = 0

    def append(self, blobs: Sequence[bytes]) -> list[int]:
        """Append blobs with one system call per IOV_MAX of them; returns their offsets."""
        offsets = []
        for blob in blobs:
            offsets.append(self.pos)
            self.pos += len(blob)
        for start in range(0, len(blobs), _IOV_MAX):
            _writev_all(self.fd, blobs[start : start + _IOV_MAX])
        if self.pos - self.started >= WRITEBACK_STEP and hasattr(os, "posix_fadvise"):
            # Ask the kernel to start writing what we have so far: by the time the ingest
            # makes its blobs durable, most of the pack is already on disk. (Linux; macOS has
            # no fadvise and simply writes it all at the sync.)
            os.posix_fadvise(self.fd, self.started, self.pos - self.started, os.POSIX_FADV_DONTNEED)
            self.started = self.pos
        return offsets

    def close(self) -> None:
        os.close(self.fd)


# One open pack per store folder and process; a forked child starts its own.
_WRITERS: dict[str, _PackWriter] = {}
_WRITERS_LOCK = threading.Lock()


class LocalBlobStore:
    """Blobs in a local folder; the embedded default."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self._packs = str(root / "pack")
        self._staging = ""
        self._local = threading.local()

    @property
    def url(self) -> str:
        return str(self.root)

    # --- reading -------------------------------------------------------------------------------

    def open(self, sha: str) -> BinaryIO:
        """The blob as a seekable file, read as the caller goes."""
        return self.path(sha).open("rb")

    def path(self, sha: str) -> Path:
        """The blob as a file of its own. A packed blob is first copied out to a loose file
        (once); for a missing blob this is where it would be, and does not exist."""
        loose = Path(self._loose(sha))
        if not loose.exists():
            loc = self._locate(sha)
            if loc is not None:
                self._put_loose(self._read(*loc, sha), sha)
        return loose

    def exists(self, sha: str) -> bool:
        if not is_blob_name(sha):
            return False
        return os.path.exists(self._loose(sha)) or self._locate(sha) is not None

    def present(self, shas: Iterable[str]) -> set[str]:
        """Which of `shas` the store holds (one index query per few hundred)."""
        wanted = [s for s in dict.fromkeys(shas) if is_blob_name(s)]
        # Most fan-out folders do not exist in a store of packed blobs: one listing of the
        # store's top level spares a stat per blob.
        fanned = {e.name for e in os.scandir(self.root) if len(e.name) == 2}
        found = {s for s in wanted if s[:2] in fanned and os.path.exists(self._loose(s))}
        return found | set(self._locations([s for s in wanted if s not in found]))

    def get_bytes(self, sha: str) -> bytes:
        try:
            with open(self._loose(sha), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            loc = self._locate(sha)
        if loc is None:
            raise NotFound(f"blob {sha[:12]} is missing from {self.root}") from None
        return self._read(*loc, sha)

    def in_read_order(self, shas: Sequence[str]) -> list[str]:
        """`shas` (without repeats) in the order they lie in the store: a batch job that reads
        its blobs in runs of this order reads neighbours in a pack, not one pack per blob."""
        return read_order(shas, self._locations(shas))

    def read_many(self, shas: Sequence[str]) -> Iterator[bytes]:
        """The bytes of each blob, in order: one index query per few hundred blobs and each
        pack opened once, instead of a lookup and an open per blob."""
        fds: dict[str, int] = {}
        try:
            for start in range(0, len(shas), _INDEX_CHUNK):
                chunk = shas[start : start + _INDEX_CHUNK]
                where = self._locations(chunk)
                for sha in chunk:
                    loc = where.get(sha)
                    if loc is None:
                        yield self.get_bytes(sha)  # a loose blob, or NotFound
                        continue
                    pack, offset, length = loc
                    fd = fds.get(pack)
                    if fd is None:
                        try:
                            fd = fds[pack] = os.open(os.path.join(self._packs, pack), os.O_RDONLY)
                        except FileNotFoundError:  # repacked by `assay gc` meanwhile
                            yield self.get_bytes(sha)
                            continue
                    yield self._pread(fd, pack, offset, length)
        finally:
            for fd in fds.values():
                os.close(fd)

    def check_many(self, shas: Sequence[str]) -> Iterator[tuple[str, str | None]]:
        """Each of `shas` with what is wrong with it: None when the store holds it and its
        bytes hash to its name, else `MISSING` or `CHANGED`. A loose blob is read as a stream
        (a video is never held whole); nothing is written (a packed blob is not copied out)."""
        where = self._locations(list(shas))
        for sha in shas:
            try:
                with open(self._loose(sha), "rb") as fh:
                    got = sha256_stream(fh)
            except FileNotFoundError:
                loc = where.get(sha)
                try:
                    got = "" if loc is None else hashlib.sha256(self._read(*loc, sha)).hexdigest()
                except NotFound:
                    got = ""
            yield sha, None if got == sha else CHANGED if got else MISSING

    def iter_shas(self) -> Iterator[str]:
        seen: set[str] = set()
        for sub in self.root.iterdir():
            if len(sub.name) == 2 and sub.is_dir():
                for f in sub.iterdir():
                    seen.add(sub.name + f.name)
                    yield sub.name + f.name
        for (sha,) in self._index().execute("SELECT sha FROM packed ORDER BY sha"):
            if sha not in seen:
                yield sha

    # --- writing -------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store one blob durably as a loose file; returns its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self._put_loose(data, sha)
        return sha

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store blobs durably (small ones packed); returns their sha256s in order."""
        return put_many(self, blobs)

    def stage_many(self, blobs: Sequence[bytes], shas: Sequence[str]) -> list[Staged]:
        """Write blobs whose hashes are known where nobody reads them yet; `make_durable` then
        `publish_many` finish the job. Small blobs go to this process's pack file, in one
        write; large ones to temporary files."""
        out: list[Staged | None] = [None] * len(blobs)
        small = []
        for k, (data, sha) in enumerate(zip(blobs, shas, strict=True)):
            if len(data) > PACK_MAX:
                out[k] = Staged(sha, tmp=self._stage_loose(data, sha))
            else:
                small.append(k)
        if small:
            with _WRITERS_LOCK:
                writer = _WRITERS.get(self._packs)
                if writer is None or writer.pid != os.getpid():
                    writer = _WRITERS[self._packs] = _PackWriter(self._packs)
                offsets = writer.append([blobs[k] for k in small])
            for k, offset in zip(small, offsets, strict=True):
                out[k] = Staged(shas[k], pack=writer.name, offset=offset, length=len(blobs[k]))
        return [s for s in out if s is not None]

    def stage_file(self, src: str, sha: str, *, move: bool = False) -> Staged:
        """Stage a large blob from a file, copied (or moved, for a temporary file of the
        caller's) in chunks: a scene of gigabytes never passes through memory."""
        folder = os.path.join(self._tmp, str(os.getpid()))
        os.makedirs(folder, exist_ok=True)
        self._staging = folder
        dest = os.path.join(folder, blob_name(sha, str(self.root)))
        if move:
            try:
                os.replace(src, dest)
                return Staged(sha, tmp=dest)
            except OSError:  # another file system: copy, then drop the original
                pass
        shutil.copyfile(src, dest)
        if move:
            os.unlink(src)
        return Staged(sha, tmp=dest)

    def make_durable(self, staged: Sequence[Staged]) -> None:
        """Flush staged blobs to disk before they are published. Only the files this store
        wrote are flushed (each pack once, each large loose blob, and the pack folder), never
        the whole system: a system-wide sync would also wait for every other process's data."""
        packs = {s.pack for s in staged if s.pack}
        files = [s.tmp for s in staged if s.tmp] + [os.path.join(self._packs, p) for p in packs]
        # A new pack file's name lives in its folder: that must reach the disk too.
        for name in files + ([self._packs] if packs else []):
            _fsync(name)

    def publish_many(self, staged: Sequence[Staged]) -> None:
        """Make durable staged blobs visible: rename loose ones into place, index packed ones.
        A blob already present keeps its copy. Seals this process's pack file."""
        self._publish_loose([s for s in staged if s.tmp])
        packed = [(s.sha, s.pack, s.offset, s.length) for s in staged if s.pack]
        if packed:
            conn = self._index()
            with conn:
                conn.executemany("INSERT OR IGNORE INTO packed VALUES (?, ?, ?, ?)", packed)
        with _WRITERS_LOCK:
            writer = _WRITERS.get(self._packs)
            if writer is not None and writer.pid == os.getpid():
                writer.close()
                del _WRITERS[self._packs]

    def collect(self, live: set[str]) -> CollectReport:
        """Remove every blob not in `live` and rewrite packs holding dead ones. The caller
        holds the collector lock (`assay.store.locks`), so no writer is staging."""
        from assay.store._repack import collect_local

        return collect_local(self, live)

    # --- internals -----------------------------------------------------------------------------

    def _put_loose(self, data: bytes, sha: str) -> None:
        staged = [Staged(sha, tmp=self._stage_loose(data, sha))]
        self.make_durable(staged)
        self._publish_loose(staged)

    def _loose(self, sha: str) -> str:
        blob_name(sha, str(self.root))
        return os.path.join(self.root, sha[:2], sha[2:])

    def _index(self) -> sqlite3.Connection:
        """This thread's connection to the pack index (opened again after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.root / "packs.db", timeout=60, isolation_level=None)
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._create_index(conn)
            # The index is what makes a packed blob exist: its commits reach the disk before
            # the items that name those blobs are committed.
            conn.execute("PRAGMA synchronous=FULL")
            conn.isolation_level = "DEFERRED"
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _create_index(self, conn: sqlite3.Connection) -> None:
        # Several processes (ingest workers) may open a new store at once; switching to WAL
        # takes an exclusive lock SQLite will not wait for, so one process at a time sets up.
        with open(self.root / "packs.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS packed (sha TEXT PRIMARY KEY, pack TEXT NOT NULL,"
                    " offset INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID"
                )
                # Last: a store in WAL mode is one whose index is ready.
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _locate(self, sha: str) -> tuple[str, int, int] | None:
        return self._locations([sha]).get(sha)

    def _locations(self, shas: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """(pack, offset, length) of each of `shas` that is packed, a few hundred per query."""
        conn = self._index()
        out: dict[str, tuple[str, int, int]] = {}
        for start in range(0, len(shas), _INDEX_CHUNK):
            chunk = list(shas[start : start + _INDEX_CHUNK])
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT sha, pack, offset, length FROM packed WHERE sha IN ({marks})"
            out.update((r[0], (r[1], r[2], r[3])) for r in conn.execute(sql, chunk))
        return out

    def _read(self, pack: str, offset: int, length: int, sha: str = "") -> bytes:
        try:
            fd = os.open(os.path.join(self._packs, pack), os.O_RDONLY)
        except FileNotFoundError:
            # `assay gc` rewrote the pack after we looked it up: the index knows where now.
            loc = self._locate(sha) if sha else None
            if loc is None or loc[0] == pack:
                raise NotFound(f"blob {sha[:12]} is missing from {self.root}") from None
            return self._read(*loc)
        try:
            return self._pread(fd, pack, offset, length)
        finally:
            os.close(fd)

    def _pread(self, fd: int, pack: str, offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise NotFound(f"pack {pack} under {self.root} is shorter than its index says")
        return data

    def _stage_loose(self, data: bytes, sha: str) -> str:
        # One staging folder per process: creating files in one shared folder serialises
        # concurrent writers on that folder's lock.
        folder = os.path.join(self._tmp, str(os.getpid()))
        if folder != self._staging:
            os.makedirs(folder, exist_ok=True)
            self._staging = folder
        name = os.path.join(folder, blob_name(sha, str(self.root)))
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:  # a publish (of this or another store) swept the folder
            os.makedirs(folder, exist_ok=True)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return name

    def _publish_loose(self, staged: Sequence[Staged]) -> None:
        if not staged:
            return
        root = str(self.root)
        for prefix in {s.sha[:2] for s in staged}:
            os.makedirs(os.path.join(root, prefix), exist_ok=True)
        moved: set[str] = set()
        for s in staged:
            dest = self._loose(s.sha)
            if os.path.exists(dest):
                os.unlink(s.tmp)
            else:
                os.replace(s.tmp, dest)
                moved.add(os.path.dirname(dest))
        # A rename is durable once its folder is (at most 256 fan-out folders).
        for folder in moved:
            _fsync(folder)
        self._staging = ""  # the folder may be removed below; staging makes it again
        for entry in os.scandir(self._tmp):
            if entry.is_dir():
                with contextlib.suppress(OSError):  # not empty: another process is staging
                    os.rmdir(entry.path)


_IOV_MAX = 512


def _writev_all(fd: int, blobs: Sequence[bytes]) -> None:
    views = [memoryview(b) for b in blobs if b]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: BinaryIO) -> str:
    """The sha256 of what is left to read of `fh`, read a chunk at a time."""
    h = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


_OPENED: dict[tuple[str, int], BlobStore] = {}
