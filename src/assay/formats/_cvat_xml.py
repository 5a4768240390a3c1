"""What CVAT for images and CVAT for video 1.1 share: shapes, attributes, labels, meta.

The format is CVAT's "XML annotation format", version 1.1 (docs.cvat.ai, "XML annotation
format"). Shapes map to regions as follows:

- ``<box xtl ytl xbr ybr>`` -> a box ``(xtl, ytl, xbr - xtl, ybr - ytl)``; a ``rotation``
  other than 0 is kept as the attribute ``rotation`` (degrees, clockwise about the centre);
- ``<polygon points="x0,y0;x1,y1;...">`` -> a polygon; ``<points>`` -> a point region;
- ``<tag label>`` (images only) -> a whole-image choice;
- ``occluded="1"`` -> attribute ``occluded: 1``; ``z_order`` other than 0 -> ``z_order``;
  ``source`` other than ``manual`` -> ``source``; each ``<attribute name>`` -> an attribute,
  typed by the label's declared ``input_type`` (``number`` -> a number, ``checkbox`` -> a
  boolean, else text).

The labels' attribute definitions in ``<meta>`` (``name``, ``mutable``, ``input_type``,
``default_value``, ``values`` one per line; a number's are min, max and step) are read into
the dataset's meta (`assay.domain.attributes.META_KEY`) and written back on export, with a
definition typed by its values for any other attribute the regions carry. ``occluded``,
``z_order``, ``source`` and ``rotation`` are CVAT's shape fields, never written as definitions.
CVAT needs a number's min, max and step (its label editor: min < max, 0 < step <= max - min):
a number without min or max is written with the range of the values the export carries (its
default and the bound it states included), and one without a step with the finest decimal
step of its bounds and those values (0.1 for 1.5 and 1.9; 1 for whole numbers). A definition
whose range is so closed (a schema stored before schemas required both, a CVAT file that left
its values empty) is logged and counted under `OPEN_RANGE`; a number no definition names is
typed and bounded by its values alike, as a guess.

``<polyline>``, ``<mask>``, ``<ellipse>``, ``<cuboid>`` and ``<skeleton>`` have no region kind in
assay: a reader counts them as dropped. The highest marking of an export is written as the
comment ``<!-- marking: LEVEL -->`` before the root element (CVAT ignores comments).
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.domain.attributes import META_KEY, AttributeDef, defs_from_json, defs_to_json
from assay.domain.labels import Region
from assay.formats import _validate as v
from assay.formats._model import Drops

logger = logging.getLogger(__name__)
SHAPES = ("box", "polygon", "points")
UNSUPPORTED = ("polyline", "mask", "ellipse", "cuboid", "skeleton")
RESERVED = ("occluded", "z_order", "source", "rotation")
_MARKING = re.compile(r"<!--\s*marking:\s*(.+?)\s*-->")
# What an export counts when it closes a number's open range (see the module docstring).
OPEN_RANGE = "number attributes without min or max (range taken from the values exported)"


def parse(file: Path, f: str) -> tuple[ET.Element, str | None]:
    """The root element of a CVAT XML file and the marking its comment states, if any."""
    text = v.read_text(file, f)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        v.fail(f"{f} line {line} column {col + 1}", "", f"invalid XML: {exc.msg}")
    if root.tag != "annotations":
        v.fail(f, root.tag, "expected CVAT's <annotations> root element")
    found = _MARKING.search(text[: text.find("<annotations")])
    return root, found.group(1) if found else None


def attribute_types(root: ET.Element) -> dict[tuple[str, str], str]:
    """(label, attribute) -> input_type, from ``meta/task/labels`` or ``meta/project/labels``."""
    types: dict[tuple[str, str], str] = {}
    for label in root.iterfind("meta/*/labels/label"):
        name = (label.findtext("name") or "").strip()
        for attr in label.iterfind("attributes/attribute"):
            types[(name, (attr.findtext("name") or "").strip())] = (
                attr.findtext("input_type") or "text"
            ).strip()
    return types


def attribute_defs(root: ET.Element, f: str) -> dict[str, list[AttributeDef]]:
    """Label -> its declared attributes (name, input type, values, default, mutable).

    ``values`` are one per line: the choices of a select or radio, ``min``, ``max`` and
    ``step`` of a number; the default of a checkbox is ``true`` or ``false``.
    """
    out: dict[str, list[AttributeDef]] = {}
    for i, label in enumerate(root.iterfind("meta/*/labels/label")):
        name = (label.findtext("name") or "").strip()
        for j, attr in enumerate(label.iterfind("attributes/attribute")):
            place = f"meta labels/label[{i}] ({name}) attributes/attribute[{j}]"
            out.setdefault(name, []).append(_attribute_def(attr, f, place))
    return {k: defs for k, defs in out.items() if defs}


def dataset_meta(root: ET.Element, f: str) -> dict[str, Any]:
    """What an import keeps for the dataset: the labels' attribute definitions, if any."""
    defs = attribute_defs(root, f)
    return {META_KEY: defs_to_json(defs)} if defs else {}


def _attribute_def(el: ET.Element, f: str, place: str) -> AttributeDef:
    kind = (el.findtext("input_type") or "text").strip()
    lines = [x.strip() for x in (el.findtext("values") or "").splitlines() if x.strip()]
    default = (el.findtext("default_value") or "").strip()
    spec: dict[str, Any] = {
        "name": (el.findtext("name") or "").strip(),
        "type": kind,
        "mutable": (el.findtext("mutable") or "True").strip().lower() in ("true", "1"),
    }
    if kind == "checkbox":
        spec["default"] = default.lower() == "true"
    elif kind in ("select", "radio"):
        spec["values"] = lines
        spec["default"] = default or None
    elif kind == "number":
        try:
            bounds = [float(x) for x in lines]
            spec["default"] = float(default) if default else None
        except ValueError:
            v.fail(f, place, f"number values and default must be numbers, got {lines} {default!r}")
        if len(bounds) == 3:
            spec.update(min=bounds[0], max=bounds[1], step=bounds[2])
        elif bounds:
            v.fail(f, f"{place}.values", f"a number needs min, max and step, got {lines}")
    else:
        spec["default"] = default or None
    try:
        return AttributeDef.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        v.fail(f, f"{place}{'.' + field if field else ''}", err["msg"])


def label_names(root: ET.Element) -> list[str]:
    return [
        n
        for n in (
            (lb.findtext("name") or "").strip() for lb in root.iterfind("meta/*/labels/label")
        )
        if n
    ]


def region(
    el: ET.Element, label: str, types: dict[tuple[str, str], str], f: str, place: str
) -> Region:
    """The region of one ``<box>``, ``<polygon>`` or ``<points>`` element."""
    attrs: dict[str, Any] = {}
    if flag(el, "occluded", f, place):
        attrs["occluded"] = 1
    z = el.get("z_order")
    if z not in (None, "", "0"):
        attrs["z_order"] = int(number(el, "z_order", f, place))
    source = el.get("source")
    if source not in (None, "", "manual"):
        attrs["source"] = source
    for a in el.iterfind("attribute"):
        name = a.get("name") or v.fail(f, place, "<attribute> without a name")
        attrs[name] = _typed(a.text or "", types.get((label, name), "text"))
    if el.tag == "box":
        xtl, ytl, xbr, ybr = (number(el, k, f, place) for k in ("xtl", "ytl", "xbr", "ybr"))
        if xbr < xtl or ybr < ytl:
            v.fail(f, place, f"xbr/ybr ({xbr:g}, {ybr:g}) below xtl/ytl ({xtl:g}, {ytl:g})")
        rotation = float(el.get("rotation") or 0)
        if rotation:
            attrs["rotation"] = rotation
        return Region(
            kind="box", label=label, box=(xtl, ytl, xbr - xtl, ybr - ytl), attributes=attrs
        )
    pts = _points(el.get("points") or "", f, place)
    if el.tag == "polygon":
        if len(pts) < 3:
            v.fail(f, place, f"a polygon needs at least 3 points, got {len(pts)}")
        return Region(kind="polygon", label=label, points=pts, attributes=attrs)
    return Region(kind="point", control="keypoints", label=label, points=pts, attributes=attrs)


def tag_region(
    el: ET.Element, label: str, types: dict[tuple[str, str], str], f: str, place: str
) -> Region:
    """A ``<tag>``: a whole-image choice with its attributes."""
    attrs: dict[str, Any] = {}
    for a in el.iterfind("attribute"):
        name = a.get("name") or v.fail(f, place, "<attribute> without a name")
        attrs[name] = _typed(a.text or "", types.get((label, name), "text"))
    return Region(kind="choice", control="tag", label=label, attributes=attrs)


def shape(parent: ET.Element, r: Region, extra: dict[str, str]) -> ET.Element | None:
    """Append the element for `r` (None when CVAT has no shape for its kind)."""
    a = r.attributes
    common = {"occluded": "1" if a.get("occluded") else "0", "z_order": str(a.get("z_order", 0))}
    if r.kind == "box" and r.box is not None:
        x, y, w, h = r.box
        geo = {"xtl": _f(x), "ytl": _f(y), "xbr": _f(x + w), "ybr": _f(y + h)}
        if a.get("rotation"):
            geo["rotation"] = _f(float(a["rotation"]))
        el = ET.SubElement(parent, "box", {"label": r.label or "", **extra, **geo, **common})
    elif r.kind in ("polygon", "point") and r.points:
        tag = "polygon" if r.kind == "polygon" else "points"
        pts = ";".join(f"{_f(px)},{_f(py)}" for px, py in r.points)
        el = ET.SubElement(parent, tag, {"label": r.label or "", **extra, "points": pts, **common})
    else:
        return None
    if a.get("source"):
        el.set("source", str(a["source"]))
    user_attributes(el, r)
    return el


def user_attributes(el: ET.Element, r: Region, skip: tuple[str, ...] = ()) -> None:
    for name, value in r.attributes.items():
        if name in RESERVED or name in skip:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        ET.SubElement(el, "attribute", {"name": name}).text = text


def meta(
    root: ET.Element,
    name: str,
    size: int,
    mode: str,
    labels: dict[str, list[AttributeDef]],
    subsets: list[str] | None = None,
) -> ET.Element:
    """``<version>`` and ``<meta>`` with the labels and their attributes' definitions.

    Without `subsets`, a task export (``<meta><task>``). With them, a project export as CVAT
    writes one: ``<meta><project>`` with one ``<task>`` per subset, each naming its ``<subset>``
    (datumaro, CVAT's format library, reads an image's ``subset`` only from such a file).
    """
    ET.SubElement(root, "version").text = "1.1"
    meta_el = ET.SubElement(root, "meta")
    if subsets:
        top = ET.SubElement(meta_el, "project")
        ET.SubElement(top, "name").text = name
    else:
        top = ET.SubElement(meta_el, "task")
        for tag, text in (("name", name), ("size", str(size)), ("mode", mode), ("overlap", "0")):
            ET.SubElement(top, tag).text = text
        ET.SubElement(top, "flipped").text = "False"
    labels_el = ET.SubElement(top, "labels")
    for label, attrs in labels.items():
        el = ET.SubElement(labels_el, "label")
        ET.SubElement(el, "name").text = label
        ET.SubElement(el, "type").text = "any"
        attrs_el = ET.SubElement(el, "attributes")
        for attr in attrs:
            a = ET.SubElement(attrs_el, "attribute")
            ET.SubElement(a, "name").text = attr.name
            ET.SubElement(a, "mutable").text = str(attr.mutable)
            ET.SubElement(a, "input_type").text = attr.type
            default, values = _cvat_values(attr)
            ET.SubElement(a, "default_value").text = default
            ET.SubElement(a, "values").text = values
    if subsets:
        tasks = ET.SubElement(top, "tasks")
        for subset in subsets:
            task = ET.SubElement(tasks, "task")
            ET.SubElement(task, "name").text = f"{name} {subset}"
            ET.SubElement(task, "mode").text = mode
            ET.SubElement(task, "subset").text = subset
    return top


def _cvat_values(a: AttributeDef) -> tuple[str, str]:
    """``default_value`` and ``values`` as CVAT writes them for `a`."""
    initial = a.initial
    if a.type == "checkbox":
        return ("true" if initial else "false"), "false\ntrue"
    if a.type in ("select", "radio"):
        return str(initial), "\n".join(a.values)
    if a.type == "number":  # label_specs closed its range and gave it a step
        if a.min is None or a.max is None:
            raise ValueError(f"number attribute {a.name!r} written without min or max")
        bounds = "\n".join(_number_text(x) for x in (a.min, a.max, a.step or 1.0))
        return ("" if initial is None else _number_text(float(initial))), bounds
    return str(initial or ""), ""


def declared_attributes(dataset_meta: dict[str, Any]) -> dict[str, list[AttributeDef]]:
    """The attribute definitions a dataset carries (``dataset_meta["attributes"]``)."""
    return defs_from_json(dataset_meta.get(META_KEY))


def label_specs(
    label_order: list[str],
    regions: list[Region],
    declared: dict[str, list[AttributeDef]] | None = None,
    dropped: Drops | None = None,
) -> dict[str, list[AttributeDef]]:
    """Every label with its attributes: the declared ones (CVAT's shape fields aside), then
    each other user attribute its regions carry, typed by its values. Every number has a min
    and a max (`closed_range`): an inferred one the range of its values; a definition it had to
    close is logged and counted in `dropped`."""
    declared = declared or {}
    specs: dict[str, dict[str, AttributeDef]] = {name: {} for name in label_order}
    for label, defs in declared.items():
        spec = specs.setdefault(label, {})
        spec.update((d.name, d) for d in defs if d.name not in RESERVED)
    inferred: dict[tuple[str, str], str] = {}
    for r in regions:
        if r.label is None:
            continue
        spec = specs.setdefault(r.label, {})
        for name, value in r.attributes.items():
            if name in RESERVED or name in ("track_id", "keyframe"):
                continue
            if name in spec and (r.label, name) not in inferred:
                continue  # declared
            kind = "checkbox" if isinstance(value, bool) else "text"
            if not isinstance(value, bool) and isinstance(value, (int, float)):
                kind = "number"
            if inferred.get((r.label, name), kind) != kind:
                kind = "text"
            inferred[(r.label, name)] = kind
            spec[name] = AttributeDef(name=name, type=kind)
    out = {
        label: [closed_range(d, label, regions) for d in spec.values()]
        for label, spec in specs.items()
    }
    opened = [
        f"{label}.{c.name} ({c.min:g}..{c.max:g})"
        for label, spec in specs.items()
        for d, c in zip(spec.values(), out[label], strict=True)
        if (c.min, c.max) != (d.min, d.max)  # a definition's range closed here, not a guess
        and (label, d.name) not in inferred
    ]
    if opened:
        logger.warning(
            "CVAT needs a number's min and max; written from the values exported: %s",
            ", ".join(opened),
        )
        if dropped is not None:
            dropped.add(OPEN_RANGE, len(opened))
    return out


def closed_range(a: AttributeDef, label: str, regions: list[Region]) -> AttributeDef:
    """`a` with the min, max and step CVAT needs: a number without min or max gets the range of
    the values `label`'s regions carry, with its default and the bound it states (0..1 when
    none); one without a step the finest decimal step of those numbers (0.01 for 0.25 and
    0.5, 1 for whole numbers), so every value exported lies on a step of the range."""
    if a.type != "number" or (a.min is not None and a.max is not None and a.step is not None):
        return a
    known = [
        float(x)
        for x in (*(r.attributes.get(a.name) for r in regions if r.label == label), a.default)
        if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    ]
    pool = [*known, *(b for b in (a.min, a.max) if b is not None)]
    places = max((_decimal_places(x) for x in pool), default=0)
    step = a.step or (float(f"1e-{places}") if places else 1.0)
    low = a.min if a.min is not None else min(pool, default=0.0)
    high = a.max if a.max is not None else max(pool, default=low)
    if high <= low:  # one value, or none: a range one step wide, on the side left open
        if a.max is None:
            high = round(low + step, places)
        else:
            low = round(high - step, places)
    return a.model_copy(update={"min": low, "max": high, "step": step})


def _decimal_places(x: float) -> int:
    """Decimals of the shortest text that reads back as `x` (0.25 -> 2, 1e-07 -> 7, 3.0 -> 0)."""
    exponent = Decimal(_number_text(x)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number_text(x: float) -> str:
    """`x` as CVAT reads it back exactly: whole numbers without a point, others as Python's
    shortest round-trip text (``{:g}`` kept 6 digits: 1234567 became 1.23457e+06)."""
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def to_bytes(root: ET.Element, marking: str) -> bytes:
    ET.indent(root)
    head = f'<?xml version="1.0" encoding="utf-8"?>\n<!-- marking: {marking} -->\n'
    return (head + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def count_unsupported(el: ET.Element, dropped: Counter[str]) -> None:
    for tag in UNSUPPORTED:
        n = len(el.findall(tag))
        if n:
            dropped[f"{tag}s" if not tag.endswith("s") else tag] += n


def flag(el: ET.Element, key: str, f: str, place: str) -> bool:
    raw = (el.get(key) or "0").strip()
    if raw not in ("0", "1", "true", "false", "True", "False"):
        v.fail(f, f"{place}.{key}", f"expected 0 or 1, got {raw!r}")
    return raw in ("1", "true", "True")


def number(el: ET.Element, key: str, f: str, place: str) -> float:
    raw = el.get(key)
    if raw is None:
        v.fail(f, place, f"missing attribute {key!r}")
    try:
        val = float(raw)
    except ValueError:
        v.fail(f, f"{place}.{key}", f"expected a number, got {raw!r}")
    if not v.is_number(val):
        v.fail(f, f"{place}.{key}", f"expected a finite number, got {raw!r}")
    return val


def _points(raw: str, f: str, place: str) -> tuple[tuple[float, float], ...]:
    pts = []
    for pair in filter(None, raw.strip().split(";")):
        try:
            x, y = (float(c) for c in pair.split(","))
        except ValueError:
            v.fail(f, f"{place}.points", f"expected 'x,y' pairs separated by ';', got {pair!r}")
        if not (v.is_number(x) and v.is_number(y)):
            v.fail(f, f"{place}.points", f"expected finite numbers, got {pair!r}")
        pts.append((x, y))
    if not pts:
        v.fail(f, f"{place}.points", "no points")
    return tuple(pts)


def _typed(text: str, input_type: str) -> Any:
    if input_type == "checkbox":
        return text.strip().lower() == "true"
    if input_type == "number":
        try:
            val = float(text)
        except ValueError:
            return text
        return int(val) if val.is_integer() and "." not in text else val
    return text


def _f(x: float) -> str:
    return f"{x:.2f}" if x == round(x, 2) else repr(float(x))  # exact either way
