"""Chip labels back on their scene: `assay export --scene`.

Each chip row (an item whose metadata names its `window` in a parent scene) is replaced by
its scene, with every chip's regions shifted by the chip's offset. Neighbouring chips share
`overlap` pixels, so an object that lies in the shared strip, or that a chip border cuts in
two, is labelled on both: regions of the same control and label from different chips that
overlap are merged into one, their union (boxes: the box around both; polygons: the outline
of their union, via shapely). Rows that are not chips pass through unchanged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.domain.canonical import finite_metadata
from assay.domain.labels import Region
from assay.formats._model import ExportBundle, ExportRow
from assay.store._sql import select_in
from assay.store.schema import items

if TYPE_CHECKING:
    from assay.workspace import Workspace

GEOMETRY = ("box", "polygon")


def to_scenes(ws: Workspace, bundle: ExportBundle) -> None:
    """Replace the bundle's chip rows by their scenes, in place."""
    chips = [r for r in bundle.rows if isinstance(r.metadata.get("window"), dict)]
    if not chips:
        return
    with ws.db.read() as conn:
        parent_of = dict(
            select_in(conn, [items.c.id, items.c.parent_id], items.c.id, [r.item_id for r in chips])
        )
        parents = {
            r.id: r
            for r in select_in(
                conn,
                [items.c.id, items.c.name, items.c.media_type, items.c.width, items.c.height,
                 items.c.metadata, items.c.marking],
                items.c.id,
                sorted({p for p in parent_of.values() if p}),
            )
        }  # fmt: skip
    by_scene: dict[str, list[ExportRow]] = defaultdict(list)
    for row in chips:
        parent = parent_of.get(row.item_id)
        if isinstance(parent, str) and parent in parents:
            by_scene[parent].append(row)
    scene_rows = [
        _scene_row(ws, bundle, parents[sid], members) for sid, members in by_scene.items()
    ]
    merged = {r.item_id for members in by_scene.values() for r in members}
    rows = [r for r in bundle.rows if r.item_id not in merged] + scene_rows
    rows.sort(key=lambda r: r.number)
    bundle.set_rows(rows)


def _scene_row(ws: Workspace, bundle: ExportBundle, p: Any, members: list[ExportRow]) -> ExportRow:
    regions: list[tuple[Region, int]] = []  # scene-coordinate region, its chip's index
    for k, row in enumerate(members):
        w = row.metadata["window"]
        regions.extend((_shift(r, w["col"], w["row"]), k) for r in row.regions)
    blobs = ws.blobs
    return ExportRow(
        item_id=p.id,
        name=p.name,
        media_type=p.media_type,
        width=p.width,
        height=p.height,
        marking=ws.scheme.highest_text([p.marking, *(r.marking for r in members)]),
        metadata=json.loads(finite_metadata(p.metadata)),
        regions=merge_across_chips(regions),
        read_bytes=lambda: blobs.get_bytes(p.id),
        authors=sorted({a for r in members for a in r.authors}),
        annotation_ids=sorted({a for r in members for a in r.annotation_ids}),
        number=min(r.number for r in members),
    )


def _shift(r: Region, dx: float, dy: float) -> Region:
    if r.box is not None:
        x, y, w, h = r.box
        return r.model_copy(update={"box": (x + dx, y + dy, w, h)})
    if r.points is not None:
        return r.model_copy(update={"points": tuple((x + dx, y + dy) for x, y in r.points)})
    return r


def _bounds(r: Region) -> tuple[float, float, float, float]:
    if r.box is not None:
        x, y, w, h = r.box
        return x, y, x + w, y + h
    pts = np.asarray(r.points)
    return (
        float(pts[:, 0].min()),
        float(pts[:, 1].min()),
        float(pts[:, 0].max()),
        float(pts[:, 1].max()),
    )


def merge_across_chips(regions: list[tuple[Region, int]]) -> list[Region]:
    """Merge same-label geometry from different chips that overlaps; keep the rest as is."""
    out: list[Region] = []
    groups: dict[tuple[str, str, str | None], list[tuple[Region, int]]] = defaultdict(list)
    for r, chip in regions:
        if r.kind in GEOMETRY and (r.box is not None or r.points):
            groups[(r.kind, r.control, r.label)].append((r, chip))
        elif not any(r.content_key() == o.content_key() for o in out):
            out.append(r)  # whole-item answers: once per distinct answer
    for (kind, _, _), members in groups.items():
        b = np.array([_bounds(r) for r, _ in members])
        chips = np.array([c for _, c in members])
        # Pairs from different chips whose bounds overlap with positive area.
        ix = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        iy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        linked = (ix > 0) & (iy > 0) & (chips[:, None] != chips[None, :])
        clusters: dict[int, list[Region]] = defaultdict(list)
        for (r, _), root in zip(members, _components(linked), strict=True):
            clusters[root].append(r)
        for group in clusters.values():
            out.append(group[0] if len(group) == 1 else _union(kind, group))
    return out


def _components(linked: np.ndarray) -> list[int]:
    """A root per node of the graph whose adjacency matrix is `linked` (union-find)."""
    parent = list(range(len(linked)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked)), strict=True):
        parent[find(int(i))] = find(int(j))
    return [find(i) for i in range(len(parent))]


def _union(kind: str, group: list[Region]) -> Region:
    first = group[0]
    authors = sorted({r.author for r in group if r.author})
    update: dict[str, Any] = {"author": authors[0] if len(authors) == 1 else first.author}
    scores = [r.score for r in group if r.score is not None]
    if scores:
        update["score"] = max(scores)
    if kind == "box":
        bounds = np.array([_bounds(r) for r in group])
        x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
        update["box"] = (
            float(x0),
            float(y0),
            float(bounds[:, 2].max() - x0),
            float(bounds[:, 3].max() - y0),
        )
        return first.model_copy(update=update)
    from shapely import union_all
    from shapely.geometry import Polygon

    shape = union_all([Polygon(r.points).buffer(0) for r in group if r.points])
    if shape.geom_type != "Polygon":  # touching only at a point: keep the largest part
        shape = max(shape.geoms, key=lambda g: g.area)
    ring = [(float(x), float(y)) for x, y in list(shape.exterior.coords)[:-1]]
    update["points"] = tuple(ring)
    return first.model_copy(update=update)
