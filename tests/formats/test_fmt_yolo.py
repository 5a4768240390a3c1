from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from fmt_helpers import FIXTURES, bundle, image_row, polygons, save_images, sizes, unzip
from fmt_helpers import boxes as box_regions
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import labelstudio, yolo

SCENES = [f"scene_{i:03d}.png" for i in range(6)]


def test_reads_label_studio_yolo_export(tmp_path: Path) -> None:
    root = unzip("image_project_yolo.zip", tmp_path / "yolo")
    save_images(root / "images", SCENES)
    b = yolo.read(root)
    assert b.label_names == ["building", "destroyed", "minor", "none", "person", "vehicle"]
    assert [m.name for m in b.media] == SCENES
    assert b.media[5].annotations == []  # no label file: unlabelled
    # Each image's boxes are the boxes of one of its annotations in the JSON export.
    save_images(tmp_path / "imgs/scenes", SCENES)
    ls = labelstudio.read(FIXTURES / "image_project.json", images=tmp_path / "imgs")

    def key(regions: Any) -> list[tuple[Any, ...]]:
        return sorted((r.label, *(round(c, 3) for c in r.box)) for r in regions if r.box)

    for m, lm in zip(b.media[:5], ls.media[:5], strict=True):
        assert key(m.annotations[0].regions) in [key(a.regions) for a in lm.annotations]


def _ultralytics(root: Path, names: Any = None) -> Path:
    save_images(root / "images/train", ["a.png", "b.png"], (100, 50))
    save_images(root / "images/val", ["c.png"], (100, 50))
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/val").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    (root / "labels/train/b.txt").write_text("")
    (root / "labels/val/c.txt").write_text("2 0.1 0.1 0.5 0.1 0.5 0.5\n")
    doc = {
        "path": ".",
        "train": "images/train",
        "val": "images/val",
        "names": names or {0: "building", 1: "vehicle", 2: "debris"},
    }
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    return root


def test_reads_ultralytics_layout(tmp_path: Path) -> None:
    b = yolo.read(_ultralytics(tmp_path) / "data.yaml")
    assert b.label_names == ["building", "vehicle", "debris"]
    assert [(m.name, m.metadata["split"]) for m in b.media] == [
        ("a.png", "train"),
        ("b.png", "train"),
        ("c.png", "val"),
    ]
    a, bb, c = b.media
    assert [r.box for r in a.annotations[0].regions] == [
        pytest.approx((40.0, 15.0, 20.0, 20.0)),
        pytest.approx((0.0, 0.0, 20.0, 10.0)),
    ]
    assert bb.annotations[0].regions == []  # an empty file: labelled, nothing there
    poly = c.annotations[0].regions[0]
    assert poly.kind == "polygon" and poly.points == ((10, 5), (50, 5), (50, 25))


def test_names_as_list_are_accepted(tmp_path: Path) -> None:
    b = yolo.read(_ultralytics(tmp_path, names=["building", "vehicle", "debris"]))
    assert b.label_names == ["building", "vehicle", "debris"]


def test_write_ultralytics_layout_with_marking(tmp_path: Path) -> None:
    rows = [
        image_row("a.png", [Region(kind="box", label="vehicle", box=(8, 12, 16, 24))]),
        image_row("b.png", [], metadata={"split": "val"}),
    ]
    written = yolo.write(bundle(rows, marking="CONFIDENTIAL"), tmp_path)
    doc = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert doc["marking"] == "CONFIDENTIAL"
    assert "path" not in doc  # Ultralytics then uses the folder of data.yaml
    assert (doc["train"], doc["val"]) == ("images/train", "images/val")
    assert doc["names"] == {0: "building", 1: "vehicle", 2: "person", 3: "debris"}
    assert (
        tmp_path / "labels/train/a.txt"
    ).read_text() == "1 0.250000 0.500000 0.250000 0.500000\n"
    assert (tmp_path / "labels/val/b.txt").read_text() == ""
    assert (tmp_path / "images/val/b.png").is_file()
    assert (tmp_path / "MARKING.txt").read_text().startswith("CONFIDENTIAL\n")
    assert tmp_path / "data.yaml" in written
    assert [m.marking for m in yolo.read(tmp_path).media] == ["CONFIDENTIAL"] * 2


LABEL_ERRORS = [
    (
        "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n7 0.5 0.5 0.1 0.1\n",
        "labels/train/a.txt line 3: class id 7 not in data.yaml names (0..2)",
    ),
    ("0 0.5 0.5 0.2\n", "labels/train/a.txt line 1: expected 5 values (class cx cy w h)"),
    ("0 0.5 abc 0.2 0.2\n", "labels/train/a.txt line 1: expected 'class cx cy w h' with numbers"),
    ("x 0.5 0.5 0.2 0.2\n", "labels/train/a.txt line 1: expected 'class cx cy w h'"),
    ("0 0.5 0.5 nan 0.2\n", "labels/train/a.txt line 1: coordinates must be finite numbers"),
    (  # finite in the file, not once scaled to pixels (was stored as [NaN, ..., inf, ...])
        "0 1e308 0.5 1e308 0.2\n",
        "labels/train/a.txt line 1: box [x=nan, y=20, w=inf, h=10]: not all finite numbers",
    ),
    (
        "\n0 0.95 0.5 0.2 0.2\n",
        "labels/train/a.txt line 2: box [x=85, y=20, w=20, h=10] lies outside the 100x50 image",
    ),
    ("0 0.5 0.5 0.2 0.2 0.1 0.1 9 9\n", "labels/train/a.txt line 1: point (900, 450) lies outside"),
]


@pytest.mark.parametrize(("content", "message"), LABEL_ERRORS)
def test_bad_label_lines(tmp_path: Path, content: str, message: str) -> None:
    root = _ultralytics(tmp_path)
    (root / "labels/train/a.txt").write_text(content)
    with pytest.raises(InvalidInput) as err:
        yolo.read(root)
    assert message in str(err.value)


def test_box_within_one_pixel_tolerance_is_accepted(tmp_path: Path) -> None:
    root = _ultralytics(tmp_path)
    (root / "labels/train/a.txt").write_text("0 0.504 0.5 1.0 1.0\n")  # 0.4 px past the edge
    assert len(yolo.read(root).media[0].annotations[0].regions) == 1


def test_label_file_without_image(tmp_path: Path) -> None:
    root = _ultralytics(tmp_path)
    (root / "labels/train/z.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InvalidInput, match=r"labels/train/z.txt: no image named z\.\*"):
        yolo.read(root)


def test_label_studio_label_file_without_image(tmp_path: Path) -> None:
    root = unzip("image_project_yolo.zip", tmp_path)
    save_images(root / "images", SCENES[:3])
    with pytest.raises(InvalidInput, match=r"labels/scene_003.txt: no image named scene_003"):
        yolo.read(root)


def test_label_studio_class_out_of_range(tmp_path: Path) -> None:
    root = unzip("image_project_yolo.zip", tmp_path)
    save_images(root / "images", SCENES)
    (root / "classes.txt").write_text("building\nperson\n")
    with pytest.raises(InvalidInput, match=r"class id 5 not in classes.txt names \(0..1\)"):
        yolo.read(root)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("names: [a, b\ntrain: x\n", "data.yaml line 2: invalid YAML: expected ',' or ']'"),
        ("train: images/train\n", "data.yaml: missing key 'names'"),
        ("names: {0: a, 2: b}\ntrain: images/train\n", "data.yaml: names: class ids must be 0..1"),
        ("names: [a]\ntrain: imgs/nope\n", "data.yaml: train: 'imgs/nope' is not a folder"),
        ("names: [a, 3]\ntrain: images/train\n", "data.yaml: names[1]: expected a string"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, content: str, message: str) -> None:
    root = _ultralytics(tmp_path)
    (root / "data.yaml").write_text(content)
    with pytest.raises(InvalidInput) as err:
        yolo.read(root)
    assert message in str(err.value)


def test_non_utf8_label_file(tmp_path: Path) -> None:
    root = _ultralytics(tmp_path)
    (root / "labels/train/a.txt").write_bytes(b"0 0.5 0.5 0.2 0.2 \xff\n")
    with pytest.raises(InvalidInput, match=r"labels/train/a.txt line 1: not UTF-8 text"):
        yolo.read(root)


@st.composite
def yolo_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        regions = draw(st.lists(st.one_of(box_regions(w, h), polygons(w, h)), max_size=5))
        split = draw(st.sampled_from(["train", "val", "test"]))
        rows.append(image_row(f"img_{i}.png", regions, (w, h), metadata={"split": split}))
    return rows


def _corners(r: Region, task: str) -> tuple[float, ...]:
    """What the layout of `task` holds of `r`: box (x, y, w, h) or polygon coordinates."""
    if r.box is not None:
        x, y, w, h = r.box
        pts: tuple[tuple[float, float], ...] = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    else:
        pts = r.points or ()
    if task == "segment":
        return tuple(c for p in pts for c in p)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _box_key(r: Region, w: int, h: int) -> tuple[Any, ...]:
    x, y, bw, bh = _corners(r, "detect")
    return (r.label, *(round(c, 6) for c in (x / w, y / h, (x + bw) / w, (y + bh) / h)))


@pytest.mark.parametrize("task", ["detect", "segment"])
@settings(max_examples=20, deadline=None)
@given(rows=yolo_rows())
def test_round_trip_keeps_geometry_and_classes(task: str, rows: list[Any]) -> None:
    write = yolo.write if task == "detect" else yolo.write_segment
    with tempfile.TemporaryDirectory() as tmp:
        write(bundle(rows), Path(tmp))
        back = {m.name: m for m in yolo.read(Path(tmp)).media}
    kind = "box" if task == "detect" else "polygon"
    for row in rows:
        m = back[row.name]
        assert m.metadata == row.metadata
        got = m.annotations[0].regions
        # Ultralytics keeps one row per class and box, so the writer does too.
        # (the first of regions with one key: two degenerate polygons can share a box)
        firsts: dict[Any, Any] = {}
        for r in row.regions:
            firsts.setdefault(_box_key(r, row.width, row.height), r)
        want = list(firsts.values())
        assert [(r.kind, r.label) for r in got] == [(kind, r.label) for r in want]
        tol = 1e-6 * max(row.width, row.height) * 2
        for g, r in zip(got, want, strict=True):
            assert _corners(g, task) == pytest.approx(_corners(r, task), abs=tol)
