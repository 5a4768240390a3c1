"""YOLO detect and YOLO segment as two explicit layouts, checked against Ultralytics' own rules.

Ultralytics is not installed here (it pulls torch); `ultralytics_label_problems` restates the
checks of ``ultralytics/data/utils.py::verify_image_label`` and of
``ultralytics/data/dataset.py::YOLODataset.get_labels`` (8.3.x) that decide whether an image's
labels are used, and `ultralytics_root` the ``check_det_dataset`` rule that resolves ``path:``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from fmt_helpers import boxes as box_regions
from fmt_helpers import bundle, image_row, points, polygons, sizes
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from assay.domain.labels import Region
from assay.formats import get_codec, yolo

IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}


def ultralytics_label_problems(image: Path, label: Path, nc: int, task: str) -> list[str]:
    """Why Ultralytics would ignore or alter this image's labels (empty list: used as written).

    The rules, in the order `verify_image_label` applies them:
    1. the image opens, is at least 10x10 px and its format is in ``IMG_FORMATS``;
    2. the label file is split into rows of whitespace-separated values; if ANY row has more than
       6 values the file is read as segments: every row is ``class x1 y1 x2 y2 ...`` reshaped to
       (x, y) pairs and converted to a box;
    3. after that every row must have exactly 5 columns (``class cx cy w h``);
    4. coordinates must be <= 1.01 and every value >= -0.01 (normalised, 1 % tolerance);
    5. the largest class id must be < nc (the number of names in data.yaml);
    6. duplicate rows are removed (a warning: the duplicate is lost).
    `YOLODataset.get_labels` then requires, for a segment task, that every row of the dataset is
    a segment ("Box and segment counts should be equal ... only boxes will be used and all
    segments will be removed"): a file mixing box and segment rows loses its segments.
    """
    problems: list[str] = []
    with Image.open(image) as im:
        if min(im.size) < 10:
            problems.append(f"image size {im.size} < 10 pixels")
        if (im.format or "").lower() not in IMG_FORMATS:
            problems.append(f"invalid image format {im.format}")
    if not label.is_file():
        return problems
    rows = [x.split() for x in label.read_text(encoding="utf-8").strip().splitlines() if len(x)]
    if not rows:
        return problems
    is_segment = any(len(r) > 6 for r in rows)
    values: list[list[float]] = []
    for r in rows:
        nums = [float(x) for x in r]
        if is_segment:
            if (len(nums) - 1) % 2:
                problems.append(f"segment row with an odd number of coordinates: {r}")
                continue
            xs, ys = nums[1::2], nums[2::2]
            x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
            values.append([nums[0], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
            if max(nums[1:]) > 1.01 or min(nums) < -0.01:
                problems.append(f"out of bounds coordinates in {r}")
        else:
            values.append(nums)
    for row in values:
        if len(row) != 5:
            problems.append(f"labels require 5 columns, {len(row)} columns detected")
        elif max(row[1:]) > 1.01 or min(row) < -0.01:
            problems.append(f"non-normalized or out of bounds coordinates {row}")
        elif row[0] >= nc:
            problems.append(f"Label class {int(row[0])} exceeds dataset class count {nc}")
    if len({tuple(r) for r in values}) < len(values):
        problems.append("duplicate labels removed")
    segment_rows = sum(len(r) > 6 for r in rows)
    if task == "segment" and segment_rows != len(rows):
        problems.append("segment task needs every row to be a segment")
    if task == "detect" and segment_rows:
        problems.append("detect layout holds segment rows")
    return problems


def ultralytics_root(yaml_file: Path, cwd: Path) -> Path:
    """`check_det_dataset`: ``path = Path(data.get("path") or Path(yaml_file).parent)``; a
    relative path that does not exist from the working directory is taken under DATASETS_DIR,
    one that does exist is resolved against the working directory."""
    data = yaml.safe_load(yaml_file.read_text())
    path = Path(data.get("path") or yaml_file.parent)
    if not path.is_absolute():
        path = cwd / path
    return path.resolve()


@st.composite
def mixed_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        kinds = st.one_of(box_regions(w, h), polygons(w, h), points(w, h))
        regions = draw(st.lists(kinds, max_size=6))
        split = draw(st.sampled_from(["train", "val"]))
        rows.append(image_row(f"img_{i}.png", regions, (w, h), metadata={"split": split}))
    return rows


def _written_pairs(out: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for image in sorted((out / "images").rglob("*.png")):
        rel = image.relative_to(out / "images").with_suffix(".txt")
        pairs.append((image, out / "labels" / rel))
    return pairs


@pytest.mark.parametrize(("fmt", "task"), [("yolo", "detect"), ("yolo-seg", "segment")])
@settings(max_examples=25, deadline=None)
@given(rows=mixed_rows())
def test_every_written_label_file_passes_ultralytics_checks(
    fmt: str, task: str, rows: list[Any]
) -> None:
    codec = get_codec(fmt)
    assert codec.write is not None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        codec.write(bundle(rows), out)
        nc = len(yaml.safe_load((out / "data.yaml").read_text())["names"])
        pairs = _written_pairs(out)
        assert len(pairs) == len(rows)
        for image, label in pairs:
            assert ultralytics_label_problems(image, label, nc, task) == [], label.read_text()


def test_detect_and_segment_layouts_of_one_mixed_image(tmp_path: Path) -> None:
    rows = [
        image_row(
            "a.png",
            [
                Region(kind="box", label="vehicle", box=(10, 10, 20, 10)),
                Region(kind="polygon", label="debris", points=((0, 0), (40, 0), (40, 24))),
            ],
            (80, 48),
        )
    ]
    yolo.write(bundle(rows), tmp_path / "det")
    det = (tmp_path / "det/labels/train/a.txt").read_text().splitlines()
    assert det == [
        "1 0.250000 0.312500 0.250000 0.208333",
        "3 0.250000 0.250000 0.500000 0.500000",  # the polygon's bounding box
    ]
    get_codec("yolo-seg").write(bundle(rows), tmp_path / "seg")  # type: ignore[misc]
    seg = (tmp_path / "seg/labels/train/a.txt").read_text().splitlines()
    assert seg == [
        "1 0.125000 0.208333 0.375000 0.208333 0.375000 0.416667 0.125000 0.416667",
        "3 0.000000 0.000000 0.500000 0.000000 0.500000 0.500000",
    ]
    back = get_codec("yolo-seg").read(tmp_path / "seg", None)  # type: ignore[misc]
    assert [r.kind for r in back.media[0].annotations[0].regions] == ["polygon", "polygon"]


def test_data_yaml_lets_ultralytics_find_images_from_any_working_directory(
    tmp_path: Path,
) -> None:
    rows = [
        image_row("a.png", [], (32, 32)),
        image_row("b.png", [], (32, 32), metadata={"split": "val"}),
    ]
    out = tmp_path / "export"
    yolo.write(bundle(rows), out)
    moved = tmp_path / "elsewhere/copied"
    moved.parent.mkdir()
    os.rename(out, moved)  # carried to the training machine
    doc = yaml.safe_load((moved / "data.yaml").read_text())
    for cwd in (tmp_path, moved, moved / "images", Path("/")):
        root = ultralytics_root(moved / "data.yaml", cwd)
        assert (root / doc["train"] / "a.png").is_file()
        assert (root / doc["val"] / "b.png").is_file()
