"""A Label Studio labeling config (XML) matching the regions of an export.

Label Studio refuses a config in which two tags share a name ("Label config contains non-unique
names"), and it attaches a result to the control its ``from_name`` names. Canonical regions of
different kinds may share a control name (``label`` for boxes and polygons alike), so each
(control, tag) pair gets its own name: the first tag of a control keeps the name, later ones get
``<control>_<kind>``. `ControlNames` is that mapping; the writer uses it for the results'
``from_name`` and records the renames in the task's ``meta.assay_controls`` so a re-import gives
the regions their original control back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

from assay.domain.labels import Region
from assay.formats._export import is_image
from assay.formats._model import ExportBundle

_TAGS = {
    "box": "RectangleLabels",
    "polygon": "PolygonLabels",
    "point": "KeyPointLabels",
    "span": "Labels",
    "choice": "Choices",
    "text": "TextArea",
    "rating": "Rating",
}
_LABELLED = {"RectangleLabels", "PolygonLabels", "KeyPointLabels", "Labels"}
_OBJECTS = ("image", "text")  # the object tags' names


class ControlNames:
    """Unique Label Studio names for the (control, region kind) pairs of an export."""

    def __init__(self, regions: Iterable[Region]) -> None:
        self._names: dict[tuple[str, str], str] = {}
        taken: set[str] = set(_OBJECTS)
        for r in regions:
            tag = _TAGS.get(r.kind)
            if tag is None or (r.control, tag) in self._names:
                continue
            name = r.control if r.control not in taken else f"{r.control}_{r.kind}"
            k = 2
            while name in taken:
                name, k = f"{r.control}_{r.kind}{k}", k + 1
            taken.add(name)
            self._names[(r.control, tag)] = name

    def name(self, region: Region) -> str:
        """The ``from_name`` of `region`'s results (its control when no tag can hold it)."""
        tag = _TAGS.get(region.kind)
        return self._names.get((region.control, tag), region.control) if tag else region.control

    def renamed(self) -> dict[str, str]:
        """Label Studio name -> canonical control, for the names that differ."""
        return {n: c for (c, _t), n in self._names.items() if n != c}

    def tags(self) -> list[tuple[str, str, str]]:
        """(control, tag, Label Studio name) in first-use order."""
        return [(c, t, n) for (c, t), n in self._names.items()]


def control_names(bundle: ExportBundle) -> ControlNames:
    regions = [r for row in bundle.rows for r in row.regions]
    regions += [r for row in bundle.rows for a in row.annotations for r in a.regions]
    return ControlNames(regions)


def label_config(bundle: ExportBundle, names: ControlNames) -> str:
    """One control per (control name, region kind), labels in label map order first."""
    has_image = any(is_image(r) for r in bundle.rows)
    has_text = any(not is_image(r) for r in bundle.rows)
    labels: dict[tuple[str, str], dict[str, None]] = {}
    multi: set[str] = set()
    for row in bundle.rows:
        for group in (row.regions, *(a.regions for a in row.annotations)):
            per_group: Counter[str] = Counter()
            for r in group:
                tag = _TAGS.get(r.kind)
                if tag is None:
                    continue
                found = labels.setdefault((r.control, tag), {})
                if r.label is not None:
                    found[r.label] = None
                if tag == "Choices":
                    per_group[r.control] += 1
            multi.update(c for c, n in per_group.items() if n > 1)
    order = {n: i for i, n in enumerate(bundle.label_names)}
    lines = ["<View>"]
    if has_image:
        lines.append('  <Image name="image" value="$image"/>')
    if has_text:
        lines.append('  <Text name="text" value="$text"/>')
    for control, tag, name in names.tags():
        to_name = "text" if tag == "Labels" or not has_image else "image"
        attrs = f"name={quoteattr(name)} toName={quoteattr(to_name)}"
        if tag == "Choices":
            attrs += f' choice="{"multiple" if control in multi else "single"}"'
        if tag in ("TextArea", "Rating"):
            lines.append(f"  <{tag} {attrs}/>")
            continue
        child = "Label" if tag in _LABELLED else "Choice"
        lines.append(f"  <{tag} {attrs}>")
        found = labels.get((control, tag), {})
        for label in sorted(found, key=lambda n: (order.get(n, len(order)), n)):
            lines.append(f"    <{child} value={quoteattr(label)}/>")
        lines.append(f"  </{tag}>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"
