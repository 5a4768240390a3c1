"""The two blob stacks the service tests run on: local folder and S3 (SeaweedFS).

A folder whose tests run on both puts ``blob_stack = stacks()`` in its conftest.py; the
`ws`, `cli` and `run_cli` fixtures take `blob_stack`, so every workspace they open (in
process and in child processes, through the environment) uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seaweed import Seaweed


def use_stack(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """Point workspaces opened from here on (in-process and child processes) at a blob stack:
    `local` (the workspace's own folder) or `s3` (a new prefix on the SeaweedFS server)."""
    monkeypatch.delenv("ASSAY_BLOB_URL", raising=False)
    if name == "local":
        return name
    server: Seaweed = request.getfixturevalue("seaweed")
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ASSAY_BLOB_URL", server.url())
    monkeypatch.setenv("ASSAY_BLOB_CACHE", str(tmp_path / "blob-cache"))
    return name


def stacks() -> Any:
    """`blob_stack` for a folder whose tests run on both stacks: in its conftest.py,
    ``blob_stack = stacks()``."""

    @pytest.fixture(params=["local", "s3"])
    def blob_stack(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> str:
        return use_stack(request.param, request, monkeypatch, tmp_path)

    return blob_stack
