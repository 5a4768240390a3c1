"""Files that appear whole: written to a temporary file beside them, then renamed over them.

A reader (another process, or the next run after a crash) sees the old file or the new one,
never half of one. With `durable`, the bytes are on disk before the rename (a config or a
checkpoint must survive a power cut, an export file need not).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_text_file(path: Path, *, durable: bool = False) -> Iterator[TextIO]:
    """A text file to write `path` through: renamed over it when the block ends cleanly,
    removed when it raises (streaming writers use it like `atomic_write_text`)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, durable: bool = False) -> None:
    """Write `text` to `path` through a temporary file in the same folder."""
    with atomic_text_file(path, durable=durable) as fh:
        fh.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Like `atomic_write_text` for bytes."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
