"""The known-scene check of a re-ingest on a workspace of 100,000 items, without and with the
`items_parent` index (schema 15), on SQLite and on PostgreSQL.

A scene found again by its file's sha256 is not read again; the ingest compares the metadata
of the scene and its chips with what this run would give them (`ingest.files._scenes_kept`),
which looks the chips up by their scene: `items.parent_id`. Timed: that check for one scene
(its 100 chips) in a workspace of 100 such scenes, their chips and plain images, 100,000
items in all; the same rows, the index dropped ("before") and made again ("after").

PostgreSQL: the loopback server (127.0.0.1:5432, database `test`, default settings), a fresh
schema per run, dropped after; the rows loaded with one executemany and ANALYZEd (setup is
not timed).

Run: PYTHONPATH=src .venv/bin/python bench/store_known_scene.py [--items 100000] [--runs 30]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from _common import WORK, median, table, timed, write_result
from assay import Workspace
from assay.ingest.files import _insert_items, _scenes_kept
from assay.ingest.sensors.options import ChipOptions
from assay.store.schema import items_parent

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHIPS = 100  # per scene
SCENES = 100
WS = WORK / "known_scene_ws"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def item_rows(n: int) -> list[tuple[object, ...]]:
    """`n` item rows (`ingest.files._ITEM_COLUMNS`): SCENES scenes of 2048 x 2048, CHIPS chips
    each, the rest plain images."""
    rows: list[tuple[object, ...]] = []
    created = "2026-12-06T00:00:00Z"
    meta = json.dumps({"sensor": "sat-2"})
    for s in range(SCENES):
        scene = _sha(f"scene-{s}")
        rows.append((scene, "image/tiff; application=geotiff; profile=cloud-optimized", 9 << 20,
                     2048, 2048, f"scene_{s}.tif", "sat-a", meta, _sha(meta), "UNCLASSIFIED",
                     None, None, created))  # fmt: skip
        for c in range(CHIPS):
            window = {"col": 448 * (c % 10), "row": 448 * (c // 10), "width": 512, "height": 512}
            rows.append((_sha(f"chip-{s}-{c}"), "image/png", 300_000, 512, 512,
                         f"scene_{s}_{c}.png", "sat-a", meta, _sha(meta), "UNCLASSIFIED", scene,
                         json.dumps({"window": window}), created))  # fmt: skip
    for i in range(n - len(rows)):
        rows.append((_sha(f"image-{i}"), "image/png", 12_000, 64, 64, f"image_{i}.png", "",
                     meta, _sha(meta), "UNCLASSIFIED", None, None, created))  # fmt: skip
    return rows


@contextmanager
def workspace(backend: str) -> Iterator[Workspace]:
    """A fresh workspace on `backend` (SQLite in the folder, or a new PostgreSQL schema)."""
    shutil.rmtree(WS, ignore_errors=True)
    if backend == "sqlite":
        os.environ.pop("ASSAY_DATABASE_URL", None)
        with Workspace.init(WS) as ws:
            yield ws
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    os.environ["ASSAY_DATABASE_URL"] = f"{PG}?options=-csearch_path%3D{schema}"
    try:
        with Workspace.init(WS) as ws:
            yield ws
    finally:
        os.environ.pop("ASSAY_DATABASE_URL", None)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def check_timer(ws: Workspace, scene: int) -> Callable[[], object]:
    """The known-scene check of one re-ingest of scene `scene`, as the ingest runs it."""
    known = {f"/data/scene_{scene}.tif": _sha(f"scene-{scene}")}
    options = ChipOptions(size=512, overlap=64)

    def check() -> object:
        with ws.db.read() as conn:
            notes = _scenes_kept(conn, known, options, "sat-b")
        assert len(notes) == 1, notes  # the scene and its chips, another source
        return notes

    return check


def plan(ws: Workspace) -> str:
    """The database's plan of the chips lookup."""
    sha = _sha("scene-0")
    with ws.db.read() as conn:
        if conn.dialect.name == "sqlite":
            sql = "EXPLAIN QUERY PLAN SELECT metadata FROM items WHERE parent_id IN (?)"
            return "; ".join(str(r[-1]) for r in conn.exec_driver_sql(sql, (sha,)))
        sql = "EXPLAIN (COSTS OFF) SELECT metadata FROM items WHERE parent_id IN (%s)"
        lines = [str(r[0]).strip(" ->") for r in conn.exec_driver_sql(sql, (sha,))]
        return "; ".join(line for line in lines if " on " in line)


def run(backend: str, n: int, runs: int) -> list[list[str]]:
    out = []
    with workspace(backend) as ws:
        with ws.db.begin() as conn:
            _insert_items(conn, item_rows(n))
        steps = (("before (no index)", items_parent.drop), ("after", items_parent.create))
        for label, change in steps:
            with ws.db.begin() as conn:
                change(conn)
                conn.exec_driver_sql("ANALYZE")
            check = check_timer(ws, SCENES // 2)
            check()  # warm the cache
            times = [timed(check) for _ in range(runs)]
            out.append([backend, label, f"{median(times) * 1000:.2f}",
                        f"{min(times) * 1000:.2f}", plan(ws)])  # fmt: skip
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = [r for b in backends for r in run(b, args.items, args.runs)]
    headers = ["database", "items_parent", "median ms", "min ms", "plan of the chips lookup"]
    text = (
        f"Known-scene check (`_scenes_kept`) of one scene met again ({CHIPS} chips) in a "
        f"workspace of {args.items:,} items ({SCENES} scenes with their chips, the rest plain "
        f"images); {args.runs} runs each, page cache warm.\n\n{table(headers, rows)}\n"
    )
    write_result("store_known_scene", text)


if __name__ == "__main__":
    main()
