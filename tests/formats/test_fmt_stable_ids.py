"""Stable ids: a dataset's label map and image numbers survive imports, exports and versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from fmt_helpers import save_images
from PIL import Image
from sqlalchemy import select, text

from assay.domain.labelmap import LabelMap
from assay.formats import _ids
from assay.store.schema import items, label_classes, working
from assay.versioning.datasets import add_item_ids
from assay.versioning.datasets import create as create_dataset
from assay.workspace import Workspace


def _distinct_images(folder: Path, names: list[str]) -> None:
    """Images with different bytes (the same bytes are one item)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.new("RGB", (64, 48), (ord(n[0]), 90, 160)).save(folder / n)


def _coco(folder: Path, cats: list[tuple[int, str]], images: list[tuple[int, str]]) -> Path:
    _distinct_images(folder / "images", [n for _i, n in images])
    anns = [
        {
            "id": k,
            "image_id": iid,
            "category_id": cats[k % len(cats)][0],
            "bbox": [2.0, 3.0, 10.0, 8.0],
            "area": 80.0,
            "iscrowd": 0,
        }
        for k, (iid, _n) in enumerate(images, 1)
    ]
    doc = {
        "images": [{"id": i, "file_name": n, "width": 64, "height": 48} for i, n in images],
        "annotations": anns,
        "categories": [{"id": i, "name": n} for i, n in cats],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def _export_coco(ws: Workspace, spec: str, out: Path) -> dict[str, Any]:
    ws.export(spec, "coco", out, media=False)
    doc: dict[str, Any] = json.loads((out / "annotations.json").read_text())
    return doc


def test_coco_category_ids_are_kept_as_in_the_file(ws: Workspace, tmp_path: Path) -> None:
    cats = [(3, "car"), (1, "person"), (7, "boat"), (2, "unused-class")]
    src = _coco(tmp_path / "src", cats, [(10, "a.png"), (11, "b.png"), (12, "c.png")])
    ws.import_labels(src, "coco", "roads")
    doc = _export_coco(ws, "roads", tmp_path / "out")
    # Same ids, same order, and the class no annotation uses is still there.
    assert [(c["id"], c["name"]) for c in doc["categories"]] == cats
    by_file = {im["file_name"]: im["id"] for im in doc["images"]}
    assert by_file == {"a.png": 10, "b.png": 11, "c.png": 12}
    src_doc = json.loads(src.read_text())
    want = {(a["image_id"], a["category_id"]) for a in src_doc["annotations"]}
    assert {(a["image_id"], a["category_id"]) for a in doc["annotations"]} == want


def test_a_new_class_appends_and_a_new_image_shifts_no_id(ws: Workspace, tmp_path: Path) -> None:
    cats = [(3, "car"), (1, "person")]
    ws.import_labels(_coco(tmp_path / "one", cats, [(1, "a.png"), (2, "c.png")]), "coco", "roads")
    ws.commit("roads", "first")
    before = _export_coco(ws, "roads@HEAD", tmp_path / "out1")
    # A second file adds an image that sorts between the others and a new class.
    more = _coco(tmp_path / "two", [(1, "truck")], [(1, "b.png")])
    ws.import_labels(more, "coco", "roads")
    ws.commit("roads", "second")
    after = _export_coco(ws, "roads@HEAD", tmp_path / "out2")
    assert [(c["id"], c["name"]) for c in after["categories"]] == [
        (3, "car"),
        (1, "person"),
        (4, "truck"),  # its file id 1 is taken by person: the next free id
    ]
    ids_before = {im["file_name"]: im["id"] for im in before["images"]}
    ids_after = {im["file_name"]: im["id"] for im in after["images"]}
    assert ids_after == {**ids_before, "b.png": 3}
    # The first version exported again keeps its numbers too.
    again = _export_coco(ws, "roads@HEAD~1", tmp_path / "out3")
    assert {im["file_name"]: im["id"] for im in again["images"]} == ids_before


def test_yolo_class_order_is_kept_not_sorted(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    save_images(src / "images" / "train", ["x.png"], (64, 48))
    (src / "labels" / "train").mkdir(parents=True)
    (src / "labels" / "train" / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n")
    (src / "data.yaml").write_text(
        yaml.safe_dump({"path": ".", "train": "images/train", "names": ["cup", "café", "mug"]})
    )
    ws.import_labels(src / "data.yaml", "yolo", "kitchen")
    ws.export("kitchen", "yolo", tmp_path / "out", media=False)
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert doc["names"] == {0: "cup", 1: "café", 2: "mug"}
    assert (tmp_path / "out" / "labels" / "train" / "x.txt").read_text().split("\n")[0][0] == "0"


def test_label_map_persists_in_the_workspace(ws: Workspace, tmp_path: Path) -> None:
    src = _coco(tmp_path / "src", [(5, "debris"), (2, "roof")], [(1, "a.png")])
    ws.import_labels(src, "coco", "storm")
    with ws.db.read() as conn:
        rows = conn.execute(
            select(label_classes.c.name, label_classes.c.class_id).order_by(
                label_classes.c.position
            )
        ).all()
    assert [tuple(r) for r in rows] == [("debris", 5), ("roof", 2)]


def test_label_map_rules() -> None:
    m = LabelMap.from_pairs([("car", 3), ("person", 1)])
    assert m.extend(["truck", "car"]).pairs() == [("car", 3), ("person", 1), ("truck", 4)]
    merged = m.merge(LabelMap.from_pairs([("person", 9), ("boat", 1), ("bus", 8)]))
    assert merged.pairs() == [("car", 3), ("person", 1), ("boat", 4), ("bus", 8)]
    assert LabelMap().extend(["b", "a"]).pairs() == [("b", 1), ("a", 2)]
    assert LabelMap.from_pairs([("x", 0), ("y", 1)]).dense() == {"x": 0, "y": 1}


def test_a_version_4_workspace_migrates_and_numbers_as_before(tmp_path: Path) -> None:
    w = Workspace.init(tmp_path / "ws")
    src = _coco(tmp_path / "src", [(5, "roof"), (2, "debris")], [(1, "b.png"), (2, "a.png")])
    w.import_labels(src, "coco", "storm")
    # Make it a workspace written by the release before stable ids (on either database).
    with w.db.begin() as conn:
        for table in ("label_classes", "item_numbers", "dataset_meta"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
    w.close()
    w = Workspace.open(tmp_path / "ws")
    try:
        doc = _export_coco(w, "storm", tmp_path / "out")
        # What that release's export wrote: names sorted from 1, images in item id order.
        assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "debris"), (2, "roof")]
        ids = sorted(json.loads(src.read_text())["images"], key=lambda im: im["file_name"])
        assert len(doc["images"]) == len(ids) == 2
        assert sorted(im["id"] for im in doc["images"]) == [1, 2]
        again = _export_coco(w, "storm", tmp_path / "out2")
        assert again["images"] == doc["images"]
        assert again["categories"] == doc["categories"]
    finally:
        w.close()


def test_label_map_docstring_example_runs() -> None:
    import doctest

    from assay.domain import labelmap

    result = doctest.testmod(labelmap)
    assert result.attempted > 0 and result.failed == 0


def test_two_first_exports_at_once_number_the_images_once(ws: Workspace, tmp_path: Path) -> None:
    """On PostgreSQL (read committed) both found the images unnumbered: the later export failed
    on the numbers' key when the other committed."""
    import threading
    import time

    from sqlalchemy import insert

    from assay.store.schema import item_numbers, working
    from assay.versioning.datasets import dataset_id, lock_dataset

    _distinct_images(tmp_path / "img", ["a.png", "b.png"])
    ws.ingest([tmp_path / "img"])
    ws.create_dataset("storm")
    ws.add_items("storm")
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["doc"] = _export_coco(ws, "storm", tmp_path / "out")
        except Exception as exc:  # the test reports it below
            result["error"] = exc

    t = threading.Thread(target=run)
    with ws.db.begin() as other:  # another export numbering the images, holding the dataset
        ds = dataset_id(other, "storm")
        lock_dataset(other, ds)
        members = other.execute(select(working.c.item_id).where(working.c.dataset_id == ds))
        numbers = {i: n for n, i in enumerate(sorted(members.scalars()), 7)}
        other.execute(
            insert(item_numbers),
            [{"dataset_id": ds, "item_id": i, "number": n} for i, n in numbers.items()],
        )
        t.start()
        deadline = time.monotonic() + 30
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
        while time.monotonic() < deadline:  # until the export waits for this transaction
            time.sleep(0.2)
            if ws.db.is_sqlite:
                break
            with ws.db.read() as conn:
                if conn.exec_driver_sql(waiting).scalar():
                    break
        time.sleep(0.3)
    t.join(60)
    assert "error" not in result, repr(result.get("error"))
    assert sorted(im["id"] for im in result["doc"]["images"]) == [7, 8]


def test_numbers_of_a_first_import_and_of_the_next(ws: Workspace) -> None:
    """A dataset's first numbers (none stored: none looked up) and later ones follow the same
    rule: the number asked for where positive and free, else the next after the highest."""
    with ws.db.begin() as conn:
        ds = create_dataset(conn, "nums")
        asked = {"a": 5, "b": 0, "c": 5, "d": 2}
        first = _ids.assign_numbers(conn, ds, ["a", "b", "c", "d", "a"], asked)
        assert first == {"a": 5, "b": 6, "c": 7, "d": 2}
        again = _ids.assign_numbers(conn, ds, ["a", "e", "f", "g"], {"a": 1, "e": 2, "f": 9})
        assert again == {"a": 5, "e": 10, "f": 9, "g": 11}
        assert _ids.assign_numbers(conn, ds, ["g", "d"]) == {"g": 11, "d": 2}


def test_members_added_to_a_new_dataset_and_to_one_with_members(
    ws: Workspace, tmp_path: Path
) -> None:
    """A new dataset (no members: none looked up) takes every id once; a dataset with members
    only those not in it yet."""
    src = _coco(tmp_path / "src", [(1, "car")], [(1, "a.png"), (2, "b.png"), (3, "c.png")])
    ws.import_labels(src, "coco", "first")
    with ws.db.begin() as conn:
        ids = sorted(r[0] for r in conn.execute(select(items.c.id)))
        ds = create_dataset(conn, "second")
        assert add_item_ids(conn, ds, [ids[1], ids[0], ids[1]]) == [ids[1], ids[0]]
        assert add_item_ids(conn, ds, [ids[2], ids[0]]) == [ids[2]]
        assert add_item_ids(conn, ds, ids) == []
        members = sorted(
            r[0] for r in conn.execute(select(working.c.item_id).where(working.c.dataset_id == ds))
        )
    assert members == ids
