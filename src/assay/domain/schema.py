"""Label schemas: the controls a labeling project asks for, read from YAML.

Example:
    >>> s = LabelSchema.from_yaml_text('''
    ... title: Flood damage
    ... controls:
    ...   - {name: damage, type: choices, labels: [none, minor, destroyed]}
    ... ''')
    >>> [(lab.name, lab.key) for lab in s.controls[0].labels]
    [('none', '1'), ('minor', '2'), ('destroyed', '3')]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from assay._yaml_errors import yaml_problem
from assay.domain._colours import is_colour
from assay.domain.attributes import AttributeDef, check_values, complete_track, without_unset
from assay.domain.labels import Region, RegionKind
from assay.domain.tracks import Track
from assay.errors import InvalidInput

ControlType = Literal[
    "boxes", "polygons", "points", "spans", "choices", "text", "ranking", "rating"
]

REGION_KIND: dict[str, RegionKind] = {
    "boxes": "box",
    "polygons": "polygon",
    "points": "point",
    "spans": "span",
    "choices": "choice",
    "text": "text",
    "ranking": "ranking",
    "rating": "rating",
}
_LABELLED = {"boxes", "polygons", "points", "spans", "choices"}
_IMAGE_ONLY = {"boxes", "polygons", "points"}


class LabelDef(BaseModel):
    """One label of a control, with its keyboard shortcut and display colour."""

    # The dump leaves out what was not set; the schema documents every field all the same.
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    name: str = Field(min_length=1)
    key: str | None = None
    color: str | None = None
    attributes: list[AttributeDef] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unset(self, handler, ("attributes",))

    @field_validator("color")
    @classmethod
    def _colour(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not is_colour(value):
            if info.context and info.context.get("stored"):
                return None  # a schema stored before colours were checked: the UI picks one
            raise ValueError(
                f"{value!r} is not a colour: use hex (#e6194b) or a CSS colour name (teal)"
            )
        return value


class Control(BaseModel):
    """One named control; regions it produces carry `control = name`."""

    # The dump leaves out what was not set; the schema documents every field all the same.
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    name: str = Field(min_length=1)
    type: ControlType
    labels: list[LabelDef] = Field(default_factory=list)
    multiple: bool = False
    required: bool = False
    candidates_field: str | None = None
    max: int = 5
    attributes: list[AttributeDef] = Field(
        default_factory=list, description="shape attributes every label of the control has"
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unset(self, handler, ("attributes",))

    @field_validator("labels", mode="before")
    @classmethod
    def _plain_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @property
    def kind(self) -> RegionKind:
        return REGION_KIND[self.type]

    def attributes_for(self, label: str | None) -> list[AttributeDef]:
        """The attributes a shape of `label` has: the control's, then the label's own."""
        own = next((lab.attributes for lab in self.labels if lab.name == label), [])
        return [*self.attributes, *own]


class LabelSchema(BaseModel):
    """The controls of a project. Plain label names get keys 1..9 in order where free."""

    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    title: str = ""
    controls: list[Control] = Field(min_length=1)

    @classmethod
    def from_stored(cls, text: str) -> LabelSchema:
        """A schema as the workspace stored it; a colour it could not have today is dropped."""
        return cls.model_validate_json(text, context={"stored": True})

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "<schema>") -> LabelSchema:
        """Parse and check a schema; any problem is one `InvalidInput` naming source and field."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source}: not valid YAML ({yaml_problem(exc)})") from None
        except RecursionError:
            raise InvalidInput(f"{source}: YAML nested too deep to read") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{source}: expected a mapping with 'title' and 'controls'")
        try:
            schema = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = _field_path(data, err["loc"])
            raise InvalidInput(f"{source}: field {field}: {err['msg']}") from None
        schema._check(source)
        return schema

    @classmethod
    def load(cls, path: str | Path) -> LabelSchema:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{p}: cannot read the schema file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{p}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8"
            ) from None
        return cls.from_yaml_text(text, str(p))

    def _check(self, source: str) -> None:
        names: set[str] = set()
        used_keys: set[str] = set()
        for i, c in enumerate(self.controls):
            where = f"{source}: field controls[{i}] ({c.name})"
            if c.name in names:
                raise InvalidInput(f"{where}: control name {c.name!r} is used twice")
            names.add(c.name)
            if c.type in _LABELLED and not c.labels:
                raise InvalidInput(f"{where}: a {c.type} control needs at least one label")
            if c.type not in _LABELLED and c.labels:
                raise InvalidInput(f"{where}: a {c.type} control takes no labels")
            if c.type == "ranking" and not c.candidates_field:
                raise InvalidInput(f"{where}: a ranking control needs candidates_field")
            if c.type == "rating" and not 1 <= c.max <= 100:
                raise InvalidInput(f"{where}: rating max must be 1..100, got {c.max}")
            if c.type not in _IMAGE_ONLY and (c.attributes or any(x.attributes for x in c.labels)):
                raise InvalidInput(
                    f"{where}: a {c.type} control takes no attributes (boxes, polygons and "
                    "points do)"
                )
            for path, a in _declared(c):
                if a.type == "number" and (a.min is None or a.max is None):
                    raise InvalidInput(
                        f"{where}{path} ({a.name}): a number attribute needs both min and max "
                        "(CVAT keeps a number's range as min, max and step; step defaults to 1)"
                    )
            seen = set()
            for lab in c.labels:
                if lab.name in seen:
                    raise InvalidInput(f"{where}: label {lab.name!r} appears twice")
                seen.add(lab.name)
                declared = [a.name for a in c.attributes_for(lab.name)]
                twice = next((n for n in declared if declared.count(n) > 1), None)
                if twice is not None:
                    raise InvalidInput(
                        f"{where}: attribute {twice!r} of label {lab.name!r} is declared twice"
                    )
                if lab.key is not None:
                    if lab.key in used_keys:
                        raise InvalidInput(f"{where}: shortcut key {lab.key!r} is used twice")
                    used_keys.add(lab.key)
        # Plain labels get the first free digit (then letters) as their shortcut.
        free = [k for k in "123456789qwertyuiop" if k not in used_keys]
        for c in self.controls:
            for lab in c.labels:
                if lab.key is None and free:
                    lab.key = free.pop(0)

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)

    def first_choices(self) -> Control | None:
        """The first single-answer `choices` control: the one adaptive overlap decides on."""
        return next((c for c in self.controls if c.type == "choices" and not c.multiple), None)

    def check_regions(self, regions: list[Region]) -> None:
        """Raise `InvalidInput` unless every region fits a control of this schema."""
        for i, r in enumerate(regions):
            c = self.control(r.control)
            where = f"regions[{i}]"
            if c is None:
                known = ", ".join(x.name for x in self.controls)
                raise InvalidInput(f"{where}: unknown control {r.control!r} (controls: {known})")
            if r.kind != c.kind:
                raise InvalidInput(f"{where}: control {c.name!r} makes {c.kind!r} regions")
            if c.type in _LABELLED and r.label not in {lab.name for lab in c.labels}:
                raise InvalidInput(f"{where}: {r.label!r} is not a label of control {c.name!r}")
            _check_geometry(where, c, r)
            check_values(c.attributes_for(r.label), r.attributes, f"{where} ({r.label})")
        for c in self.controls:
            n = sum(1 for r in regions if r.control == c.name)
            if c.type in ("choices", "rating", "text", "ranking") and n > 1 and not c.multiple:
                raise InvalidInput(f"control {c.name!r} takes one answer, got {n}")

    def attributes(self) -> dict[str, list[AttributeDef]]:
        """Label -> its declared shape attributes, over every shape control (first wins)."""
        out: dict[str, list[AttributeDef]] = {}
        for c in self.controls:
            for lab in c.labels:
                defs = c.attributes_for(lab.name)
                if defs:
                    out.setdefault(lab.name, defs)
        return out

    def complete_tracks(self, tracks: list[Track]) -> list[Track]:
        """Tracks with every declared attribute stated on each shape (see
        `assay.domain.attributes.complete_track`); raises `InvalidInput` naming the track."""
        out = []
        for i, t in enumerate(tracks):
            shape = next((s for s in t.shapes if not s.outside), None)
            c = self.control(shape.region.control) if shape is not None else None
            defs = c.attributes_for(t.label) if c is not None else []
            out.append(complete_track(t, defs, f"tracks[{i}] (#{t.id} {t.label})"))
        return out

    def with_attributes(self, declared: dict[str, list[AttributeDef]]) -> LabelSchema:
        """This schema with `declared` attributes (label -> definitions, as a dataset imported
        from CVAT carries them) added to the labels of its shape controls that lack them."""
        out = self.model_copy(deep=True)
        for c in out.controls:
            if c.type not in _IMAGE_ONLY:
                continue
            for lab in c.labels:
                have = {a.name for a in c.attributes_for(lab.name)}
                for a in declared.get(lab.name, []):
                    if a.name not in have:  # the schema's own definition wins
                        lab.attributes.append(a)
                        have.add(a.name)
        return out

    def missing_answers(self, regions: list[Region], media_type: str | None = None) -> list[str]:
        """The `required` controls `regions` leave unanswered (blank text counts as none).

        With `media_type`, controls that cannot apply are not required: image shapes on a
        text item, text spans on an image (the label page does not show them).
        """
        answered = {
            r.control for r in regions if not (r.kind == "text" and not (r.text or "").strip())
        }
        is_text = media_type is not None and media_type.startswith("text/")
        return [
            c.name
            for c in self.controls
            if c.required
            and c.name not in answered
            and not (media_type is not None and c.type in _IMAGE_ONLY and is_text)
            and not (media_type is not None and c.type == "spans" and not is_text)
        ]

    @property
    def has_required(self) -> bool:
        return any(c.required for c in self.controls)

    def check_complete(self, regions: list[Region], media_type: str | None = None) -> None:
        """Raise `InvalidInput` naming every required control that has no answer.

        Example:
            >>> s = LabelSchema.from_yaml_text('''
            ... controls:
            ...   - {name: damage, type: choices, labels: [none, minor], required: true}
            ... ''')
            >>> s.check_complete([])
            Traceback (most recent call last):
            ...
            assay.errors.InvalidInput: incomplete answer: damage is required
        """
        missing = self.missing_answers(regions, media_type)
        if missing:
            names = ", ".join(missing)
            verb = "is" if len(missing) == 1 else "are"
            raise InvalidInput(f"incomplete answer: {names} {verb} required")


def _check_geometry(where: str, c: Control, r: Region) -> None:
    if c.type == "boxes" and (r.box is None or r.box[2] <= 0 or r.box[3] <= 0):
        raise InvalidInput(f"{where}: a box needs box=[x, y, w, h] with w, h > 0")
    if c.type == "polygons" and (r.points is None or len(r.points) < 3):
        raise InvalidInput(f"{where}: a polygon needs at least 3 points")
    if c.type == "points" and (r.points is None or len(r.points) != 1):
        raise InvalidInput(f"{where}: a point needs points=[[x, y]]")
    if c.type == "spans" and (r.span is None or r.span[0] < 0 or r.span[1] <= r.span[0]):
        raise InvalidInput(f"{where}: a span needs span=[start, end) with end > start >= 0")
    if c.type == "text" and r.text is None:
        raise InvalidInput(f"{where}: a text answer needs text")
    if c.type == "rating" and (r.value is None or not 0 <= r.value <= c.max):
        raise InvalidInput(f"{where}: a rating needs value in 0..{c.max}")
    if c.type == "ranking" and not r.ranking:
        raise InvalidInput(f"{where}: a ranking needs ranking=[candidate index, ...]")


def _declared(c: Control) -> list[tuple[str, AttributeDef]]:
    """Each attribute definition of a control with its field path below the control."""
    out = [(f".attributes[{j}]", a) for j, a in enumerate(c.attributes)]
    for k, lab in enumerate(c.labels):
        out += [
            (f".labels[{k}] ({lab.name}).attributes[{j}]", a) for j, a in enumerate(lab.attributes)
        ]
    return out


def _field_path(data: Any, loc: tuple[int | str, ...]) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(node, dict) and "name" in node and isinstance(part, int):
            out += f" ({node['name']})"
    return out or "(top level)"
