"""CVAT for images and CVAT for video 1.1, written against CVAT's "XML annotation format" page."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fmt_helpers import boxes as box_regions
from fmt_helpers import bundle, image_row, polygons, save_images, sizes
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from assay.domain.labels import Region
from assay.domain.tracks import KEYFRAME, TRACK_ID
from assay.errors import InvalidInput
from assay.formats import _cvat_xml as cvat_xml
from assay.formats import cvat, cvat_video

IMAGES_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><id>4</id><name>flood</name><size>2</size><mode>annotation</mode>
    <labels>
      <label><name>vehicle</name><attributes>
        <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
          <default_value>false</default_value><values>false\ntrue</values></attribute>
        <attribute><name>people</name><mutable>False</mutable><input_type>number</input_type>
          <default_value>0</default_value><values>0\n10\n1</values></attribute>
      </attributes></label>
      <label><name>roof</name><attributes></attributes></label>
      <label><name>unused</name><attributes></attributes></label>
    </labels></task></meta>
  <image id="0" name="a.png" width="100" height="50" subset="Train">
    <box label="vehicle" xtl="10.00" ytl="5.00" xbr="30.50" ybr="25.00" occluded="1" z_order="2">
      <attribute name="parked">true</attribute>
      <attribute name="people">3</attribute>
    </box>
    <polygon label="roof" points="1.00,1.00;20.00,1.00;20.00,20.00" occluded="0" z_order="0">
    </polygon>
    <points label="roof" points="5.00,5.00;6.00,7.00" occluded="0"></points>
    <polyline label="roof" points="0,0;10,10" occluded="0"></polyline>
    <mask label="roof" rle="1, 2" left="0" top="0" width="3" height="1" occluded="0"></mask>
    <tag label="flooded" source="manual"></tag>
  </image>
  <image id="1" name="b.png" width="100" height="50"></image>
</annotations>
"""


def _images_export(root: Path, xml: str = IMAGES_XML) -> Path:
    save_images(root / "images", ["a.png", "b.png"], (100, 50))
    (root / "annotations.xml").write_text(xml)
    return root


def test_reads_cvat_for_images(tmp_path: Path) -> None:
    b = cvat.read(_images_export(tmp_path))
    assert b.label_names == ["vehicle", "roof", "unused", "flooded"]
    a, empty = b.media
    assert a.metadata == {"split": "train"} and empty.annotations == []
    box, poly, pts, tag = a.annotations[0].regions
    assert box.box == (10, 5, 20.5, 20)
    assert box.attributes == {"occluded": 1, "z_order": 2, "parked": True, "people": 3}
    assert poly.kind == "polygon" and poly.points == ((1, 1), (20, 1), (20, 20))
    assert pts.kind == "point" and pts.points == ((5, 5), (6, 7))
    assert (tag.kind, tag.label) == ("choice", "flooded")
    assert b.dropped.to_dict() == {"masks": 1, "polylines": 1}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'name="b.png"',
            'name="zz.png"',
            "annotations.xml: image[1].name: image 'zz.png' not found",
        ),
        ('xtl="10.00"', 'xtl="ten"', "annotations.xml: image[0].box[0].xtl: expected a number"),
        ('xbr="30.50"', 'xbr="3"', "image[0].box[0]: xbr/ybr (3, 25) below xtl/ytl (10, 5)"),
        ("20.00,20.00", "20.00,90.00", "image[0].polygon[1]: point (20, 90) lies outside"),
        ("<annotations>", "<annotation>", "invalid XML"),
    ],
)
def test_bad_cvat_images_name_file_and_place(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    root = _images_export(tmp_path, IMAGES_XML.replace(old, new, 1))
    with pytest.raises(InvalidInput) as err:
        cvat.read(root)
    assert message in str(err.value)


@st.composite
def cvat_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        regions = draw(st.lists(st.one_of(box_regions(w, h), polygons(w, h)), max_size=4))
        attrs = st.fixed_dictionaries(
            {"occluded": st.just(1), "parked": st.booleans(), "people": st.integers(0, 9)}
        )
        regions = [
            r.model_copy(update={"attributes": draw(attrs)}) if draw(st.booleans()) else r
            for r in regions
        ]
        rows.append(image_row(f"img_{i}.png", regions, (w, h), metadata={"split": "val"}))
    return rows


@settings(max_examples=20, deadline=None)
@given(cvat_rows())
def test_cvat_images_round_trip_is_exact(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cvat.write(bundle(rows, marking="SECRET"), Path(tmp))
        back = cvat.read(Path(tmp))
    for row, m in zip(rows, back.media, strict=True):
        assert m.marking == "SECRET" and m.metadata == {"split": "val"}
        got = [r for a in m.annotations for r in a.regions]
        # CVAT stores corners: w = xbr - xtl is exact up to one rounding of the subtraction.
        assert [_no_box(r) for r in got] == [_no_box(r) for r in row.regions]
        for g, r in zip(got, row.regions, strict=True):
            assert g.box == (None if r.box is None else pytest.approx(r.box, abs=1e-9))


def _no_box(r: Region) -> dict[str, Any]:
    return {k: v for k, v in r.content_key().items() if k != "box"}


VIDEO_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><id>5</id><name>river-patrol</name><size>8</size><mode>interpolation</mode>
    <labels><label><name>boat</name><attributes>
      <attribute><name>crew</name><mutable>True</mutable><input_type>number</input_type>
        <default_value>0</default_value><values>0\n9\n1</values></attribute>
    </attributes></label><label><name>person</name></label></labels>
    <original_size><width>64</width><height>48</height></original_size></task></meta>
  <track id="3" label="boat" source="manual">
    <box frame="0" xtl="0" ytl="0" xbr="10" ybr="10" outside="0" occluded="0" keyframe="1">
      <attribute name="crew">2</attribute></box>
    <box frame="4" xtl="8" ytl="4" xbr="18" ybr="14" outside="0" occluded="1" keyframe="1">
      <attribute name="crew">3</attribute></box>
    <box frame="6" xtl="8" ytl="4" xbr="18" ybr="14" outside="1" occluded="0" keyframe="1">
      <attribute name="crew">3</attribute></box>
  </track>
  <track id="7" label="person">
    <polygon frame="2" points="1,1;5,1;5,5" outside="0" occluded="0" keyframe="1"></polygon>
    <polyline frame="3" points="1,1;5,1" outside="0" occluded="0" keyframe="1"></polyline>
  </track>
</annotations>
"""


def _video_export(root: Path, frames: int = 8, xml: str = VIDEO_XML) -> Path:
    (root / "images").mkdir(parents=True)
    for i in range(frames):  # distinct bytes: the same bytes would be one item
        Image.new("RGB", (64, 48), (i * 20, 90, 160)).save(root / f"images/frame_{i:06d}.png")
    (root / "annotations.xml").write_text(xml)
    return root


def _by_frame(b: Any) -> dict[int, list[Region]]:
    return {m.metadata["frame"]: [r for a in m.annotations for r in a.regions] for m in b.media}


def test_reads_cvat_for_video_tracks_with_interpolation_and_outside(tmp_path: Path) -> None:
    b = cvat_video.read(_video_export(tmp_path))
    frames = _by_frame(b)
    assert [m.metadata for m in b.media][:2] == [
        {"sequence": "river-patrol", "frame": 0},
        {"sequence": "river-patrol", "frame": 1},
    ]
    boats = {f: [r for r in rs if r.label == "boat"] for f, rs in frames.items()}
    assert [len(boats[f]) for f in range(8)] == [1, 1, 1, 1, 1, 1, 0, 0]
    assert boats[2][0].box == (4, 2, 10, 10)  # halfway between the keyframes of frames 0 and 4
    assert boats[2][0].attributes == {"crew": 2, TRACK_ID: 3, KEYFRAME: False}
    assert boats[4][0].attributes == {"crew": 3, "occluded": 1, TRACK_ID: 3, KEYFRAME: True}
    people = [f for f, rs in frames.items() if any(r.label == "person" for r in rs)]
    assert people == [2, 3, 4, 5, 6, 7]  # no outside shape: in view to the end


def test_video_round_trip_keeps_every_frame(tmp_path: Path) -> None:
    first = cvat_video.read(_video_export(tmp_path / "in"))
    rows = [
        image_row(
            m.name, [r for a in m.annotations for r in a.regions], (64, 48), metadata=m.metadata
        )
        for m in first.media
    ]
    cvat_video.write(bundle(rows, labels=first.label_names), tmp_path / "out")
    again = cvat_video.read(tmp_path / "out")
    assert _by_frame(again) == _by_frame(first)
    text = (tmp_path / "out/annotations.xml").read_text()
    assert '<box frame="6"' in text and 'outside="1"' in text  # the boat leaves at frame 6


def test_lone_shapes_become_single_frame_tracks(tmp_path: Path) -> None:
    lone = Region(kind="box", label="debris", box=(1, 1, 5, 5))
    rows = [image_row(f"f{i}.png", [lone] if i == 1 else [], (32, 32)) for i in range(3)]
    cvat_video.write(bundle(rows), tmp_path)
    frames = _by_frame(cvat_video.read(tmp_path))
    assert [len(frames[f]) for f in range(3)] == [0, 1, 0]


def test_missing_frame_image_is_named(tmp_path: Path) -> None:
    root = _video_export(tmp_path, frames=5)
    with pytest.raises(
        InvalidInput, match=r"annotations.xml: meta/task/size: 8 frames, but no image frame_000005"
    ):
        cvat_video.read(root)


def test_each_cvat_flavour_points_to_the_other(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--format cvat-video"):
        cvat.read(_video_export(tmp_path / "v"))
    with pytest.raises(InvalidInput, match="--format cvat-images"):
        cvat_video.read(_images_export(tmp_path / "i"))


DEFS_XML = VIDEO_XML.replace(
    "<label><name>person</name></label>",
    """<label><name>person</name><attributes>
      <attribute><name>role</name><mutable>False</mutable><input_type>select</input_type>
        <default_value>civilian</default_value><values>civilian\nrescuer\nunknown</values></attribute>
      <attribute><name>waving</name><mutable>True</mutable><input_type>checkbox</input_type>
        <default_value>false</default_value><values>false</values></attribute>
      <attribute><name>team</name><mutable>True</mutable><input_type>radio</input_type>
        <default_value>b</default_value><values>a\nb</values></attribute>
      <attribute><name>note</name><mutable>True</mutable><input_type>text</input_type>
        <default_value></default_value><values></values></attribute>
    </attributes></label>""",
)


def test_attribute_definitions_round_trip_through_cvat_video(tmp_path: Path) -> None:
    first = cvat_video.read(_video_export(tmp_path / "in", xml=DEFS_XML))
    declared = first.dataset_meta["attributes"]
    assert declared["boat"] == [
        {"name": "crew", "type": "number", "default": 0.0, "min": 0.0, "max": 9.0, "step": 1.0,
         "mutable": True},
    ]  # fmt: skip
    assert declared["person"] == [
        {"name": "role", "type": "select", "values": ["civilian", "rescuer", "unknown"],
         "default": "civilian", "mutable": False},
        {"name": "waving", "type": "checkbox", "default": False, "mutable": True},
        {"name": "team", "type": "radio", "values": ["a", "b"], "default": "b", "mutable": True},
        {"name": "note", "type": "text", "mutable": True},
    ]  # fmt: skip
    rows = [
        image_row(
            m.name, [r for a in m.annotations for r in a.regions], (64, 48), metadata=m.metadata
        )
        for m in first.media
    ]
    out = tmp_path / "out"
    cvat_video.write(bundle(rows, labels=first.label_names, dataset_meta=first.dataset_meta), out)
    again = cvat_video.read(out)
    assert again.dataset_meta == first.dataset_meta  # declared but unused ones too
    assert _by_frame(again) == _by_frame(first)
    text = (out / "annotations.xml").read_text()
    # As CVAT writes them: mutable True/False, values one per line (number: min, max, step).
    assert (
        "<name>role</name>\n              <mutable>False</mutable>\n"
        "              <input_type>select</input_type>\n"
        "              <default_value>civilian</default_value>\n"
        "              <values>civilian\nrescuer\nunknown</values>"
    ) in text
    assert "<default_value>0</default_value>\n              <values>0\n9\n1</values>" in text


def test_a_bad_attribute_definition_is_named(tmp_path: Path) -> None:
    xml = DEFS_XML.replace("<values>civilian\nrescuer\nunknown</values>", "<values></values>")
    with pytest.raises(
        InvalidInput,
        match=r"^annotations.xml: meta labels/label\[1\] \(person\) attributes/attribute\[0\]: "
        r"Value error, a select attribute needs values to choose from",
    ):
        cvat_video.read(_video_export(tmp_path, xml=xml))


def test_a_number_without_min_or_max_is_written_with_the_range_of_its_values(
    tmp_path: Path,
) -> None:
    def point(label: str, **attributes: object) -> Region:
        return Region(
            kind="point", control="p", label=label, points=((1, 1),), attributes=attributes
        )

    # Definitions stored before schemas needed both bounds, and one that has them.
    meta = {
        "attributes": {
            "boat": [
                {"name": "crew", "type": "number", "step": 2},
                {"name": "depth", "type": "number", "min": 0.5},
                {"name": "speed", "type": "number", "max": 30},
                {"name": "wake", "type": "number", "min": 0, "max": 5},
            ],
            "person": [{"name": "age", "type": "number", "default": 40}],
        }
    }
    rows = [
        image_row("a.png", [point("boat", crew=3, speed=12), point("boat", crew=7)]),
        image_row("b.png", [point("person", height=1.5), point("person", height=1.9)]),
    ]
    b = bundle(rows, labels=["boat", "person"], dataset_meta=meta)
    cvat.write(b, tmp_path)
    text = (tmp_path / "annotations.xml").read_text()
    values = dict(
        re.findall(r"<name>(\w+)</name>\s*<mutable>.*?<values>(.*?)</values>", text, re.S)
    )
    assert values == {
        "crew": "3\n7\n2",  # the values exported, with the stated step
        "depth": "0.5\n0.6\n0.1",  # from the stated min, one step (its decimals') wide
        "speed": "12\n30\n1",
        "wake": "0\n5\n1",  # bounded already: as stated
        "age": "40\n41\n1",  # the default is the only value
        "height": "1.5\n1.9\n0.1",  # no definition: typed, bounded and stepped by its values
    }
    # The four stated definitions closed here are reported; the guessed one is not.
    assert b.dropped.to_dict() == {cvat_xml.OPEN_RANGE: 4}
    again = cvat.read(tmp_path).dataset_meta["attributes"]
    assert [(d["name"], d["min"], d["max"], d["step"]) for d in again["boat"]] == [
        ("crew", 3.0, 7.0, 2.0),
        ("depth", 0.5, 0.6, 0.1),
        ("speed", 12.0, 30.0, 1.0),
        ("wake", 0.0, 5.0, 1.0),
    ]


def _number_specs(text: str) -> dict[str, tuple[float, float, float]]:
    found = re.findall(
        r"<name>(\w+)</name>\s*<mutable>\w+</mutable>\s*<input_type>number</input_type>"
        r".*?<values>(.*?)</values>",
        text,
        re.S,
    )
    out = {}
    for name, text_values in found:
        low, high, step = (float(x) for x in text_values.split("\n"))
        out[name] = (low, high, step)
    return out


@pytest.mark.parametrize("codec", [cvat, cvat_video])
def test_a_number_without_a_step_gets_one_its_values_fit(tmp_path: Path, codec: Any) -> None:
    def boat(**attributes: object) -> Region:
        return Region(kind="box", label="boat", box=(1, 1, 4, 4), attributes=attributes)

    meta = {
        "attributes": {
            "boat": [
                {"name": "draft", "type": "number", "min": 0, "max": 2},  # no step
                {"name": "heading", "type": "number", "min": 0, "max": 359.5},
                {"name": "crew", "type": "number", "min": 0, "max": 9},
                {"name": "tonnage", "type": "number", "min": 0, "max": 2345678},
                {"name": "trim", "type": "number", "min": -1, "max": 1, "step": 0.5},
            ]
        }
    }
    values = [
        {"draft": 0.25, "heading": 12, "crew": 3, "tonnage": 1234567, "trim": 0.5, "gauge": 0.05},
        {"draft": 1.5, "heading": 270, "crew": 4, "tonnage": 2000, "trim": -1, "gauge": 0.125},
    ]
    rows = [
        image_row(f"f{k}.png", [boat(**v)], metadata={"sequence": "s", "frame": k})
        for k, v in enumerate(values)
    ]
    b = bundle(rows, labels=["boat"], dataset_meta=meta)
    codec.write(b, tmp_path)
    specs = _number_specs((tmp_path / "annotations.xml").read_text())
    assert specs == {
        "draft": (0, 2, 0.01),  # 0.25 has two decimals
        "heading": (0, 359.5, 0.1),  # the stated max has one
        "crew": (0, 9, 1),
        "tonnage": (0, 2345678, 1),  # written whole, not as 2.34568e+06
        "trim": (-1, 1, 0.5),  # a stated step stays
        "gauge": (0.05, 0.125, 0.001),  # no definition: from its values
    }
    for name, (low, high, step) in specs.items():  # what CVAT's label editor accepts
        assert low < high and 0 < step <= high - low
        for v in values:
            steps = (v[name] - low) / step
            assert low <= v[name] <= high and abs(steps - round(steps)) < 1e-9, (name, v)
    assert b.dropped.to_dict() == {}  # every definition had its bounds: nothing closed
    back = codec.read(tmp_path).dataset_meta["attributes"]["boat"]
    assert {d["name"]: d.get("step") for d in back} == {n: s[2] for n, s in specs.items()}
