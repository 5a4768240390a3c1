"""An import's media files: read, hashed and staged a batch at a time on threads, each stored
once, and nothing of them visible when a file of the import is bad."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from assay.errors import InvalidInput
from assay.formats import io as fio
from assay.store.blobs import PACK_MAX
from assay.store.schema import datasets, items
from assay.workspace import Workspace
from blob_stacks import stacks

blob_stack = stacks()  # on a local folder and on S3 (SeaweedFS)

N = 600  # over two of the import's batches of files, so several threads stage them


def _png(k: int, noisy: bool = False) -> bytes:
    """A distinct small PNG, or one of noise larger than a pack holds (a loose blob)."""
    if noisy:
        rng = random.Random(k)
        img = Image.frombytes("RGB", (760, 560), rng.randbytes(760 * 560 * 3))
    else:
        img = Image.new("RGB", (8, 6), (k % 251, k // 251, 7))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _coco(folder: Path, files: dict[str, bytes]) -> Path:
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    for i, (name, data) in enumerate(files.items(), 1):
        (folder / "images" / name).write_bytes(data)
        w, h = (760, 560) if len(data) > PACK_MAX else (8, 6)
        images.append({"id": i, "file_name": name, "width": w, "height": h})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12.0})
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "debris"}]}
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def _files() -> dict[str, bytes]:
    files = {f"site_{k:04d}.png": _png(k) for k in range(N)}
    # The same bytes under two names, in different batches: one item, one blob.
    files["site_0500.png"] = files["site_0010.png"]
    # Images larger than a pack holds, one of them twice.
    files["site_0020.png"] = files["site_0300.png"] = _png(20, noisy=True)
    files["site_0400.png"] = _png(400, noisy=True)
    return files


def test_every_media_file_is_stored_once_and_reads_back(ws: Workspace, tmp_path: Path) -> None:
    files = _files()
    assert len(files["site_0020.png"]) > PACK_MAX and len(files["site_0000.png"]) < PACK_MAX
    assert N > 2 * fio._STAGE_FILES
    told: list[tuple[int, int]] = []
    report = ws.import_labels(
        _coco(tmp_path / "coco", files), "coco", "survey", progress=lambda d, t: told.append((d, t))
    )
    # Told of each batch stored, in order, up to every file.
    assert len(told) == -(-N // fio._STAGE_FILES) and told[-1] == (N, N)
    assert [d for d, _ in told] == sorted({d for d, _ in told})
    unique = {hashlib.sha256(d).hexdigest(): d for d in files.values()}
    assert (report.media, report.new_items) == (N, len(unique)) == (N, N - 2)
    with ws.db.read() as conn:
        stored = dict(conn.execute(select(items.c.id, items.c.size)).all())
    assert stored == {sha: len(d) for sha, d in unique.items()}
    for sha, data in unique.items():
        assert ws.blobs.get_bytes(sha) == data
    # Met again: nothing new, and every blob still reads back.
    again = ws.import_labels(tmp_path / "coco" / "annotations.json", "coco", "survey")
    assert again.new_items == 0
    assert all(ws.blobs.exists(sha) for sha in unique)


def test_a_bad_file_in_a_later_batch_stores_nothing(ws: Workspace, tmp_path: Path) -> None:
    files = _files()
    files["site_0550.png"] = b"\x89PNG\r\n\x1a\n" + b"not an image" * 4
    path = _coco(tmp_path / "coco", files)
    with pytest.raises(InvalidInput, match=r"site_0550\.png: .*(corrupt|not a readable)"):
        ws.import_labels(path, "coco", "survey")
    with ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(datasets)).scalar() == 0
    # The packed blobs it staged were never indexed: no reader finds them (`assay gc` drops
    # the pack; on S3 a blob larger than a pack is its own object from the start, as ever).
    small = [hashlib.sha256(d).hexdigest() for d in files.values() if len(d) <= PACK_MAX]
    assert ws.blobs.present(small) == set()


def _stated(folder: Path, bbox: list[float]) -> Path:
    """One 8x6 image the file says is 640x480, with a polygon and a box."""
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "gauge.png").write_bytes(_png(7))
    ring = [1.5, 1.0, 6.0, 1.0, 6.0, 5.0]
    doc = {
        "images": [{"id": 1, "file_name": "gauge.png", "width": 640, "height": 480}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": bbox, "area": 1.0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [ring], "area": 9.0},
        ],
        "categories": [{"id": 1, "name": "debris"}],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_image_decides_its_size_over_what_the_file_states(
    ws: Workspace, tmp_path: Path
) -> None:
    """A file stating 640x480 for an 8x6 image: the item is 8x6 (the size its bytes have), the
    contradiction is counted, and a region outside the real image is refused, naming it."""
    report = ws.import_labels(_stated(tmp_path / "a", [1, 1, 4, 3]), "coco", "survey")
    assert report.dropped == {"stated image sizes contradicting the image (replaced)": 1}
    with ws.db.read() as conn:
        assert conn.execute(select(items.c.width, items.c.height)).all() == [(8, 6)]
    outside = _stated(tmp_path / "b", [100, 1, 4, 3])
    with pytest.raises(InvalidInput, match=r"gauge\.png \(stated 640x480, the image is 8x6\), "
                       r"region 1 \(debris\): box .* lies outside the 8x6 image"):  # fmt: skip
        ws.import_labels(outside, "coco", "other")
    with pytest.raises(InvalidInput, match=r"cannot carry 1 stated image sizes .*--strict"):
        ws.import_labels(_stated(tmp_path / "c", [1, 1, 4, 3]), "coco", "strict", strict=True)
    with ws.db.read() as conn:  # neither wrote anything
        assert conn.execute(select(datasets.c.name)).scalars().all() == ["survey"]


def _unsized_records(folder: Path, fmt: str, box: list[float]) -> Path:
    """One 8x6 image in a JSONL or Parquet file that states no width or height for it."""
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "gauge.png").write_bytes(_png(7))
    label = {"id": "r1", "kind": "box", "label": "debris", "box": box, "author": "ana"}
    rec = {"name": "gauge.png", "file": "images/gauge.png", "media_type": "image/png",
           "width": None, "height": None, "marking": None, "labels": [label]}  # fmt: skip
    if fmt == "jsonl":
        path = folder / "items.jsonl"
        path.write_text(json.dumps({**rec, "metadata": {}}) + "\n")
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    region = pa.struct([("id", pa.string()), ("kind", pa.string()), ("label", pa.string()),
                        ("box", pa.list_(pa.float64())), ("author", pa.string())])  # fmt: skip
    schema = pa.schema([("name", pa.string()), ("file", pa.string()), ("media_type", pa.string()),
                        ("width", pa.int32()), ("height", pa.int32()), ("marking", pa.string()),
                        ("labels", pa.list_(region)), ("id", pa.string()),
                        ("metadata", pa.string())])  # fmt: skip
    path = folder / "items.parquet"
    pq.write_table(pa.Table.from_pylist([{**rec, "id": None, "metadata": "{}"}], schema), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_an_image_without_a_stated_size_gets_the_size_of_its_bytes(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    """A record without width/height: the new item has its image's size (as ingest gives it),
    so an image export takes it; a region outside that image is refused, naming it."""
    report = ws.import_labels(_unsized_records(tmp_path / "a", fmt, [1, 1, 4, 3]), fmt, "survey")
    assert report.new_items == 1 and report.dropped == {}
    with ws.db.read() as conn:
        assert conn.execute(select(items.c.width, items.c.height)).all() == [(8, 6)]
    ws.export("survey", "yolo", tmp_path / "yolo", media=False)
    line = (tmp_path / "yolo" / "labels" / "train" / "gauge.txt").read_text()
    assert line == "0 0.375000 0.416667 0.500000 0.500000\n"
    outside = _unsized_records(tmp_path / "b", fmt, [100, 1, 4, 3])
    with pytest.raises(InvalidInput, match=r"gauge\.png \(the image is 8x6\), "
                       r"region 1 \(debris\): box .* lies outside the 8x6 image"):  # fmt: skip
        ws.import_labels(outside, fmt, "other")
    with ws.db.read() as conn:
        assert conn.execute(select(datasets.c.name)).scalars().all() == ["survey"]
