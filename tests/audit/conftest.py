"""A small trail to tamper with (the tools are in `audit_tamper`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay import Workspace


@pytest.fixture
def trail(ws: Workspace, samples) -> Path:  # type: ignore[no-untyped-def]
    """A workspace folder with six events: init, ingest, create, add, commit, tag.

    Closing the workspace leaves a signed checkpoint of event 6 with the witness.
    """
    ws.ingest([samples.text("r1.txt", seed=1), samples.text("r2.txt", seed=2)])
    ws.create_dataset("reports")
    ws.add_items("reports")
    ws.commit("reports", "first cut")
    ws.tag("reports", "HEAD", "v1")
    ws.close()
    return ws.root.parent
