"""COCO annotations <-> canonical regions, keeping what COCO holds and regions do not.

One COCO annotation is one object. Reading:

- a polygon ``segmentation`` gives one polygon region per ring; an object of several rings
  (an occluded car seen in two parts) gives one region per ring, all with the attribute
  ``object`` = the annotation id, so the writer joins them into one annotation again;
- a single rectangle ring equal to the ``bbox`` is a box (that is how assay writes boxes, see
  below);
- an RLE ``segmentation`` (crowd regions) gives a box region (its ``bbox``) holding the mask
  unchanged in the attribute ``rle`` (``{"size": [h, w], "counts": ...}``);
- ``iscrowd: 1`` becomes the attribute ``iscrowd``; the file's ``area`` becomes the attribute
  ``area`` (for a box only when it is not w*h), so it is written back as it was; other keys of
  ``attributes`` become region attributes.

Writing: boxes get ``segmentation`` = their rectangle as one polygon ring, the form pycocotools
itself gives box results (``COCO.loadRes``) - an annotation with ``[]`` or with no
``segmentation`` makes pycocotools' segm evaluation fail (IndexError, KeyError).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.domain.labels import Region
from assay.formats import _validate as v
from assay.formats._model import ImportedMedia

# Region attributes that are COCO annotation fields, not entries of its `attributes`.
FIELDS = ("rle", "area", "object", "iscrowd")


def shoelace(points: tuple[tuple[float, float], ...] | list[tuple[float, float]]) -> float:
    """Area of a simple polygon."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def rectangle(box: tuple[float, float, float, float]) -> list[float]:
    x, y, w, h = box
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _differs(a: float, b: float) -> bool:
    return abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b))


# --- reading ---------------------------------------------------------------------------------


def to_regions(
    a: dict[str, Any], label: str, m: ImportedMedia, f: str, place: str, author: str | None = None
) -> list[Region]:
    """The regions of one COCO annotation (validated, naming the failing field), by `author`."""
    attrs = dict(v.need_attributes(a.get("attributes", {}), f, place + ".attributes"))
    score = a.get("score")
    if score is not None:
        score = v.need_number(score, f, place + ".score")
    rid = str(a.get("id", ""))
    crowd = a.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, bool):
        v.fail(f, place + ".iscrowd", f"expected 0 or 1, got {crowd!r}")
    if crowd:
        attrs["iscrowd"] = 1
    area = a.get("area")
    if area is not None:
        area = v.need_number(area, f, place + ".area")
    seg = a.get("segmentation", [])
    base: dict[str, Any] = {"label": label, "score": score, "author": author}
    if isinstance(seg, dict):
        rle = _rle(seg, m, f, place + ".segmentation")
        box = _bbox(a, m, f, place) if "bbox" in a else _rle_box(rle)
        attrs["rle"] = rle
        attrs["area"] = area if area is not None else _rle_area(rle)
        return [Region(id=rid, kind="box", box=box, attributes=attrs, **base)]
    if not isinstance(seg, list):
        v.fail(f, place + ".segmentation", f"expected a list or an object, got {v.type_name(seg)}")
    polys: list[list[tuple[float, float]]] = []
    for j, poly in enumerate(seg):
        where = f"{place}.segmentation[{j}]"
        flat = v.need_numbers(poly, None, f, where)
        if len(flat) < 6 or len(flat) % 2:
            v.fail(f, where, f"a polygon needs an even count >= 6 of numbers, got {len(flat)}")
        pts = list(zip(flat[0::2], flat[1::2], strict=True))
        v.check_points(pts, m.width, m.height, f, where)
        polys.append(pts)
    if not polys or (len(polys) == 1 and "bbox" in a):
        bbox = _bbox(a, m, f, place)  # required when there is no polygon
        if not polys or _is_rectangle(polys[0], bbox):
            if area is not None and _differs(area, bbox[2] * bbox[3]):
                attrs["area"] = area
            return [Region(id=rid, kind="box", box=bbox, attributes=attrs, **base)]
    if area is not None:
        attrs["area"] = area  # COCO's area of an outline is its mask's pixel count, kept as is
    if len(polys) > 1:
        attrs["object"] = rid
    return [
        Region(
            id=rid if len(polys) == 1 else f"{rid}.{j}",
            kind="polygon",
            points=tuple(pts),
            attributes=attrs,
            **base,
        )
        for j, pts in enumerate(polys)
    ]


def _bbox(
    a: dict[str, Any], m: ImportedMedia, f: str, place: str
) -> tuple[float, float, float, float]:
    bbox = v.need_numbers(v.need_key(a, "bbox", f, place), 4, f, place + ".bbox")
    box = (bbox[0], bbox[1], bbox[2], bbox[3])
    v.check_box(box, m.width, m.height, f, place + ".bbox")
    return box


def _is_rectangle(pts: list[tuple[float, float]], box: tuple[float, float, float, float]) -> bool:
    if len(pts) != 4:
        return False
    flat = [c for p in pts for c in p]
    return all(not _differs(p, q) for p, q in zip(flat, rectangle(box), strict=True))


def _rle(seg: dict[str, Any], m: ImportedMedia, f: str, place: str) -> dict[str, Any]:
    size = v.need_numbers(v.need_key(seg, "size", f, place), 2, f, place + ".size")
    h, w = int(size[0]), int(size[1])
    if m.width is not None and m.height is not None and (w, h) != (m.width, m.height):
        v.fail(
            f, place + ".size", f"mask size {h}x{w} (h x w) is not the image's {m.height}x{m.width}"
        )
    counts = v.need_key(seg, "counts", f, place)
    if isinstance(counts, list):
        nums = v.need_numbers(counts, None, f, place + ".counts")
        if any(c < 0 or c != int(c) for c in nums) or sum(nums) != h * w:
            v.fail(f, place + ".counts", f"run lengths must be whole numbers summing to {h * w}")
        return {"size": [h, w], "counts": [int(c) for c in nums]}
    if not isinstance(counts, str) or not counts:
        v.fail(f, place + ".counts", f"expected a string or a list, got {v.type_name(counts)}")
    return {"size": [h, w], "counts": counts}


def _mask_api() -> Any:
    try:
        from pycocotools import mask
    except ImportError:  # pragma: no cover - pycocotools ships with the `eval` extra
        from assay.errors import InvalidInput

        raise InvalidInput(
            "reading an RLE mask without 'bbox' or 'area' needs pycocotools: "
            "pip install 'assay[eval]'"
        ) from None
    return mask


def _compressed(rle: dict[str, Any]) -> Any:
    mask = _mask_api()
    if isinstance(rle["counts"], list):
        h, w = rle["size"]
        return mask.frPyObjects(rle, h, w)
    return {"size": rle["size"], "counts": rle["counts"].encode()}


def _rle_box(rle: dict[str, Any]) -> tuple[float, float, float, float]:
    x, y, w, h = (float(c) for c in _mask_api().toBbox(_compressed(rle)))
    return (x, y, w, h)


def _rle_area(rle: dict[str, Any]) -> float:
    return float(_mask_api().area(_compressed(rle)))


# --- writing ---------------------------------------------------------------------------------


def to_annotations(
    regions: list[Region],
    image_id: int,
    category: Callable[[str], int],
    next_id: Callable[[], int],
    dropped: Callable[[Region], None],
) -> list[str]:
    """COCO annotation JSON texts for one image's regions (parts of one object joined)."""
    out: list[str] = []
    parts_of = _polygon_parts(regions)
    for r in regions:
        kind = r.kind
        if kind == "box" and r.box is not None:
            x, y, w, h = r.box
            if not r.attributes and r.score is None:
                # The bulk of big exports: straight to the text json.dumps would make.
                sx, sy, sw, sh, x2, y2 = map(repr, (x, y, w, h, x + w, y + h))
                out.append(
                    f'{{"id":{next_id()},"image_id":{image_id},"category_id":'
                    f'{category(r.label or "")},"bbox":[{sx},{sy},{sw},{sh}],'
                    f'"area":{w * h!r},"segmentation":[[{sx},{sy},{x2},{sy},{x2},{y2},{sx},{y2}]],'
                    '"iscrowd":0}'
                )
                continue
            rle = r.attributes.get("rle")
            seg: Any = rle if isinstance(rle, dict) else [rectangle(r.box)]
            out.append(_dumps(_ann(next_id(), image_id, category, [r], r.box, w * h, seg)))
        elif kind == "polygon" and r.points:
            parts = parts_of(r)
            if not parts:
                continue
            box, area, rings = _outline(parts)
            seg = [[c for pt in ring for c in pt] for ring in rings]
            out.append(_dumps(_ann(next_id(), image_id, category, parts, box, area, seg)))
        else:
            dropped(r)
    return out


def _polygon_parts(regions: list[Region]) -> Callable[[Region], list[Region]]:
    """For each polygon region, the parts of its object at the object's first ring (the rings
    sharing its attribute ``object`` and label, or itself alone), then [] for its other rings."""
    objects: dict[tuple[str, str], list[Region]] = {}
    for r in regions:
        if r.kind == "polygon" and r.points and "object" in r.attributes:
            objects.setdefault((str(r.attributes["object"]), r.label or ""), []).append(r)
    done: set[tuple[str, str]] = set()

    def parts(r: Region) -> list[Region]:
        if "object" not in r.attributes:
            return [r]
        key = (str(r.attributes["object"]), r.label or "")
        if key in done:
            return []
        done.add(key)
        return objects[key]

    return parts


def _outline(
    parts: list[Region],
) -> tuple[tuple[float, float, float, float], float, list[list[tuple[float, float]]]]:
    """An outlined object's bbox (around every ring), shoelace area and rings."""
    rings = [list(p.points or ()) for p in parts]
    xs = [x for ring in rings for x, _y in ring]
    ys = [y for ring in rings for _x, y in ring]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return box, sum(shoelace(ring) for ring in rings), rings


def ground_truth_objects(
    regions: list[Region],
) -> list[tuple[str, tuple[float, float, float, float], float, bool]]:
    """(label, bbox, area, crowd) of each object `to_annotations` writes, in its order: what
    pycocotools reads from `assay export --format coco` for bbox evaluation. The area is the
    stored ``area`` attribute (a mask's pixel count, as read) or else w * h for a box and the
    shoelace area for an outline; regions without a label are left out."""
    out = []
    parts_of = _polygon_parts(regions)
    for r in regions:
        if not r.label:
            continue
        if r.kind == "box" and r.box is not None:
            box, area, first = r.box, r.box[2] * r.box[3], r
        elif r.kind == "polygon" and r.points:
            parts = parts_of(r)
            if not parts:
                continue
            box, area, _rings = _outline(parts)
            first = parts[0]
        else:
            continue
        attrs = first.attributes
        out.append((r.label, box, float(attrs.get("area", area)), bool(attrs.get("iscrowd", 0))))
    return out


def _ann(
    ann_id: int,
    image_id: int,
    category: Callable[[str], int],
    parts: list[Region],
    box: tuple[float, float, float, float],
    area: float,
    seg: Any,
) -> dict[str, Any]:
    r = parts[0]
    attrs = r.attributes
    a: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category(r.label or ""),
        "bbox": list(box),
        "area": attrs.get("area", area),
        "segmentation": seg,
        "iscrowd": int(attrs.get("iscrowd", 0)),
    }
    rest = {k: val for k, val in attrs.items() if k not in FIELDS}
    if rest:
        a["attributes"] = rest
    if r.score is not None:
        a["score"] = r.score
    return a


def _numbers(values: list[float]) -> str:
    return "[" + ",".join(repr(c) for c in values) + "]"


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), check_circular=False)
