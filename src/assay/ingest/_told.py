"""How far an ingest is, in bytes of the files read, and how worker processes say so.

A file counts whole once its batch is back, and before that by the part of it its decoder
has been through (a video's bytes demuxed, a scene's chips cut): one long video or one large
scene moves the bar while it is read instead of holding it at 0 until the end. Worker
processes of the local pool put those parts on a queue the pool hands them when it starts
them (`start_worker`); the caller drains it while it waits for a batch.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterable
from typing import Any

from assay.ingest._probe import ProbeResult, probe_batch
from assay.ingest.sensors.options import SensorOptions

Progress = Callable[[int, int], None]  # (done, total): bytes of the files read


class Told:
    """Bytes read of `files`, told to `progress(done, total)` as they move."""

    def __init__(self, files: list[str], progress: Progress) -> None:
        self.progress = progress
        self.sizes: dict[str, int] = {}
        for path in files:
            try:
                self.sizes[path] = os.path.getsize(path)
            except OSError:
                self.sizes[path] = 0  # the probe reports it
        self.total = sum(self.sizes[path] for path in files)  # a file named twice is read twice
        self.done = 0  # bytes of the files whose batch is back
        self.within: dict[str, int] = {}  # bytes of files being read, by how far they are
        self.finished: set[str] = set()

    def part(self, path: str, done: int, total: int) -> None:
        """A worker is `done` of `total` steps into `path` (late word of a finished file,
        or a step back, is ignored: the bar never goes down)."""
        if path in self.finished or total <= 0:
            return
        size = self.sizes.get(path, 0)
        now = size * min(done, total) // total
        if now > self.within.get(path, 0):
            self.within[path] = now
            self.tell()

    def finish(self, paths: Iterable[str]) -> None:
        """The files of a batch that is back, read whole (or failed: nothing more to read)."""
        for path in paths:
            self.done += self.sizes.get(path, 0)
            self.within.pop(path, None)
            self.finished.add(path)
        self.tell()

    def drain(self, parts: Any, wait: float) -> None:
        """Take the parts workers put on `parts` (a multiprocessing queue), waiting up to
        `wait` seconds for the first."""
        try:
            self.part(*parts.get(timeout=wait))
            while True:
                self.part(*parts.get_nowait())
        except queue.Empty:
            return

    def tell(self) -> None:
        self.progress(min(self.done + sum(self.within.values()), self.total), self.total)


# The queue of this worker process, set once when the pool starts it: a multiprocessing
# queue travels to a process only as it is started, never as a task's argument.
_parts: Any = None


def start_worker(parts: Any) -> None:
    """The pool's initializer: where this worker puts its parts."""
    global _parts
    if parts is not None:
        # Progress is advisory: a worker leaving the pool need not wait until the caller has
        # read every part it put (what is still unread is dropped).
        parts.cancel_join_thread()
    _parts = parts


def _put(path: str, done: int, total: int) -> None:
    _parts.put((path, done, total))


def probe_batch_told(
    batch: list[tuple[str, str]],
    blob_url: str,
    text_field: str,
    source: str,
    sensors: SensorOptions | None,
    shas: dict[str, str] | None,
) -> list[ProbeResult]:
    """`probe_batch` in a worker started by `start_worker`, telling its queue how far it is."""
    return probe_batch(batch, blob_url, text_field, source, sensors, shas, _put)
