"""Attribute definitions: what a schema says a shape's attributes may hold, as CVAT's label
attributes do (name, input type, values, default, mutable).

A definition sits on a shape control (every label of it) or on one label. A `mutable`
attribute may change along a track, from a keyframe on; an immutable one holds one value for
the whole track. A value a region does not state takes the definition's default (on a track:
the value in force at the previous keyframe). Attributes with no definition stay free
key/value pairs, as before schemas declared any.

Example:
    >>> moving = AttributeDef(name="moving", type="checkbox")
    >>> moving.initial, moving.problem(True), moving.problem("yes")
    (False, None, "'yes' is not true or false")
    >>> colour = AttributeDef(name="colour", type="select", values=["red", "blue"], mutable=False)
    >>> colour.initial, colour.problem("pink")
    ('red', "'pink' is not one of red, blue")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from assay.domain.tracks import KEYFRAME, TRACK_ID, Track, TrackShape
from assay.errors import InvalidInput

__all__ = [
    "META_KEY",
    "AttributeDef",
    "InputType",
    "check_values",
    "complete_track",
    "defs_from_json",
    "defs_to_json",
    "without_unset",
]

InputType = Literal["checkbox", "select", "radio", "number", "text"]
_CHOICE = ("select", "radio")
# Where a dataset keeps its labels' attribute definitions (an import from CVAT, a project's
# schema on pull): the `dataset_meta` key, as ``{label: [definition, ...]}``.
META_KEY = "attributes"


def without_unset(
    model: BaseModel, handler: SerializerFunctionWrapHandler, fields: tuple[str, ...]
) -> dict[str, Any]:
    """The model's dump without `fields` left empty: a schema stored before attributes existed
    keeps its bytes, and a definition says only what its author said."""
    out: dict[str, Any] = handler(model)
    for name in fields:
        if out.get(name) in (None, []):
            out.pop(name, None)
    return out


class AttributeDef(BaseModel):
    """One declared attribute of a shape (CVAT: ``<attribute>`` of a ``<label>``)."""

    # The dump leaves out what was not set; the schema documents every field all the same.
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    name: str = Field(min_length=1)
    type: InputType = "text"
    values: list[str] = Field(default_factory=list, description="select / radio: the choices")
    default: bool | float | str | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    mutable: bool = True

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unset(self, handler, ("values", "default", "min", "max", "step"))

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("values"), list):
            data = {**data, "values": [_text(v) for v in data["values"]]}
            if data.get("default") is not None and data.get("type") in _CHOICE:
                data["default"] = _text(data["default"])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AttributeDef:
        if self.name in (TRACK_ID, KEYFRAME):
            raise ValueError(f"{self.name!r} is kept for tracks; pick another attribute name")
        if self.type in _CHOICE:
            if not self.values:
                raise ValueError(f"a {self.type} attribute needs values to choose from")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values: a value appears twice")
        elif self.values:
            raise ValueError(f"a {self.type} attribute takes no values")
        if self.type != "number" and (self.min, self.max, self.step) != (None, None, None):
            raise ValueError(f"min, max and step are for number attributes, not {self.type}")
        if self.type == "number":
            if self.min is not None and self.max is not None and self.min >= self.max:
                raise ValueError(f"min {self.min:g} must be below max {self.max:g}")
            if self.step is not None and not self.step > 0:
                raise ValueError(f"step must be above 0, got {self.step:g}")
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"default: {problem}")
        return self

    @property
    def initial(self) -> bool | float | str | None:
        """The value a shape has when nobody set it."""
        if self.default is not None:
            return self.default
        if self.type == "checkbox":
            return False
        if self.type in _CHOICE:
            return self.values[0]
        if self.type == "number":
            return self.min
        return ""

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed here, or None when it is."""
        if self.type == "checkbox":
            # CVAT's occluded flag reads back as 0/1: the same two states.
            if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
                return None
            return f"{value!r} is not true or false"
        if self.type in _CHOICE:
            if isinstance(value, str) and value in self.values:
                return None
            return f"{value!r} is not one of {', '.join(self.values)}"
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{value!r} is not a number"
            if not math.isfinite(value):
                return f"{value!r} is not a finite number"
            if self.min is not None and value < self.min:
                return f"{value:g} is below the minimum {self.min:g}"
            if self.max is not None and value > self.max:
                return f"{value:g} is above the maximum {self.max:g}"
            return None
        return None if isinstance(value, str) else f"{value!r} is not text"


def check_values(defs: Sequence[AttributeDef], attributes: dict[str, Any], where: str) -> None:
    """Raise `InvalidInput` naming the first declared attribute whose value is not allowed."""
    for d in defs:
        if d.name in attributes:
            problem = d.problem(attributes[d.name])
            if problem:
                raise InvalidInput(f"{where}: attribute {d.name!r}: {problem}")


def complete_track(track: Track, defs: Sequence[AttributeDef], where: str) -> Track:
    """The track with every declared attribute stated on each visible shape.

    A mutable attribute a keyframe leaves out keeps the value in force before it (the default
    on the first shape); an immutable one holds its first value, and a shape stating another
    value is refused. Undeclared attributes stay as they are.

    Raises:
        InvalidInput: naming the track, frame and attribute.
    """
    if not defs:
        return track
    visible = [s for s in track.shapes if not s.outside]
    current: dict[str, Any] = {d.name: d.initial for d in defs if d.mutable}
    for s in visible:
        check_values(defs, s.region.attributes, f"{where} frame {s.frame}")
    for d in defs:
        if d.mutable:
            continue
        stated = [
            (s.frame, s.region.attributes[d.name]) for s in visible if d.name in s.region.attributes
        ]
        current[d.name] = stated[0][1] if stated else d.initial
        for frame, value in stated[1:]:
            if value != stated[0][1]:
                raise InvalidInput(
                    f"{where} frame {frame}: attribute {d.name!r} is fixed for the whole track "
                    f"(mutable: false) but is {stated[0][1]!r} on frame {stated[0][0]} and "
                    f"{value!r} here"
                )
    shapes: list[TrackShape] = []
    for s in track.shapes:
        if s.outside:
            shapes.append(s)
            continue
        attrs = s.region.attributes
        current.update((d.name, attrs[d.name]) for d in defs if d.mutable and d.name in attrs)
        # A number with neither default nor minimum has no value until someone gives one.
        held = {k: v for k, v in current.items() if v is not None}
        region = s.region.model_copy(update={"attributes": {**attrs, **held}})
        shapes.append(TrackShape(s.frame, region, keyframe=s.keyframe, outside=False))
    return Track(track.id, track.label, tuple(shapes), track.interpolation)


def defs_to_json(defs: dict[str, list[AttributeDef]]) -> dict[str, list[dict[str, Any]]]:
    """``{label: [definition as JSON, ...]}``, labels without definitions left out."""
    return {k: [d.model_dump(mode="json") for d in ds] for k, ds in defs.items() if ds}


def defs_from_json(raw: dict[str, list[dict[str, Any]]] | None) -> dict[str, list[AttributeDef]]:
    return {k: [AttributeDef.model_validate(d) for d in ds] for k, ds in (raw or {}).items()}


def _text(value: Any) -> Any:
    """A select value as text: YAML reads ``[1, 2]`` as numbers, CVAT stores text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return value
