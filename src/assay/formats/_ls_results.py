"""Label Studio result items <-> canonical regions.

Label Studio stores image geometry in percent of the image size; canonical regions are in pixels.
``px = percent / 100 * original_width`` (the result's ``original_width``/``original_height`` when
present, else the image file's size). A result with several labels becomes one region per label;
a ``choices`` or ``textarea`` result becomes one region per value. Region attributes travel in an
extra ``attributes`` key of the result, which Label Studio stores and exports unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from assay.domain.labels import Region
from assay.formats import _validate as v

_BOX = ("rectanglelabels", "rectangle")
_POLY = ("polygonlabels", "polygon")
_POINT = ("keypointlabels", "keypoint")
SUPPORTED = (*_BOX, *_POLY, *_POINT, "labels", "choices", "textarea", "rating")


def to_regions(
    res: dict[str, Any],
    size: tuple[int | None, int | None],
    text: str | None,
    f: str,
    place: str,
) -> list[Region]:
    """Convert one result item; `size` is the image size, `text` the task text (or None)."""
    typ = v.need_str(v.need_key(res, "type", f, place), f, place + ".type")
    control = v.need_str(v.need_key(res, "from_name", f, place), f, place + ".from_name")
    val = v.need_obj(v.need_key(res, "value", f, place), f, place + ".value")
    rid = str(res.get("id", ""))
    attrs = dict(v.need_attributes(res.get("attributes", {}), f, place + ".attributes"))
    score = res.get("score")
    if score is not None:
        score = v.need_number(score, f, place + ".score")
    vp = place + ".value"
    base: dict[str, Any] = {"control": control, "attributes": attrs, "score": score}

    if typ == "choices":
        return [
            Region(id=_rid(rid, i, n), kind="choice", label=c, **base)
            for i, c, n in _strings(val, "choices", f, vp)
        ]
    if typ == "textarea":
        return [
            Region(id=_rid(rid, i, n), kind="text", text=t, **base)
            for i, t, n in _strings(val, "text", f, vp)
        ]
    if typ == "rating":
        rating = v.need_number(v.need_key(val, "rating", f, vp), f, vp + ".rating")
        return [Region(id=rid, kind="rating", value=rating, **base)]
    labels = _labels(val, typ, f, vp)
    if typ == "labels":
        start = v.need_int(v.need_key(val, "start", f, vp), f, vp + ".start")
        end = v.need_int(v.need_key(val, "end", f, vp), f, vp + ".end")
        limit = len(text) if text is not None else None
        if start < 0 or end < start or (limit is not None and end > limit):
            v.fail(f, vp, f"span [{start}, {end}) does not fit a text of {limit} characters")
        geo: dict[str, Any] = {"kind": "span", "span": (start, end)}
    elif typ in _BOX or typ in _POLY or typ in _POINT:
        width, height = _dims(res, size, f, place)
        sx, sy = width / 100.0, height / 100.0
        if typ in _BOX:
            nums = [
                v.need_number(v.need_key(val, k, f, vp), f, f"{vp}.{k}")
                for k in ("x", "y", "width", "height")
            ]
            box = (nums[0] * sx, nums[1] * sy, nums[2] * sx, nums[3] * sy)
            v.check_box(box, width, height, f, vp)
            rot = val.get("rotation", 0)
            if rot:
                attrs["rotation"] = v.need_number(rot, f, vp + ".rotation")
            geo = {"kind": "box", "box": box}
        elif typ in _POLY:
            raw = v.need_list(v.need_key(val, "points", f, vp), f, vp + ".points")
            pts = []
            for j, p in enumerate(raw):
                x, y = v.need_numbers(p, 2, f, f"{vp}.points[{j}]")
                pts.append((x * sx, y * sy))
            if len(pts) < 3:
                v.fail(f, vp + ".points", f"a polygon needs at least 3 points, got {len(pts)}")
            v.check_points(pts, width, height, f, vp + ".points")
            geo = {"kind": "polygon", "points": tuple(pts)}
        else:
            x = v.need_number(v.need_key(val, "x", f, vp), f, vp + ".x") * sx
            y = v.need_number(v.need_key(val, "y", f, vp), f, vp + ".y") * sy
            v.check_points([(x, y)], width, height, f, vp)
            geo = {"kind": "point", "points": ((x, y),)}
    else:
        v.fail(f, place + ".type", f"unsupported result type {typ!r}; supported: {SUPPORTED}")
    if not labels:
        return [Region(id=rid, **geo, **base)]
    return [
        Region(id=_rid(rid, i, len(labels)), label=lab, **geo, **base)
        for i, lab in enumerate(labels)
    ]


def from_regions(
    regions: Iterable[Region],
    size: tuple[int | None, int | None],
    text: str | None,
    to_name: str,
    name_of: Callable[[Region], str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Result items for `regions` and the kinds that have no Label Studio form. `name_of` gives
    each region's ``from_name`` (default: its control)."""
    out: list[dict[str, Any]] = []
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    dropped: list[str] = []
    w, h = size
    for n, r in enumerate(regions):
        item: dict[str, Any] = {
            "id": r.id or f"a{n}",
            "from_name": name_of(r) if name_of is not None else r.control,
            "to_name": to_name,
        }
        labels = [r.label] if r.label is not None else []
        if (r.kind == "choice" and r.label is None) or (r.kind == "text" and r.text is None):
            dropped.append(r.kind)
            continue
        if r.kind in ("choice", "text"):
            typ, key, entry = (
                ("choices", "choices", r.label)
                if r.kind == "choice"
                else ("textarea", "text", r.text)
            )
            prev = merged.get((typ, r.control))
            if prev is not None:
                prev["value"][key].append(entry)
                continue
            item.update(type=typ, value={key: [entry]})
            merged[(typ, r.control)] = item
        elif r.kind == "rating" and r.value is not None:
            val = int(r.value) if float(r.value).is_integer() else r.value
            item.update(type="rating", value={"rating": val})
        elif r.kind == "span" and r.span is not None:
            s, e = r.span
            value: dict[str, Any] = {"start": s, "end": e, "labels": labels}
            if text is not None:
                value["text"] = text[s:e]
            item.update(type="labels", value=value)
        elif r.kind in ("box", "polygon", "point") and w and h:
            item.update(original_width=w, original_height=h, image_rotation=0)
            px, py = 100.0 / w, 100.0 / h
            if r.kind == "box" and r.box is not None:
                x, y, bw, bh = r.box
                value = {"x": x * px, "y": y * py, "width": bw * px, "height": bh * py}
                value["rotation"] = r.attributes.get("rotation", 0)
                typ = "rectanglelabels" if labels else "rectangle"
            elif r.kind == "polygon" and r.points:
                value = {"points": [[x * px, y * py] for x, y in r.points], "closed": True}
                typ = "polygonlabels" if labels else "polygon"
            elif r.kind == "point" and r.points:
                x, y = r.points[0]
                value = {"x": x * px, "y": y * py, "width": 0.5}
                typ = "keypointlabels" if labels else "keypoint"
            else:
                dropped.append(r.kind)
                continue
            if labels:
                value[typ] = labels
            item.update(type=typ, value=value)
        else:
            dropped.append(r.kind)
            continue
        attrs = {k: a for k, a in r.attributes.items() if k != "rotation" or r.kind != "box"}
        if attrs:
            item["attributes"] = attrs
        if r.score is not None:
            item["score"] = r.score
        out.append(item)
    return out, dropped


def _rid(rid: str, i: int, n: int) -> str:
    return rid if n == 1 or not rid else f"{rid}.{i}"


def _strings(val: dict[str, Any], key: str, f: str, place: str) -> list[tuple[int, str, int]]:
    items = v.need_list(v.need_key(val, key, f, place), f, f"{place}.{key}")
    out = [v.need_str(s, f, f"{place}.{key}[{i}]") for i, s in enumerate(items)]
    return [(i, s, len(out)) for i, s in enumerate(out)]


def _labels(val: dict[str, Any], typ: str, f: str, place: str) -> list[str]:
    if typ not in val:
        return []
    items = v.need_list(val[typ], f, f"{place}.{typ}")
    return [v.need_str(s, f, f"{place}.{typ}[{i}]") for i, s in enumerate(items)]


def _dims(
    res: dict[str, Any], size: tuple[int | None, int | None], f: str, place: str
) -> tuple[int, int]:
    w, h = res.get("original_width", size[0]), res.get("original_height", size[1])
    if w is None or h is None:
        v.fail(f, place, "image size unknown: no original_width/original_height and no image")
    w = v.need_number(w, f, place + ".original_width")
    h = v.need_number(h, f, place + ".original_height")
    if w <= 0 or h <= 0:
        v.fail(f, place, f"image size must be positive, got {w:g}x{h:g}")
    return int(w), int(h)
