from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.labeling import Workflow, create_token
from assay.server import Settings, create_app
from assay.workspace import Workspace
from labeling_world import Client, World, build_world


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    # Still argon2id; a small memory cost keeps the many test logins fast.
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")


@pytest.fixture
def world(ws: Workspace, tmp_path: Path) -> World:
    return build_world(ws, tmp_path / "data", workflow=Workflow(overlap=1, review="all"))


@pytest.fixture
def client(world: World) -> Iterator[Client]:
    """`client("ana")`: a TestClient sending ana's API token; `client(None)`: anonymous."""
    app = create_app(Settings(), world.ws)
    made: list[TestClient] = []

    def make(name: str | None) -> TestClient:
        c = TestClient(app)
        if name is not None:
            c.headers["Authorization"] = f"Bearer {create_token(world.ws, name)}"
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
