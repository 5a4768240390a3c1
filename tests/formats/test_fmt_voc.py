from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fmt_helpers import boxes as box_regions
from fmt_helpers import bundle, image_row, save_images, sizes
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import voc

XML = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <folder>JPEGImages</folder>
  <filename>{filename}</filename>
  <size><width>100</width><height>50</height><depth>3</depth></size>
  <object>
    <name>vehicle</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
    <bndbox><xmin>11</xmin><ymin>6</ymin><xmax>30</xmax><ymax>25</ymax></bndbox>
  </object>
  <object>
    <name>person</name><difficult>1</difficult>
    <bndbox>{box}</bndbox>
  </object>
</annotation>
"""
BOX = "<xmin>1</xmin><ymin>1</ymin><xmax>100</xmax><ymax>50</ymax>"


def _voc(root: Path, box: str = BOX, filename: str = "flood_01.jpg") -> Path:
    (root / "Annotations").mkdir(parents=True)
    save_images(root / "JPEGImages", ["flood_01.jpg"], (100, 50))
    (root / "Annotations/flood_01.xml").write_text(XML.format(filename=filename, box=box))
    return root


def test_reads_voc_folder_with_attributes(tmp_path: Path) -> None:
    b = voc.read(_voc(tmp_path))
    (m,) = b.media
    assert m.name == "flood_01.jpg" and (m.width, m.height) == (100, 50)
    assert m.path == (tmp_path / "JPEGImages/flood_01.jpg").resolve()
    car, person = m.annotations[0].regions
    assert car.box == (10, 5, 20, 20)  # 1-based inclusive pixels -> x=xmin-1, w=xmax-xmin+1
    assert car.attributes == {"difficult": 0, "truncated": 1, "pose": "Left"}
    assert person.box == (0, 0, 100, 50) and person.attributes == {"difficult": 1}
    assert b.label_names == ["vehicle", "person"]


def test_reads_flat_folder_and_single_file(tmp_path: Path) -> None:
    save_images(tmp_path, ["flood_01.jpg"], (100, 50))
    (tmp_path / "flood_01.xml").write_text(XML.format(filename="flood_01", box=BOX))
    assert voc.read(tmp_path).media[0].path == (tmp_path / "flood_01.jpg").resolve()
    assert len(voc.read(tmp_path / "flood_01.xml").media[0].annotations[0].regions) == 2


BAD = [
    (
        {"box": "<xmin>1</xmin><ymin>1</ymin><xmax>102</xmax><ymax>50</ymax>"},
        "Annotations/flood_01.xml: object[1]/bndbox: box [x=0, y=0, w=102, h=50] lies outside",
    ),
    (
        {"box": "<xmin>1</xmin><ymin>1</ymin><xmax>ten</xmax><ymax>50</ymax>"},
        "Annotations/flood_01.xml: object[1]/bndbox/xmax: expected a number, got 'ten'",
    ),
    (
        {"box": "<xmin>1</xmin><ymin>1</ymin><ymax>50</ymax>"},
        "Annotations/flood_01.xml: object[1]/bndbox: missing <xmax>",
    ),
    (
        {"box": "<xmin>9</xmin><ymin>1</ymin><xmax>3</xmax><ymax>50</ymax>"},
        "object[1]/bndbox: xmax/ymax (3, 50) below xmin/ymin (9, 1)",
    ),
    (
        {"filename": "missing.jpg"},
        "Annotations/flood_01.xml: annotation/filename: image 'missing.jpg' not found",
    ),
]


@pytest.mark.parametrize(("kw", "message"), BAD)
def test_bad_voc_names_file_and_place(tmp_path: Path, kw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        voc.read(_voc(tmp_path, **kw))
    assert message in str(err.value)


def test_box_within_one_pixel_tolerance_is_accepted(tmp_path: Path) -> None:
    # xmin 0 is a common off-by-one in tools that write 0-based VOC: x = -1, inside the tolerance.
    root = _voc(tmp_path, box="<xmin>0</xmin><ymin>0</ymin><xmax>101</xmax><ymax>50</ymax>")
    assert voc.read(root).media[0].annotations[0].regions[1].box == (-1, -1, 102, 51)


def test_invalid_xml_non_utf8_and_wrong_root(tmp_path: Path) -> None:
    root = _voc(tmp_path)
    xml = root / "Annotations/flood_01.xml"
    xml.write_text("<annotation>\n  <filename>a.jpg</file>\n</annotation>")
    with pytest.raises(InvalidInput, match=r"flood_01.xml line 2 column \d+: invalid XML"):
        voc.read(root)
    xml.write_bytes(b"<annotation>\n<filename>caf\xe9.jpg</filename></annotation>")
    with pytest.raises(InvalidInput, match=r"flood_01.xml line 2: not UTF-8 text"):
        voc.read(root)
    xml.write_text("<root/>")
    with pytest.raises(InvalidInput, match=r"expected an <annotation> root element"):
        voc.read(root)


def test_write_voc_with_marking_and_image_sets(tmp_path: Path) -> None:
    region = Region(
        kind="box", label="vehicle", box=(9.6, 4.4, 20.2, 20.0), attributes={"difficult": 1}
    )
    rows = [
        image_row("a.png", [region], (100, 50), marking="SECRET"),
        image_row("b.png", [], metadata={"split": "val"}),
    ]
    written = voc.write(bundle(rows, marking="SECRET"), tmp_path)
    root = ET.parse(tmp_path / "Annotations/a.xml").getroot()
    assert root.findtext("filename") == "a.png" and root.findtext("marking") == "SECRET"
    obj = root.find("object")
    assert obj is not None and obj.findtext("difficult") == "1"
    assert obj.findtext("truncated") == "0"
    coords = [obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
    assert coords == ["11", "5", "30", "24"]
    assert (tmp_path / "ImageSets/Main/train.txt").read_text() == "a\n"
    assert (tmp_path / "ImageSets/Main/val.txt").read_text() == "b\n"
    assert (tmp_path / "JPEGImages/a.png").is_file()
    assert (tmp_path / "MARKING.txt").read_text().startswith("SECRET\n")
    assert tmp_path / "MARKING.txt" in written
    assert voc.read(tmp_path).media[0].marking == "SECRET"


@st.composite
def voc_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        regions = draw(st.lists(box_regions(w, h, min_size=1.0), max_size=5))
        flags = st.fixed_dictionaries(
            {"difficult": st.integers(0, 1), "truncated": st.integers(0, 1)}
        )
        regions = [r.model_copy(update={"attributes": draw(flags)}) for r in regions]
        rows.append(image_row(f"img_{i}.png", regions, (w, h)))
    return rows


@settings(max_examples=20, deadline=None)
@given(voc_rows())
def test_round_trip_keeps_boxes_within_half_a_pixel(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        voc.write(bundle(rows), Path(tmp))
        back = {m.name: m.annotations[0].regions for m in voc.read(Path(tmp)).media}
    for row in rows:
        got = back[row.name]
        assert [(r.label, r.attributes) for r in got] == [
            (r.label, r.attributes) for r in row.regions
        ]
        for g, r in zip(got, row.regions, strict=True):
            assert g.box is not None and r.box is not None
            x, y, w, h = r.box
            gx, gy, gw, gh = g.box
            assert all(float(c).is_integer() for c in g.box)
            for a, b in ((gx, x), (gy, y), (gx + gw, x + w), (gy + gh, y + h)):
                assert abs(a - b) <= 0.5 + 1e-9


def _gray_png(path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 128).save(path)


def test_reads_image_sets_as_splits(tmp_path: Path) -> None:
    root = _voc(tmp_path)
    save_images(root / "JPEGImages", ["flood_02.jpg", "flood_03.jpg"], (100, 50))
    for stem in ("flood_02", "flood_03"):
        (root / f"Annotations/{stem}.xml").write_text(XML.format(filename=f"{stem}.jpg", box=BOX))
    sets = root / "ImageSets/Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("flood_01\nflood_03\n")
    (sets / "val.txt").write_text("flood_02\n")
    (sets / "trainval.txt").write_text("flood_01\nflood_02\nflood_03\n")  # the union: no split
    (sets / "vehicle_train.txt").write_text("flood_01  1\nflood_03 -1\n")  # per-class lists
    b = voc.read(root)
    assert {m.name: m.metadata.get("split") for m in b.media} == {
        "flood_01.jpg": "train",
        "flood_02.jpg": "val",
        "flood_03.jpg": "train",
    }


def test_image_set_naming_an_unknown_image_is_an_error(tmp_path: Path) -> None:
    root = _voc(tmp_path)
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "ImageSets/Main/val.txt").write_text("flood_01\nflood_99\n")
    with pytest.raises(InvalidInput, match=r"ImageSets/Main/val.txt line 2: no annotation"):
        voc.read(root)


def test_splits_survive_a_round_trip_with_trainval(tmp_path: Path) -> None:
    rows = [
        image_row("a.png", [], metadata={"split": "train"}),
        image_row("b.png", [], metadata={"split": "val"}),
        image_row("c.png", [], metadata={"split": "test"}),
    ]
    voc.write(bundle(rows), tmp_path)
    assert (tmp_path / "ImageSets/Main/trainval.txt").read_text() == "a\nb\n"
    back = voc.read(tmp_path)
    assert [m.metadata.get("split") for m in back.media] == ["train", "val", "test"]


def test_grayscale_images_are_written_with_depth_1(tmp_path: Path) -> None:
    import io

    from fmt_helpers import png_bytes
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (40, 30), 7).save(buf, format="PNG")
    gray = image_row("gray.png", [], (40, 30))
    gray.read_bytes = lambda: buf.getvalue()
    rgb = image_row("rgb.png", [], (40, 30))
    assert Image.open(io.BytesIO(png_bytes(40, 30))).mode == "RGB"
    for copy in (True, False):
        out = tmp_path / str(copy)
        voc.write(bundle([gray, rgb], copy_media=copy), out)
        depth = {
            n: ET.parse(out / f"Annotations/{n}.xml").getroot().findtext("size/depth")
            for n in ("gray", "rgb")
        }
        assert depth == {"gray": "1", "rgb": "3"}


def test_size_contradicting_the_image_is_replaced_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path
    (root / "Annotations").mkdir(parents=True)
    _gray_png(root / "JPEGImages/flood_01.png", (200, 100))  # the XML says 100x50
    (root / "Annotations/flood_01.xml").write_text(XML.format(filename="flood_01.png", box=BOX))
    b = voc.read(root)
    (m,) = b.media
    assert (m.width, m.height) == (200, 100)
    assert "flood_01.xml: <size> says 100x50 but the image is 200x100" in caplog.text
