from __future__ import annotations

from pathlib import Path

import pytest
from llm_eval_world import World, build_world

from assay.workspace import Workspace


@pytest.fixture
def world(tmp_path: Path, ws: Workspace) -> World:
    return build_world(tmp_path, ws)
