from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fmt_helpers import boxes as box_regions
from fmt_helpers import (
    bundle,
    image_row,
    polygons,
    regions_by_name,
    save_images,
    scenes,
    sizes,
    unzip,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _coco_objects, coco, labelstudio


def test_reads_label_studio_coco_export(tmp_path: Path) -> None:
    unzip("image_project_coco.zip", tmp_path)
    images = scenes(tmp_path / "imgs")
    b = coco.read(tmp_path / "result.json", images=images)
    assert b.label_names == ["building", "destroyed", "minor", "none", "person", "vehicle"]
    assert [m.name for m in b.media] == [f"scenes/scene_{i:03d}.png" for i in range(5)]
    first = b.media[0]
    assert (first.width, first.height) == (640, 480)
    assert first.path == images.resolve() / "scenes/scene_000.png"
    # Label Studio writes one COCO image per annotation: two entries for the same file.
    assert len(first.annotations) == 2
    assert all(a.author == "user:import" for a in first.annotations)
    assert sum(len(a.regions) for m in b.media for a in m.annotations) == 21


def test_coco_boxes_match_label_studio_json_of_the_same_project(tmp_path: Path) -> None:
    unzip("image_project_coco.zip", tmp_path)
    images = scenes(tmp_path / "imgs")
    from_coco = coco.read(tmp_path / "result.json", images=images)
    from_ls = labelstudio.read(Path("/work/shared/fixtures/labelstudio/image_project.json"), images)

    def boxes(b: Any) -> list[tuple[str, str, tuple[float, ...]]]:
        return sorted(
            (m.name, r.label, tuple(round(c, 6) for c in r.box))
            for m in b.media
            for a in m.annotations
            for r in a.regions
            if r.kind == "box"
        )

    assert boxes(from_coco) == boxes(from_ls)


def _export(tmp_path: Path) -> tuple[Path, list[Path]]:
    rows = [
        image_row(
            "a.png",
            [
                Region(kind="box", label="vehicle", box=(1, 2, 10, 20)),
                Region(kind="polygon", label="debris", points=((0, 0), (10, 0), (10, 10))),
                Region(kind="choice", control="damage", label="minor"),
            ],
            metadata={"sensor": "uav-1"},
        ),
        image_row("b.png", [Region(kind="box", label="person", box=(5, 5, 4, 4))]),
    ]
    out = tmp_path / "out"
    return out, coco.write(bundle(rows, marking="SECRET/FLOOD"), out)


def test_write_loads_in_pycocotools(tmp_path: Path) -> None:
    out, written = _export(tmp_path)
    ann = out / "annotations.json"
    assert ann in written and (out / "images/a.png").is_file()
    api = COCO(str(ann))
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == [
        "building",
        "vehicle",
        "person",
        "debris",
    ]
    assert api.getCatIds() == [1, 2, 3, 4]
    anns = api.loadAnns(api.getAnnIds(imgIds=[1]))
    box, poly = anns
    assert box["area"] == 200 and box["iscrowd"] == 0 and box["category_id"] == 2
    assert poly["area"] == pytest.approx(50.0)  # shoelace of the right triangle
    assert poly["bbox"] == [0, 0, 10, 10]
    assert poly["segmentation"] == [[0, 0, 10, 0, 10, 10]]


def test_write_states_the_marking(tmp_path: Path) -> None:
    out, written = _export(tmp_path)
    doc = json.loads((out / "annotations.json").read_text())
    assert doc["info"]["marking"] == "SECRET/FLOOD"
    assert "SECRET/FLOOD" in doc["info"]["description"]
    assert (out / "MARKING.txt").read_text().splitlines()[0] == "SECRET/FLOOD"
    assert out / "MARKING.txt" in written
    assert coco.read(out / "annotations.json").media[0].marking == "SECRET/FLOOD"


def test_write_without_media_copies_writes_no_images(tmp_path: Path) -> None:
    rows = [image_row("a.png", [Region(kind="box", label="vehicle", box=(1, 2, 3, 4))])]
    coco.write(bundle(rows, copy_media=False), tmp_path)
    assert not (tmp_path / "images").exists()


def test_labels_missing_from_label_names_get_the_next_ids(tmp_path: Path) -> None:
    rows = [image_row("a.png", [Region(kind="box", label="boat", box=(1, 2, 3, 4))])]
    coco.write(bundle(rows, labels=["building"]), tmp_path)
    cats = json.loads((tmp_path / "annotations.json").read_text())["categories"]
    assert [(c["id"], c["name"]) for c in cats] == [(1, "building"), (2, "boat")]


def _doc() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "vehicle"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [4, 4, 8, 8]},
        ],
    }


BAD_CASES = [
    (lambda d: d.pop("images"), "annotations.json: missing key 'images'"),
    (
        lambda d: d.update(images={"id": 1}),
        "annotations.json: images: expected a list, got an object",
    ),
    (
        lambda d: d["annotations"][1].update(bbox=[1, 2, 3]),
        "annotations.json: annotations[1].bbox: expected 4 numbers, got 3",
    ),
    (
        lambda d: d["annotations"][1].update(bbox=[1, 2, "3", 4]),
        "annotations[1].bbox: expected numbers, found a string '3'",
    ),
    (
        lambda d: d["annotations"][0].update(category_id=7),
        "annotations[0].category_id: unknown category id 7 (known: 1)",
    ),
    (
        lambda d: d["annotations"][0].update(image_id=9),
        "annotations[0].image_id: unknown image id 9",
    ),
    (lambda d: d["annotations"][0].pop("image_id"), "annotations[0]: missing key 'image_id'"),
    (
        lambda d: d["images"][0].update(file_name="missing.png"),
        "images[0].file_name: image 'missing.png' not found",
    ),
    (
        lambda d: d["annotations"][1].update(bbox=[60, 4, 8, 8]),
        "annotations[1].bbox: box [x=60, y=4, w=8, h=8] lies outside the 64x48 image "
        "(tolerance 1 px)",
    ),
    (
        lambda d: d["annotations"][1].update(bbox=[4, 4, -1, 8]),
        "annotations[1].bbox: box has negative size",
    ),
    (
        lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]),
        "annotations[0].segmentation[0]: a polygon needs an even count >= 6 of numbers, got 4",
    ),
    (lambda d: d["images"][0].update(width="64"), "images[0].width: expected an integer"),
    (lambda d: d["categories"].append({"id": 1, "name": "x"}), "categories[1].id: duplicate"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_CASES)
def test_bad_coco_names_file_and_place(tmp_path: Path, mutate: Any, message: str) -> None:
    save_images(tmp_path, ["a.png"], (64, 48))
    doc = _doc()
    mutate(doc)
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as err:
        coco.read(tmp_path / "annotations.json")
    assert message in str(err.value)


def test_box_within_one_pixel_tolerance_is_accepted(tmp_path: Path) -> None:
    save_images(tmp_path, ["a.png"], (64, 48))
    doc = _doc()
    doc["annotations"][1]["bbox"] = [-0.9, 0, 64.8, 48.5]
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    assert len(coco.read(tmp_path).media[0].annotations[0].regions) == 2


def test_invalid_json_and_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(InvalidInput, match=r"annotations.json line 2 column 12: invalid JSON"):
        coco.read(path)
    path.write_bytes(b'{"images": [],\n "categories": [{"id": 1, "name": "v\xe9hicule"}]}')
    with pytest.raises(InvalidInput, match=r"annotations.json line 2: not UTF-8 text \(byte 0xe9"):
        coco.read(path)


@st.composite
def coco_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        # A 4-point polygon that is its own bbox's rectangle is how COCO writes a box, and it
        # reads back as one (documented): the round trip of polygons leaves those out.
        kinds = st.one_of(box_regions(w, h), polygons(w, h).filter(_not_a_box))
        regions = draw(st.lists(kinds, max_size=5))
        rows.append(image_row(f"img_{i}.png", regions, (w, h)))
    return rows


def _not_a_box(r: Region) -> bool:
    xs, ys = [p[0] for p in r.points], [p[1] for p in r.points]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return not _coco_objects._is_rectangle(list(r.points), box)


@settings(max_examples=20, deadline=None)
@given(coco_rows())
def test_round_trip_keeps_boxes_polygons_and_classes(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        coco.write(bundle(rows), Path(tmp))
        back = regions_by_name(coco.read(Path(tmp) / "annotations.json"))
    for row in rows:
        got = back[row.name]
        assert [(r.kind, r.label, r.box, r.points) for r in got] == [
            (r.kind, r.label, r.box, r.points) for r in row.regions
        ]


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "labelstudio", "jsonl", "parquet"])
def test_failed_export_writes_nothing(tmp_path: Path, fmt: str) -> None:
    from assay.formats import get_codec

    rows = [image_row("a.png", []), image_row("a.png", [])]
    codec = get_codec(fmt)
    assert codec.write is not None
    with pytest.raises(InvalidInput, match="would both be written as"):
        codec.write(bundle(rows), tmp_path / "out")
    assert not (tmp_path / "out").exists()
