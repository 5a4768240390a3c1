"""Exports stream: rows are built a chunk at a time and none is kept, and the files written in
small chunks are the files written in one."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image

from assay.formats import _stream
from assay.formats.io import export_bundle
from assay.workspace import Workspace

N = 23


def _workspace(tmp_path: Path) -> Workspace:
    """A committed dataset whose image numbers (the file's ids, reversed) disagree with the
    item id order, with boxes, a polygon and an item without labels."""
    folder = tmp_path / "src"
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    for k in range(N):
        name = f"flood_{k:03d}.png"
        Image.new("RGB", (64, 48), (k * 9 % 256, 90, 160)).save(folder / "images" / name)
        iid = 1000 - k
        images.append({"id": iid, "file_name": name, "width": 64, "height": 48})
        if k % 5 == 4:
            continue  # no labels
        anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": 1 + k % 3,
                     "bbox": [1.5, 2.0, 10.25, 8.0], "area": 82.0, "iscrowd": 0})  # fmt: skip
        if k % 7 == 0:
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": 2,
                         "bbox": [4.0, 4.0, 6.0, 6.0], "area": 18.0, "iscrowd": 0,
                         "segmentation": [[4.0, 4.0, 10.0, 4.0, 10.0, 10.0]]})  # fmt: skip
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "roof"}, {"id": 2, "name": "debris"},
                       {"id": 3, "name": "vehicle"}],
    }  # fmt: skip
    (folder / "annotations.json").write_text(json.dumps(doc))
    ws = Workspace.init(tmp_path / "ws")
    ws.import_labels(folder / "annotations.json", "coco", "flood")
    ws.commit("flood", "first")
    return ws


def test_rows_come_in_chunks_in_number_order_and_none_is_kept(
    tmp_path: Path,
    closes: Callable[[Workspace], Workspace],
) -> None:
    ws = closes(_workspace(tmp_path))
    bundle = export_bundle(ws, ws.resolve("flood@HEAD", default_head=False))
    assert len(bundle.rows) == N
    seen: list[int] = []
    first: weakref.ref[Any] | None = None
    for chunk in bundle.rows.chunks(5):
        assert 1 <= len(chunk) <= 5
        if first is None:
            first = weakref.ref(chunk[0])
        seen += [r.number for r in chunk]
        del chunk
        # Freed by reference counting alone: exports pause the cycle collector (`gc_paused`).
        assert first() is None  # the stream keeps no row it built
    assert seen == sorted(seen) == [1000 - k for k in reversed(range(N))]
    assert bundle.rows.columns.numbers == seen
    assert [r.number for r in bundle.rows] == seen  # plain iteration: the same rows
    assert bundle.rows[3].number == seen[3]
    assert [r.number for r in bundle.rows[2:6]] == seen[2:6]


def _files(out: Path, fmt: str) -> Any:
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        doc["info"].pop("date_created")
        return doc
    if fmt == "jsonl":
        return (out / "items.jsonl").read_text().splitlines()
    return pq.read_table(out / "items.parquet").to_pylist()


@pytest.mark.parametrize("fmt", ["coco", "jsonl", "parquet", "yolo", "labelstudio"])
def test_small_chunks_write_the_same_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    closes: Callable[[Workspace], Workspace],
) -> None:
    ws = closes(_workspace(tmp_path))
    ws.export("flood@HEAD", fmt, tmp_path / "one", media=False)
    monkeypatch.setattr(_stream, "CHUNK", 4)
    ws.export("flood@HEAD", fmt, tmp_path / "many", media=False)
    if fmt in ("coco", "jsonl", "parquet"):
        assert _files(tmp_path / "one", fmt) == _files(tmp_path / "many", fmt)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    many = sorted(p.relative_to(tmp_path / "many") for p in (tmp_path / "many").rglob("*"))
    assert one == many
    for rel in one:
        a, b = tmp_path / "one" / rel, tmp_path / "many" / rel
        # (Parquet: one row group per chunk, the same rows; compared above)
        if a.is_file() and rel.name not in ("annotations.json", "MARKING.txt", "items.parquet"):
            assert a.read_bytes() == b.read_bytes(), rel
    if fmt == "coco":
        doc = _files(tmp_path / "many", fmt)
        ids = [a["id"] for a in doc["annotations"]]
        assert ids == list(range(1, len(ids) + 1))
        assert {i["id"] for i in doc["images"]} == {1000 - k for k in range(N)}
