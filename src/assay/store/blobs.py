"""Content-addressed blob storage.

Blobs are named by the sha256 of their bytes and stored under a two-level
fan-out (``objects/ab/cdef...``). A blob is written to a temporary file,
made durable, then renamed into place; it is never modified afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from assay.errors import NotFound

CHUNK = 1 << 20


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

    def put_bytes(self, data: bytes, *, durable: bool = True) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            tmp = self.write_temp(data, durable=durable)
            self.publish(tmp, sha)
        return sha

    def write_temp(self, data: bytes, *, durable: bool = True) -> Path:
        """Write bytes to a temporary file inside the store; `publish` moves it into place."""
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def stage(self, data: bytes, sha: str) -> str:
        """Write bytes whose hash is known to a temporary file, not yet durable; `sync` and
        `publish` finish the job. Cheaper than `write_temp` for many small blobs."""
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

    def publish(self, tmp: Path, sha: str) -> None:
        dest = self.path(sha)
        dest.parent.mkdir(exist_ok=True)
        if dest.exists():
            tmp.unlink(missing_ok=True)
            return
        os.replace(tmp, dest)

    def publish_many(self, staged: list[tuple[str, str]]) -> None:
        """`publish` for many (temporary path, sha) pairs; call after `sync`."""
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
        for entry in os.scandir(self._tmp):
            if entry.is_dir():
                with contextlib.suppress(OSError):  # not empty: another process is staging
                    os.rmdir(entry.path)

    def sync(self) -> None:
        """Make every written temporary file durable at once (one sync instead of N fsyncs)."""
        os.sync()


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
