"""Pre-labeling's unit of work, run where `assay.compute` puts it (a local process or a
cluster worker): read a run of items from the blob store, decode them, run the model and
turn its answers into regions. Nothing here writes metadata; the caller stores the results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.domain.labels import Region
from assay.domain.schema import Control
from assay.models import ModelRef, load_model
from assay.store import BlobStore, open_blobs


@dataclass(frozen=True)
class LabelUnit:
    """A run of items to pre-label with one model into one control."""

    model: ModelRef
    control: Control
    labels: frozenset[str]
    min_score: float
    batch_size: int
    item_ids: tuple[str, ...]


@dataclass
class LabelResult:
    """A unit's answers (item id, regions) in item order, with what it left out and why."""

    results: list[tuple[str, list[Region]]] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    below_min_score: int = 0
    empty_boxes: int = 0
    batches: int = 0

    def add(self, other: LabelResult) -> None:
        self.results += other.results
        self.unmapped.update(other.unmapped)
        self.below_min_score += other.below_min_score
        self.empty_boxes += other.empty_boxes
        self.batches += other.batches


def label_unit(unit: LabelUnit) -> LabelResult:
    """Pre-label one unit with a registered model (the function workers run)."""
    return label_items(
        load_model(unit.model),
        unit.model.kind,
        unit.model.ref,
        open_blobs(unit.model.blob_url),
        unit.item_ids,
        unit.control,
        unit.labels,
        unit.min_score,
        unit.batch_size,
    )


def label_items(
    adapter: Any,
    kind: str,
    ref: str,
    blobs: BlobStore,
    item_ids: tuple[str, ...] | list[str],
    ctl: Control,
    labels: frozenset[str] | set[str],
    min_score: float,
    batch_size: int,
) -> LabelResult:
    """Read, decode and label `item_ids` in batches of `batch_size`."""
    from assay.labeling.prelabel import decode_image

    out = LabelResult()
    for start in range(0, len(item_ids), batch_size):
        ids = list(item_ids[start : start + batch_size])
        images = [decode_image(data, i) for i, data in zip(ids, blobs.read_many(ids), strict=True)]
        _label_batch(adapter, kind, ref, ids, images, ctl, labels, min_score, out)
        out.batches += 1
    return out


def _label_batch(
    adapter: Any,
    kind: str,
    ref: str,
    ids: list[str],
    images: list[np.ndarray[Any, Any]],
    ctl: Control,
    labels: frozenset[str] | set[str],
    min_score: float,
    out: LabelResult,
) -> None:
    from assay.domain.labels import regions_from_dicts
    from assay.evaluation.runs._data import to_batch

    x = to_batch(images, adapter.input_size, ref)
    if kind == "classification":
        probs = np.asarray(adapter.predict_proba(x), dtype=np.float64)
        classes = list(adapter.classes)
        for item_id, row in zip(ids, probs, strict=True):
            k = int(np.argmax(row))
            if classes[k] not in labels:
                out.unmapped[classes[k]] += 1
                continue
            region = Region(
                id="p1", kind="choice", control=ctl.name, label=classes[k], score=float(row[k])
            )
            out.results.append((item_id, [region]))
        return
    in_h, in_w = x.shape[2], x.shape[3]
    for item_id, im, dets in zip(ids, images, adapter.detect(x), strict=True):
        sy, sx = im.shape[0] / in_h, im.shape[1] / in_w
        regions: list[dict[str, Any]] = []  # built trusted: the values are checked here
        for d in sorted(dets, key=lambda d: -d.score):
            if d.score < min_score:
                out.below_min_score += 1
                continue
            if d.label not in labels:
                out.unmapped[d.label] += 1
                continue
            bx, by, bw, bh = d.box
            if bw <= 0 or bh <= 0:
                out.empty_boxes += 1
                continue
            box = (bx * sx, by * sy, bw * sx, bh * sy)
            regions.append(
                {
                    "id": f"p{len(regions) + 1}",
                    "kind": "box",
                    "control": ctl.name,
                    "label": d.label,
                    "box": box,
                    "score": min(1.0, max(0.0, float(d.score))),
                }
            )
        out.results.append((item_id, regions_from_dicts(regions)))
