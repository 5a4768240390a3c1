"""The same workspace operations on PostgreSQL (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from assay import Workspace
from assay.domain import Region
from assay.versioning import LabelRecord

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh schema per test, so tests never see each other's tables."""
    schema = f"assay_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{SERVER}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("ASSAY_DATABASE_URL", url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _images(folder: Path, n: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        pixels = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"roof_{i}.png")


def test_ingest_commit_diff_export_on_postgres(pg_url: str, tmp_path: Path) -> None:
    _images(tmp_path / "scenes", 5)
    ws = Workspace.init(tmp_path / "ws")
    assert ws.db.engine.dialect.name == "postgresql"
    report = ws.ingest([tmp_path / "scenes"], marking="CUI/FLOOD")
    assert len(report.new) == 5
    assert len(ws.ingest([tmp_path / "scenes"]).duplicate) == 5

    ws.create_dataset("roofs")
    assert ws.add_items("roofs", "media_type~image/* and width>=32") == 5
    first = report.new[0]
    box = Region(kind="box", label="building", box=(1, 1, 10, 8), author="user:ana")
    ws.set_labels("roofs", [LabelRecord(first, [box], authors=["user:ana"])])
    ws.commit("roofs", "first pass")
    moved = box.model_copy(update={"box": (6, 1, 10, 8), "author": "user:ben"})
    ws.set_labels("roofs", [LabelRecord(first, [moved], authors=["user:ben"])])

    status = ws.status("roofs")
    assert status.items_changed == [first]
    ws.commit("roofs", "fix the box")
    d = ws.diff("roofs", "HEAD~1", "HEAD")
    assert [(c.change, c.author) for c in d.changes] == [("moved", "user:ben")]
    assert d.changes[0].iou is not None and d.changes[0].iou < 0.99

    out = ws.export("roofs@HEAD", "coco", tmp_path / "out")
    assert out["items"] == 5
    assert out["marking"] == "CUI/FLOOD"
    assert ws.audit_verify().ok
    ws.close()


def test_geo_queries_on_postgres(pg_url: str, tmp_path: Path) -> None:
    from assay.ingest.sensors.synth import write_flight

    write_flight(tmp_path / "f.ts", seconds=4, klv_hz=5)
    ws = Workspace.init(tmp_path / "ws")
    assert ws.db.engine.dialect.name == "postgresql"
    ws.ingest([tmp_path / "f.ts"])
    ws.create_dataset("near")
    # Frame centres every 15 m east of the start: 0, 15 and 30 m lie within 40 m.
    assert ws.add_items("near", "near 29.7604,-95.3698,40") == 3
    ws.create_dataset("box")
    assert ws.add_items("box", "within -95.3699,29.76,-95.3696,29.761") == 2
    ws.close()
