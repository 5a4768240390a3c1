"""A dataset commit as evaluation sees it: items, ground truth, attributes, decoded images."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from assay.domain.labels import Region
from assay.errors import InvalidInput, NotFound
from assay.evaluation.runs._slices import SIZE_RANGES, time_of_day
from assay.store._sql import select_in
from assay.store.schema import items as items_table

if TYPE_CHECKING:
    from assay.workspace import Workspace

Image = npt.NDArray[np.uint8]


@dataclass
class EvalItem:
    """One item of the evaluated commit."""

    item_id: str
    name: str  # file name as an export writes it
    export_id: int  # the image id `assay export --format coco` gives it (1-based)
    width: int
    height: int
    marking: str
    metadata: dict[str, Any]
    source: str
    regions: list[Region]
    read_bytes: Any

    def objects(self) -> list[tuple[str, tuple[float, float, float, float], float, bool]]:
        """(label, bbox, area, crowd) of each boxed or outlined object, as `assay export
        --format coco` writes it and pycocotools reads it: an object in several rings is one,
        its area the stored one (a mask's) or else w * h, or the outline's area."""
        from assay.formats._coco_objects import ground_truth_objects

        return ground_truth_objects(self.regions)

    def choice(self) -> str | None:
        """The class of record of a classification item (its one `choice` region)."""
        choices = [r for r in self.regions if r.kind == "choice" and r.label]
        if len(choices) > 1:
            raise InvalidInput(
                f"item {self.item_id[:12]} ({self.name}) has {len(choices)} choice labels; "
                "classification needs one class of record per item"
            )
        return choices[0].label if choices else None


@dataclass
class EvalData:
    dataset: str
    commit_id: str
    items: list[EvalItem]
    marking: str
    # Category id -> class name as `assay export --format coco` writes them (the label map).
    categories: dict[int, str] = field(default_factory=dict)
    # Classes a classifier may be scored on: the label map, then `choice` labels in use.
    classes: tuple[str, ...] = ()

    def by_key(self) -> dict[str, EvalItem]:
        """Lookup by item id, file name and export id (as a string)."""
        out: dict[str, EvalItem] = {}
        for it in self.items:
            out[it.item_id] = it
            out.setdefault(it.name, it)
            out.setdefault(str(it.export_id), it)
        return out


def load_dataset(ws: Workspace, spec: str) -> EvalData:
    """Items and labels of `NAME@REV` (a bare NAME is its HEAD commit)."""
    from assay.formats.io import export_bundle

    rev = ws.resolve(spec, default_head=True)
    if rev.commit is None:
        raise NotFound(f"{spec}: evaluation needs a commit; run `assay commit` first")
    bundle = export_bundle(ws, rev)
    ids = [r.item_id for r in bundle.rows]
    with ws.db.read() as conn:
        rows = select_in(conn, [items_table.c.id, items_table.c.source], items_table.c.id, ids)
    sources = {str(a): str(b or "") for a, b in rows}
    out = [
        EvalItem(
            item_id=r.item_id,
            name=r.name,
            export_id=r.number or k,
            width=int(r.width or 0),
            height=int(r.height or 0),
            marking=r.marking,
            metadata=r.metadata,
            source=sources.get(r.item_id, ""),
            regions=r.regions,
            read_bytes=r.read_bytes,
        )
        for k, r in enumerate(bundle.rows, 1)
    ]
    cats = {i: n for n, i in bundle.classes(("box", "polygon")).ids().items()}
    named = bundle.label_map.names() if bundle.label_map is not None else []
    used = sorted({r.label for it in out for r in it.regions if r.kind == "choice" and r.label})
    choices = tuple(dict.fromkeys([*named, *used]))
    return EvalData(rev.dataset, rev.commit.id, out, bundle.marking, cats, choices)


def _geo(meta: dict[str, Any]) -> tuple[float, float]:
    g = meta.get("geo")
    if isinstance(g, dict):
        try:
            return float(g["lon"]), float(g["lat"])
        except (KeyError, TypeError, ValueError):
            pass
    return float("nan"), float("nan")


def items_frame(ws: Workspace, data: EvalData) -> pd.DataFrame:
    """One row per item with the attributes slices query."""
    rows = []
    for it in data.items:
        lon, lat = _geo(it.metadata)
        # A crowd region (iscrowd) is an ignore region in COCO: no object of any size, and
        # no object of its label (the metrics score none), so no `label` slice holds it.
        objects = [(lab, area) for lab, _b, area, crowd in it.objects() if not crowd]
        areas = [area for _lab, area in objects]
        shapes = ("box", "polygon")
        other = {r.label for r in it.regions if r.label and r.kind not in shapes}
        sensor = it.metadata.get("sensor")
        row: dict[str, Any] = {
            "item_id": it.item_id,
            "name": it.name,
            "export_id": it.export_id,
            "source": it.source,
            "sensor": str(sensor) if sensor is not None else it.source,
            "captured_at": it.metadata.get("captured_at"),
            "time_of_day": time_of_day(it.metadata.get("captured_at")),
            "lon": lon,
            "lat": lat,
            "marking": it.marking,
            "marking_level": ws.scheme.levels[ws.scheme.parse(it.marking).level],
            "labels": sorted(other | {lab for lab, _a in objects}),
            "metadata": it.metadata,
        }
        for size, (lo, hi) in SIZE_RANGES.items():
            row[f"has_{size}"] = any(lo <= a <= hi for a in areas)
        rows.append(row)
    return pd.DataFrame(rows)


def decode(item: EvalItem) -> Image:
    """The item's image as uint8 RGB (H, W, 3)."""
    return decode_bytes(item.read_bytes(), item.item_id, item.name)


def decode_bytes(data: bytes, item_id: str, name: str) -> Image:
    """An item's bytes as uint8 RGB (H, W, 3); one error naming the item when unreadable."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types for unreadable images
        raise InvalidInput(f"item {item_id[:12]} ({name}): not an image ({exc})") from None


def to_batch(
    images: list[Image], size: tuple[int, int] | None, model: str
) -> npt.NDArray[np.float32]:
    """(n, 3, H, W) float32 in [0, 1]; images are resized (bilinear) to `size` = (H, W)."""
    return stack_inputs([model_input(im, size) for im in images], model)


def model_input(
    image: Image, size: tuple[int, int] | None, out: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]:
    """One uint8 RGB image as a model input row: resized (bilinear) to `size` = (H, W) when
    given, float32 in [0, 1], channels first; written into `out` when given (a row of a batch
    being filled by decoder threads)."""
    from PIL import Image as PILImage

    if size is not None and image.shape[:2] != size:
        h, w = size
        image = np.asarray(PILImage.fromarray(image).resize((w, h), PILImage.Resampling.BILINEAR))
    if out is None:
        out = np.empty((3, image.shape[0], image.shape[1]), np.float32)
    np.divide(image.transpose(2, 0, 1), np.float32(255.0), out=out, casting="unsafe")
    return out


def stack_inputs(rows: list[npt.NDArray[np.float32]], model: str) -> npt.NDArray[np.float32]:
    """Rows of `model_input` as one (n, 3, H, W) batch; one error when their sizes differ."""
    shapes = {r.shape for r in rows}
    if len(shapes) > 1:
        raise InvalidInput(
            f"model {model}: images have different sizes ({len(shapes)} kinds) and the model "
            "states no fixed input size; give it one (input_size=(H, W))"
        )
    return np.stack(rows) if rows else np.zeros((0, 3, 1, 1), np.float32)
