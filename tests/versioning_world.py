"""A small flood dataset shared by the versioning tests (built per test, in tmp_path).

A uniquely named module (not `conftest`) so test files can import its helpers under xdist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from assay import Workspace
from assay.domain.labels import Region
from assay.versioning import LabelRecord


@dataclass
class Flood:
    ws: Workspace
    images: list[str]  # item ids of the 4 scenes, in file order
    texts: list[str]  # item ids of the 2 field reports
    name: str = "flood"

    @property
    def all(self) -> list[str]:
        return self.images + self.texts

    def label(self, item: str, *regions: Region, author: str = "user:ana") -> None:
        self.ws.set_labels(
            self.name, [LabelRecord(item, list(regions), [f"ann-{item[:6]}"], [author])]
        )

    def members(self) -> set[str]:
        return set(_column(self.ws, "SELECT item_id FROM working"))

    def pending(self) -> set[str]:
        """Items in the change log: what status and the next commit will read."""
        return set(_column(self.ws, "SELECT item_id FROM working_changes"))


def _column(ws: Workspace, sql: str) -> list[str]:
    return [r[0] for r in sql_rows(ws, sql)]


def sql_rows(ws: Workspace, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Rows of a query on the workspace's database, whichever it is (`:name` parameters)."""
    with ws.db.read() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def sql_run(ws: Workspace, sql: str, **params: object) -> None:
    """Run a change on the workspace's database, as a tampering process would."""
    with ws.db.begin() as conn:
        conn.execute(text(sql), params)


def box(
    label: str, x: float, y: float = 10.0, w: float = 20.0, h: float = 20.0, **kw: object
) -> Region:
    return Region(
        kind="box", label=label, box=(x, y, w, h), author=str(kw.pop("author", "user:ana")), **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def flood(ws: Workspace, samples) -> Flood:  # type: ignore[no-untyped-def]
    imgs = [samples.png(f"scenes/scene_{i}.png", seed=i, size=(48 + 8 * i, 32)) for i in range(4)]
    txts = [samples.text(f"reports/report_{i}.txt", seed=i) for i in range(2)]
    ids_by_path = {}
    for p in imgs + txts:
        rep = ws.ingest([p], source="uav-2" if p.suffix == ".png" else "hotline")
        ids_by_path[p] = rep.new[0]
    ws.create_dataset("flood")
    ws.add_items("flood")
    return Flood(ws, [ids_by_path[p] for p in imgs], [ids_by_path[p] for p in txts])


def manifest_path(ws: Workspace, sha: str) -> Path:
    """The manifest blob as a file (for the S3 stack, a downloaded copy)."""
    return ws.blobs.path(sha)
