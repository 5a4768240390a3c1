"""Writers that work on Arrow columns (`RowStream.batches`) write what the row path writes.

COCO, JSONL and Parquet write a batch straight from its columns when they can (stored label
texts as they are, or parsed by Arrow) and build full rows for a batch they cannot (a polygon,
region attributes, a text item). Both paths must give the same files, read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assay.formats import _stream
from assay.versioning import _manifest
from assay.workspace import Workspace

N = 23


def _coco(folder: Path, shift: float) -> Path:
    images, anns = [], []
    for k in range(N):
        name = f'flood_"q"_ü_{k:03d}.png'  # a quote to escape, a character beyond ASCII
        if not (folder / "images" / name).exists():
            Image.new("RGB", (64, 48), (k * 9 % 256, 90, 160)).save(folder / "images" / name)
        iid = 1000 - k
        img: dict[str, Any] = {"id": iid, "file_name": name, "width": 64, "height": 48}
        if k % 6 == 1:
            img["license"] = 2  # a COCO image key: written at top level again
            img["sensor"] = "uav-2"  # anything else: under metadata
        images.append(img)
        if k % 5 == 4:
            continue  # no labels
        box = [1.5 + shift, 2.0, 10.25, 8.0]
        anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": 1 + k % 3,
                     "bbox": box, "area": 82.0, "iscrowd": 0})  # fmt: skip
        if k == 14:  # a polygon: its batch takes the row path
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": 2,
                         "bbox": [4.0, 4.0, 6.0, 6.0], "area": 18.0, "iscrowd": 0,
                         "segmentation": [[4.0, 4.0, 10.0, 4.0, 10.0, 10.0]]})  # fmt: skip
        if k == 20:  # region attributes: the row path too
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": 3,
                         "bbox": [3.0, 3.0, 5.0, 5.0], "area": 25.0, "iscrowd": 0,
                         "attributes": {"occluded": True}})  # fmt: skip
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "roof"}, {"id": 2, "name": "debris"},
                       {"id": 3, "name": 'vehicle "car"'}],
    }  # fmt: skip
    path = folder / f"annotations_{shift}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A dataset committed twice: the second commit changes a few items' boxes, so HEAD's
    manifest is a layer over the first (changed rows after the others)."""
    folder = tmp_path / "src"
    (folder / "images").mkdir(parents=True)
    ws = Workspace.init(tmp_path / "ws")
    ws.import_labels(_coco(folder, 0.0), "coco", "flood")
    ws.commit("flood", "first")
    ws.import_labels(_coco(folder, 0.5), "coco", "flood")
    ws.commit("flood", "second")
    yield ws
    ws.close()


def _files(out: Path, fmt: str) -> Any:
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        doc["info"].pop("date_created")
        return doc
    if fmt == "jsonl":
        return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    rows = pq.read_table(out / "items.parquet").to_pylist()
    for r in rows:
        r["metadata"] = json.loads(r["metadata"])
    return rows


def _rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch without its table: the writers take the row path for all of them."""
    batches = _stream.RowStream.batches

    def no_tables(
        self: _stream.RowStream, size: int | None = None, prepare: Any = None
    ) -> Iterator[_stream.Batch]:
        for batch in batches(self, size):  # nothing prepared from the tables either
            batch.table = None
            yield batch

    monkeypatch.setattr(_stream.RowStream, "batches", no_tables)


@pytest.mark.parametrize("fmt", ["coco", "jsonl", "parquet"])
@pytest.mark.parametrize("rev", ["flood@HEAD", "flood@HEAD~1"])
def test_columns_write_what_rows_write(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, rev: str
) -> None:
    monkeypatch.setattr(_stream, "CHUNK", 4)
    monkeypatch.setattr(_stream, "BATCH_CHUNKS", 1)  # batches of 4: some columns, some rows
    ws.export(rev, fmt, tmp_path / "columns", media=False)
    _rows_only(monkeypatch)
    ws.export(rev, fmt, tmp_path / "rows", media=False)
    columns, rows = _files(tmp_path / "columns", fmt), _files(tmp_path / "rows", fmt)
    assert columns == rows
    if fmt == "coco":
        assert len(columns["images"]) == N
        assert any("license" in i for i in columns["images"])
        assert [a["id"] for a in columns["annotations"]] == list(
            range(1, len(rows["annotations"]) + 1)
        )
    if fmt == "jsonl":
        assert {r["name"] for r in columns} == {f'flood_"q"_ü_{k:03d}.png' for k in range(N)}
    boxes = [
        r["labels"] if fmt != "coco" else r["bbox"]
        for r in (columns["annotations"] if fmt == "coco" else columns)
    ]
    assert boxes  # the second commit's boxes are the ones written at HEAD
    if fmt == "coco":
        moved = {a["bbox"][0] for a in columns["annotations"]}
        assert (2.0 in moved) == (rev == "flood@HEAD")


def test_positions_read_any_order(ws: Workspace) -> None:
    """`Positional.take` gives the rows at any positions in the order asked, reading layers."""
    head = ws.resolve("flood@HEAD", default_head=False).commit
    assert head is not None
    source = _manifest.Positional(ws.blobs, head.manifest)
    index, pos = source.index(["item_id"])
    whole = _manifest.read(ws.blobs, head.manifest, ["item_id", "labels"])
    assert sorted(index["item_id"].to_pylist()) == sorted(whole["item_id"].to_pylist())
    order = np.random.default_rng(0).permutation(len(pos))
    got = source.take(pos.to_numpy()[order], ["item_id", "labels"])
    expect = dict(zip(whole["item_id"].to_pylist(), whole["labels"].to_pylist(), strict=True))
    ids = [index["item_id"][int(k)].as_py() for k in order]
    assert got["item_id"].to_pylist() == ids
    assert got["labels"].to_pylist() == [expect[i] for i in ids]
