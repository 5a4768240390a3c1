"""Content-addressed blob storage.

Blobs are named by the sha256 of their bytes and stored under a two-level
fan-out (``objects/ab/cdef...``). A blob is written to a temporary file,
made durable, then renamed into place; it is never modified afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from assay.errors import NotFound

CHUNK = 1 << 20
FSYNC_MAX = 64


class BlobStore(Protocol):
    """The seam between assay and where bytes live (local folder, S3-compatible)."""

    def put_bytes(self, data: bytes) -> str: ...
    def get_bytes(self, sha: str) -> bytes: ...
    def exists(self, sha: str) -> bool: ...
    def path(self, sha: str) -> Path: ...


class LocalBlobStore:
    """Blobs in a local folder; the embedded default."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self._staging = ""

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()

    def get_bytes(self, sha: str) -> bytes:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {sha[:12]} is missing from {self.root}") from None

    def iter_shas(self) -> Iterator[str]:
        for sub in self.root.iterdir():
            if len(sub.name) == 2 and sub.is_dir():
                for f in sub.iterdir():
                    yield sub.name + f.name

    def put_bytes(self, data: bytes) -> str:
        """Store one blob durably; returns its sha256."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store blobs durably: stage the new ones, make them durable, then rename them in."""
        shas = [hashlib.sha256(data).hexdigest() for data in blobs]
        staged = {
            sha: self.stage(data, sha)
            for sha, data in zip(shas, blobs, strict=True)
            if not self.exists(sha)
        }
        self.make_durable(list(staged.values()))
        self.publish_many([(tmp, sha) for sha, tmp in staged.items()])
        return shas

    def stage(self, data: bytes, sha: str) -> str:
        """Write bytes whose hash is known to a temporary file, not yet durable; `make_durable`
        and
        `publish_many` finish the job."""
        # One staging folder per process: creating files in one shared folder serialises
        # concurrent writers on that folder's lock.
        folder = os.path.join(self._tmp, str(os.getpid()))
        if folder != self._staging:
            os.makedirs(folder, exist_ok=True)
            self._staging = folder
        name = os.path.join(folder, sha)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return name

    def publish_many(self, staged: list[tuple[str, str]]) -> None:
        """Rename staged (temporary path, sha) pairs into place; call after `make_durable`.
        A blob already present keeps its file and the staged copy is dropped."""
        from concurrent.futures import ThreadPoolExecutor

        root = str(self.root)
        for prefix in {sha[:2] for _, sha in staged}:
            os.makedirs(os.path.join(root, prefix), exist_ok=True)

        def move(pairs: list[tuple[str, str]]) -> None:
            for tmp, sha in pairs:
                dest = os.path.join(root, sha[:2], sha[2:])
                if os.path.exists(dest):
                    os.unlink(tmp)
                else:
                    os.replace(tmp, dest)

        # Renames are system calls that release the GIL; a few threads overlap them.
        chunks = [staged[i : i + 2048] for i in range(0, len(staged), 2048)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(move, chunks))
        self._staging = ""  # the folder may be removed below; `stage` makes it again
        for entry in os.scandir(self._tmp):
            if entry.is_dir():
                with contextlib.suppress(OSError):  # not empty: another process is staging
                    os.rmdir(entry.path)

    def make_durable(self, staged: Sequence[str]) -> None:
        """Flush staged files to disk before they are published: a few by fsync, many by
        one system-wide sync (cheaper than thousands of fsyncs)."""
        if len(staged) > FSYNC_MAX:
            os.sync()
            return
        for name in staged:
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
