"""The cluster tests run on S3 (SeaweedFS): a cluster's workers read blobs from the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from blob_stacks import use_stack
from seaweed import Seaweed


@pytest.fixture
def blob_stack(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    return use_stack("s3", request, monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def cluster(seaweed: Seaweed) -> Iterator[str]:
    """A real Dask cluster on loopback: a scheduler and two worker processes (one thread
    each), started with the S3 server's credentials in their environment, as a deployment's
    workers would have them. Yields the scheduler's address."""
    from distributed import LocalCluster

    with pytest.MonkeyPatch.context() as mp:
        for key, value in seaweed.env.items():
            mp.setenv(key, value)
        lc = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    try:
        yield lc.scheduler_address
    finally:
        lc.close()
