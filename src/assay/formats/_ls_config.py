"""A Label Studio labeling config (XML) matching the regions of an export."""

from __future__ import annotations

from collections import Counter
from xml.sax.saxutils import quoteattr

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


def label_config(bundle: ExportBundle) -> str:
    """One control per (control name, region kind), labels in `label_names` order first."""
    has_image = any(is_image(r) for r in bundle.rows)
    has_text = any(not is_image(r) for r in bundle.rows)
    controls: dict[tuple[str, str], dict[str, None]] = {}
    multi: set[str] = set()
    for row in bundle.rows:
        per_row: Counter[str] = Counter()
        for r in row.regions:
            tag = _TAGS.get(r.kind)
            if tag is None:
                continue
            labels = controls.setdefault((r.control, tag), {})
            if r.label is not None:
                labels[r.label] = None
            if tag == "Choices":
                per_row[r.control] += 1
        multi.update(c for c, n in per_row.items() if n > 1)
    order = {n: i for i, n in enumerate(bundle.label_names)}
    lines = ["<View>"]
    if has_image:
        lines.append('  <Image name="image" value="$image"/>')
    if has_text:
        lines.append('  <Text name="text" value="$text"/>')
    for (control, tag), labels in controls.items():
        to_name = "text" if tag == "Labels" or not has_image else "image"
        attrs = f"name={quoteattr(control)} toName={quoteattr(to_name)}"
        if tag == "Choices":
            attrs += f' choice="{"multiple" if control in multi else "single"}"'
        if tag in ("TextArea", "Rating"):
            lines.append(f"  <{tag} {attrs}/>")
            continue
        child = "Label" if tag in _LABELLED else "Choice"
        lines.append(f"  <{tag} {attrs}>")
        for name in sorted(labels, key=lambda n: (order.get(n, len(order)), n)):
            lines.append(f"    <{child} value={quoteattr(name)}/>")
        lines.append(f"  </{tag}>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"
