"""An exclusive lock shared by the processes serving one database (`flock` on a file).

The group committers of several uvicorn workers take turns with it before they take
SQLite's write lock. SQLite's own lock can only be polled; this one is waited for in
the kernel, which wakes the waiter as soon as the holder lets go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: SQLite's polling alone
    fcntl = None  # type: ignore[assignment]


class ProcessLock:
    """`flock(LOCK_EX)` on `path`; `wait` blocks in a helper thread, never on the loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.held = False
        self._fd: int | None = None
        self._closer: Any = None  # weakref.finalize closing the file
        self._waiting = False
        self._waiter: ThreadPoolExecutor | None = None

    def _file(self) -> int | None:
        if self._fd is None and fcntl is not None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only folder: fall back to SQLite's lock alone
                log.warning("cannot open %s; writers poll SQLite's lock instead", self.path)
                return None
            self._closer = weakref.finalize(self, os.close, self._fd)
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or cannot exist); False when another holds it."""
        fd = self._file()
        if fd is None:
            self.held = True
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def wait(self, loop: asyncio.AbstractEventLoop, then: Callable[[], None]) -> None:
        """Block a helper thread until the lock is ours, then call `then` on the loop."""
        if self._waiting:
            return
        fd = self._file()
        if fd is None:
            loop.call_soon(then)
            return
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-lock")
            weakref.finalize(self, self._waiter.shutdown, wait=False)
        self._waiting = True

        def acquired(_f: asyncio.Future[None]) -> None:
            self._waiting = False
            if _f.exception() is None:
                self.held = True
            then()

        loop.run_in_executor(self._waiter, fcntl.flock, fd, fcntl.LOCK_EX).add_done_callback(
            acquired
        )

    def release(self) -> None:
        if self.held and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        self.release()
        if self._closer is not None:
            self._closer()  # closes the file once, however often close() is called
        self._fd = None
