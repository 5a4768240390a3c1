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

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from assay.errors import InvalidInput, require

CLUSTER_ENV = "ASSAY_CLUSTER"
CONNECT_TIMEOUT = "10s"

U = TypeVar("U")
R = TypeVar("R")


class Runner(Protocol):
    """Runs `fn` over units; results in the units' order, as they finish."""

    where: str  # "local" or the scheduler's address
    workers: int  # how many units can run at once

    def map(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[R]: ...


def cluster_address(cluster: str | None = None) -> str | None:
    """The scheduler address asked for: `cluster`, else ``ASSAY_CLUSTER``, else None."""
    value = cluster if cluster is not None else os.environ.get(CLUSTER_ENV)
    return value.strip() or None if value else None


class LocalRunner:
    """A pool of worker processes on this machine (inline for one unit or one worker)."""

    where = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[R]:
        if len(units) <= 1 or self.workers == 1:
            for unit in units:
                yield fn(unit)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(units))) as pool:
            futures = [pool.submit(fn, u) for u in units]
            try:
                for fut in futures:
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()


class DaskRunner:
    """The workers of a running Dask scheduler (``dask scheduler`` / ``dask worker``)."""

    def __init__(self, address: str) -> None:
        distributed: Any = require("distributed", "cluster")
        self.where = address
        try:
            self.client = distributed.Client(
                address, timeout=CONNECT_TIMEOUT, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InvalidInput(
                f"--cluster {address}: no Dask scheduler answers there ({exc}); start one "
                "with `dask scheduler` and `dask worker ADDRESS`, or leave out --cluster "
                f"(and unset {CLUSTER_ENV}) to run on this machine"
            ) from None
        threads = sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values())
        self.workers = max(1, threads)

    def map(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[R]:
        futures = self.client.map(fn, list(units), pure=False)
        try:
            for fut in futures:
                yield fut.result()
        finally:
            self.client.cancel(futures)

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


__all__ = [
    "CLUSTER_ENV",
    "DaskRunner",
    "LocalRunner",
    "Runner",
    "chunks",
    "cluster_address",
    "runner",
]
