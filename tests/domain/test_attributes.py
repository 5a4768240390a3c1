"""Declared shape attributes in a label schema: definitions checked when the schema is read,
values checked when regions are, and tracks completed keyframe by keyframe."""

from __future__ import annotations

import json

import pytest

from assay.domain.attributes import AttributeDef, complete_track
from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.domain.tracks import Track, TrackShape
from assay.errors import InvalidInput

SCHEMA = """
controls:
  - name: objects
    type: boxes
    attributes:
      - {name: moving, type: checkbox}
      - {name: speed, type: number, min: 0, max: 40, step: 0.5}
    labels:
      - name: vehicle
        attributes:
          - {name: colour, type: select, values: [grey, red, 7], mutable: false}
          - {name: lane, type: radio, values: [left, right], default: right}
      - boat
"""


def schema() -> LabelSchema:
    return LabelSchema.from_yaml_text(SCHEMA, "s.yaml")


def box(**attributes: object) -> Region:
    return Region(
        kind="box", control="objects", label="vehicle", box=(1, 1, 4, 4), attributes=attributes
    )


def test_definitions_are_read_with_their_defaults_and_dump_as_written() -> None:
    s = schema()
    names = {
        label: [(d.name, d.type, d.initial) for d in defs] for label, defs in s.attributes().items()
    }
    assert names == {
        "vehicle": [
            ("moving", "checkbox", False),
            ("speed", "number", 0.0),
            ("colour", "select", "grey"),
            ("lane", "radio", "right"),
        ],
        "boat": [("moving", "checkbox", False), ("speed", "number", 0.0)],
    }
    assert s.attributes()["vehicle"][2].values == ["grey", "red", "7"]  # choices are text
    dumped = s.model_dump(mode="json")
    assert dumped["controls"][0]["attributes"][0] == {
        "name": "moving",
        "type": "checkbox",
        "mutable": True,
    }
    assert LabelSchema.model_validate(dumped) == s
    plain = LabelSchema.from_yaml_text("controls: [{name: l, type: boxes, labels: [a]}]")
    assert "attributes" not in plain.model_dump(mode="json")["controls"][0]  # stored bytes kept
    assert "attributes" not in plain.model_dump(mode="json")["controls"][0]["labels"][0]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            "[{name: c, type: select}]",
            r"\.attributes\[0\] \(c\): .*needs values",
        ),
        (
            "[{name: c, type: select, values: [a, b], default: z}]",
            r"\.attributes\[0\] \(c\): .*default: 'z' is not one of a, b",
        ),
        (
            "[{name: n, type: number, min: 5, max: 1}]",
            r"\.attributes\[0\] \(n\): .*min 5 must be below max 1",
        ),
        (
            "[{name: t, type: text, values: [a]}]",
            r"\.attributes\[0\] \(t\): .*a text attribute takes no values",
        ),
        (
            "[{name: b, type: checkbox, default: maybe}]",
            r"\.attributes\[0\] \(b\): .*default: 'maybe' is not true or false",
        ),
        (
            "[{name: n, type: number}]",
            r"\.attributes\[0\] \(n\): a number attribute needs both min and max \(CVAT keeps "
            r"a number's range as min, max and step; step defaults to 1\)$",
        ),
        ("[{name: n, type: number, min: 0}]", r"\.attributes\[0\] \(n\): .* needs both min"),
        ("[{name: x}, {name: n, type: number, max: 9}]", r"\.attributes\[1\] \(n\): .*min and max"),
        ("[{name: track_id}]", r"\.attributes\[0\] \(track_id\): .*'track_id' is kept for tracks"),
        ("[{name: x, type: slider}]", r"\.attributes\[0\] \(x\)\.type: Input should be 'checkbox'"),
        (
            "[{name: x}, {name: x}]",
            r": attribute 'x' of label 'a' is declared twice",
        ),
    ],
)
def test_a_bad_definition_is_one_error_naming_the_field(attributes: str, message: str) -> None:
    text = f"controls: [{{name: l, type: boxes, labels: [a], attributes: {attributes}}}]"
    with pytest.raises(InvalidInput, match=r"^s\.yaml: field controls\[0\] \(l\)" + message):
        LabelSchema.from_yaml_text(text, "s.yaml")


def test_a_labels_number_without_a_bound_is_named_but_a_stored_one_still_loads() -> None:
    text = """
controls:
  - name: l
    type: points
    labels:
      - a
      - name: b
        attributes: [{name: x, type: checkbox}, {name: depth, type: number, min: 0, step: 0.5}]
"""
    with pytest.raises(
        InvalidInput,
        match=r"^s\.yaml: field controls\[0\] \(l\)\.labels\[1\] \(b\)\.attributes\[1\] "
        r"\(depth\): a number attribute needs both min and max",
    ):
        LabelSchema.from_yaml_text(text, "s.yaml")
    # A schema a workspace stored before the rule keeps working (its export closes the range).
    stored = schema().model_dump(mode="json")
    del stored["controls"][0]["attributes"][1]["max"]
    speed = LabelSchema.from_stored(json.dumps(stored)).attributes()["boat"][1]
    assert (speed.name, speed.min, speed.max) == ("speed", 0.0, None)


def test_only_shape_controls_take_attributes() -> None:
    text = "controls: [{name: d, type: choices, labels: [a], attributes: [{name: x}]}]"
    with pytest.raises(
        InvalidInput, match=r"controls\[0\] \(d\): a choices control takes no attributes"
    ):
        LabelSchema.from_yaml_text(text, "s.yaml")


def test_regions_with_values_the_schema_does_not_allow_are_refused() -> None:
    s = schema()
    s.check_regions([box(moving=True, speed=12.5, colour="red", lane="left", note="free text")])
    s.check_regions([box()])  # unstated values take their defaults
    for attrs, message in [
        ({"colour": "pink"}, "attribute 'colour': 'pink' is not one of grey, red, 7"),
        ({"moving": "yes"}, "attribute 'moving': 'yes' is not true or false"),
        ({"speed": 41}, "attribute 'speed': 41 is above the maximum 40"),
        ({"speed": "fast"}, "attribute 'speed': 'fast' is not a number"),
        ({"lane": "middle"}, "attribute 'lane': 'middle' is not one of left, right"),
    ]:
        with pytest.raises(InvalidInput, match=r"^regions\[1\] \(vehicle\): " + message + "$"):
            s.check_regions([box(), box(**attrs)])


def shape(frame: int, outside: bool = False, **attributes: object) -> TrackShape:
    return TrackShape(frame, box(**attributes), outside=outside)


def test_a_track_states_every_declared_attribute_on_each_keyframe() -> None:
    defs = schema().attributes()["vehicle"]
    track = Track(
        1,
        "vehicle",
        (
            shape(0, colour="red"),
            shape(3, moving=True),
            shape(5, speed=3),
            shape(6, outside=True),
            shape(8),
        ),
    )
    done = complete_track(track, defs, "tracks[0]")
    got = [(s.frame, s.outside, dict(s.region.attributes)) for s in done.shapes]
    held = {"moving": True, "speed": 3, "colour": "red", "lane": "right"}
    assert got == [
        (0, False, {"moving": False, "speed": 0.0, "colour": "red", "lane": "right"}),
        (3, False, {"moving": True, "speed": 0.0, "colour": "red", "lane": "right"}),
        (5, False, held),
        (6, True, {}),
        (8, False, held),  # back in view: the values in force before it left
    ]
    # Expanded per frame, frame 4 carries the values of the keyframe on frame 3.
    assert done.at(4) is not None and done.at(4).attributes["moving"] is True  # type: ignore[union-attr]
    assert done.at(2) is not None and done.at(2).attributes["moving"] is False  # type: ignore[union-attr]


def test_a_fixed_attribute_may_not_change_along_a_track() -> None:
    defs = schema().attributes()["vehicle"]
    track = Track(4, "vehicle", (shape(0, colour="red"), shape(2), shape(5, colour="grey")))
    with pytest.raises(
        InvalidInput,
        match=r"^tracks\[0\] frame 5: attribute 'colour' is fixed for the whole track "
        r"\(mutable: false\) but is 'red' on frame 0 and 'grey' here$",
    ):
        complete_track(track, defs, "tracks[0]")
    with pytest.raises(InvalidInput, match=r"^tracks\[0\] frame 2: attribute 'speed': -1 is below"):
        complete_track(Track(4, "vehicle", (shape(0), shape(2, speed=-1))), defs, "tracks[0]")


def test_a_checkbox_takes_cvats_occluded_flag() -> None:
    occluded = AttributeDef(name="occluded", type="checkbox")
    assert [occluded.problem(v) for v in (True, False, 0, 1)] == [None] * 4
    assert occluded.problem(2) == "2 is not true or false"


def test_a_number_without_default_or_minimum_stays_unstated_until_given() -> None:
    count = AttributeDef(name="count", type="number")
    track = Track(1, "vehicle", (shape(0), shape(2, count=4), shape(3)))
    done = complete_track(track, [count], "tracks[0]")
    assert [dict(s.region.attributes) for s in done.shapes] == [{}, {"count": 4}, {"count": 4}]


def test_a_datasets_definitions_fill_in_what_the_schema_does_not_declare() -> None:
    declared = {
        "vehicle": [
            AttributeDef(name="colour", type="text"),  # the schema's select wins
            AttributeDef(name="doors", type="number", min=0, max=6),
            AttributeDef(name="doors", type="text"),  # a file naming one twice: the first
        ],
        "tree": [AttributeDef(name="height", type="number")],  # no such label: nothing
    }
    s = schema()
    got = s.with_attributes(declared).attributes()
    assert [(d.name, d.type) for d in got["vehicle"]] == [
        ("moving", "checkbox"),
        ("speed", "number"),
        ("colour", "select"),
        ("lane", "radio"),
        ("doors", "number"),
    ]
    assert "tree" not in got
    assert len(s.attributes()["vehicle"]) == 4  # a copy: the schema itself is unchanged
