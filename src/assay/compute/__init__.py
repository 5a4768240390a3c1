"""Where batch work runs: a local process pool by default, a Dask cluster when asked.

Batch paths (pre-labeling, evaluation and its corruption suite) cut their work into
units: picklable values handed to a module-level function. A unit names its blobs by the
blob store's url and their sha256, never by a path on the client machine, so any worker
that reaches the store can do it; results come back to the caller, which alone writes
metadata. The same function runs the same units either way, so a cluster run gives the
same answers as a local one.

`runner(cluster, blobs)` picks the place: `cluster` (the `--cluster ADDRESS` option) or
``ASSAY_CLUSTER`` names a Dask scheduler (``tcp://HOST:8786``); without either the work
runs on a local process pool (inline when it is one unit). Dask (`distributed`, the
``cluster`` extra) is imported only for a cluster.

Example:
    >>> with runner(None, workers=1) as run:
    ...     list(run.map(abs, [-1, 2, -3]))
    [1, 2, 3]
"""

from __future__ import annotations

import itertools
import os
import queue
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from assay.errors import InvalidInput, require

CLUSTER_ENV = "ASSAY_CLUSTER"
CONNECT_TIMEOUT = "10s"

U = TypeVar("U")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Runner(Protocol):
    """Runs `fn` over units; results in the units' order, or as they finish with
    `unordered` (a caller that only collects them need not wait behind a slow unit). Units
    are taken from the iterable only a few ahead of the results, so a caller that builds them
    lazily (ingest reading files) holds a bounded number in memory."""

    where: str  # "local" or the scheduler's address
    workers: int  # how many units can run at once

    def map(
        self, fn: Callable[[U], R], units: Iterable[U], *, unordered: bool = False
    ) -> Iterator[R]: ...


class _Future(Protocol[R_co]):
    def result(self) -> R_co: ...
    def cancel(self) -> object: ...
    def add_done_callback(self, fn: Callable[[Any], object]) -> None: ...


def _windowed(
    submit: Callable[[U], _Future[R]], units: Iterable[U], window: int, unordered: bool = False
) -> Iterator[R]:
    """Results in order (with `unordered`, as the units finish), with at most `window` units
    submitted and not yet collected. On a failure the units not yet collected are cancelled."""
    pending: dict[int, _Future[R]] = {}  # by id(): in submission order
    finished: queue.SimpleQueue[_Future[R]] = queue.SimpleQueue()

    def take() -> R:
        fut = finished.get() if unordered else next(iter(pending.values()))
        del pending[id(fut)]
        return fut.result()

    try:
        for unit in units:
            fut = submit(unit)
            pending[id(fut)] = fut
            if unordered:
                fut.add_done_callback(finished.put)  # called in another thread
            if len(pending) >= window:
                yield take()
        while pending:
            yield take()
    finally:
        for fut in pending.values():
            fut.cancel()


def cluster_address(cluster: str | None = None) -> str | None:
    """The scheduler address asked for: `cluster`, else ``ASSAY_CLUSTER``, else None."""
    value = cluster if cluster is not None else os.environ.get(CLUSTER_ENV)
    return value.strip() or None if value else None


class LocalRunner:
    """A pool of worker processes on this machine (inline for one unit or one worker)."""

    where = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(
        self, fn: Callable[[U], R], units: Iterable[U], *, unordered: bool = False
    ) -> Iterator[R]:
        it = iter(units)
        head = list(itertools.islice(it, 2))
        if len(head) <= 1 or self.workers == 1:
            for unit in itertools.chain(head, it):
                yield fn(unit)
            return
        with ProcessPoolExecutor(max_workers=self.workers) as pool:
            yield from _windowed(
                lambda u: pool.submit(fn, u),
                itertools.chain(head, it),
                2 * self.workers + 2,
                unordered,
            )


def _refused_at_once(address: str) -> None:
    """Raise ConnectionRefusedError when nothing listens at a ``tcp://HOST:PORT`` address:
    the host says so at once, where Dask's client retries for `CONNECT_TIMEOUT` first. Any
    other answer (a listener, a timeout, another scheme) is left to the client."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://") :].rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
    except ConnectionRefusedError:
        raise
    except OSError:
        return


class DaskRunner:
    """The workers of a running Dask scheduler (``dask scheduler`` / ``dask worker``)."""

    def __init__(self, address: str) -> None:
        distributed: Any = require("distributed", "cluster")
        self.where = address
        try:
            _refused_at_once(address)
            self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InvalidInput(
                f"--cluster {address}: no Dask scheduler answers there ({exc}); start one "
                "with `dask scheduler` and `dask worker ADDRESS`, or leave out --cluster "
                f"(and unset {CLUSTER_ENV}) to run on this machine"
            ) from None
        threads = sum(
            w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()
        )
        self.workers = max(1, threads)

    def map(
        self, fn: Callable[[U], R], units: Iterable[U], *, unordered: bool = False
    ) -> Iterator[R]:
        def submit(unit: U) -> _Future[R]:
            fut: _Future[R] = self.client.submit(fn, unit, pure=False)
            return fut

        yield from _windowed(submit, units, 2 * self.workers + 2, unordered)

    def close(self) -> None:
        self.client.close()


def _shared(blob_url: str) -> bool:
    return "://" in blob_url and not blob_url.startswith("file://")


@contextmanager
def runner(
    cluster: str | None = None, *, blob_url: str | None = None, workers: int | None = None
) -> Iterator[Runner]:
    """The place batch work runs: a Dask cluster when `cluster` or ``ASSAY_CLUSTER`` names
    one, else a local pool of `workers` processes.

    A cluster's workers read blobs from the store itself, so `blob_url` (the workspace's
    blob store) must be one they reach: S3, not a folder on this machine.

    Raises:
        InvalidInput: no scheduler answers at the address, or the blobs are in a local folder.
        MissingExtra: a cluster was asked for and `distributed` is not installed.
    """
    address = cluster_address(cluster)
    if address is None:
        yield LocalRunner(workers)
        return
    if blob_url is not None and not _shared(blob_url):
        raise InvalidInput(
            f"--cluster {address}: the cluster's workers read blobs from the blob store, and "
            f"this workspace keeps them in a folder on this machine ({blob_url}); put them on "
            "S3 (ASSAY_BLOB_URL=s3://BUCKET/PREFIX) to use a cluster"
        )
    dask = DaskRunner(address)
    try:
        yield dask
    finally:
        dask.close()


def chunks(values: Sequence[U], size: int) -> list[Sequence[U]]:
    """`values` cut into runs of at most `size`."""
    return [values[i : i + size] for i in range(0, len(values), max(1, size))]


def tapered(values: Sequence[U], size: int, small: int, workers: int) -> list[Sequence[U]]:
    """`values` cut into runs of `size`, but the last `workers` runs' worth (and the rest)
    into runs of `small`: at the end of a batch job every worker then finishes within a
    small run of the others, where one big last run would keep a single worker busy while
    the rest wait. `size` is a multiple of `small`, so the cuts fall where `small` cuts
    would (a run of model batches stays whole batches)."""
    size = max(1, size)
    big = max(0, (len(values) - workers * size) // size) * size
    return chunks(values[:big], size) + chunks(values[big:], small)


__all__ = [
    "CLUSTER_ENV",
    "DaskRunner",
    "LocalRunner",
    "Runner",
    "chunks",
    "cluster_address",
    "runner",
    "tapered",
]
