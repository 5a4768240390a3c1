"""Pre-labeling's unit of work, run where `assay.compute` puts it (a local process or a
cluster worker): read a run of items from the blob store, decode them, run the model and
turn its answers into stored payload texts (encoded here, where the work is spread over
workers, so the caller only writes rows). Nothing here writes metadata; the caller stores the
results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from assay.domain.labels import payload_to_json_trusted
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


class Prelabelled(NamedTuple):
    """One item's answer as it is stored: the payload text (`payload_to_json` of its regions)
    with the region count and the lowest score (None without regions), which re-orders the
    queue."""

    item_id: str
    payload: str
    regions: int
    lowest: float | None


@dataclass
class LabelResult:
    """A unit's answers in item order, with what it left out and why."""

    results: list[Prelabelled] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    below_min_score: int = 0
    empty_boxes: int = 0
    batches: int = 0
    items: int = 0  # items read and run through the model, labelled or not

    def add(self, other: LabelResult) -> None:
        self.results += other.results
        self.unmapped.update(other.unmapped)
        self.below_min_score += other.below_min_score
        self.empty_boxes += other.empty_boxes
        self.batches += other.batches
        self.items += other.items


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


DECODERS = 2  # threads reading and decoding the next batch while the model runs this one


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
    on_batch: Callable[[LabelResult], None] | None = None,
) -> LabelResult:
    """Read, decode and label `item_ids` in batches of `batch_size`; `on_batch` is told the
    result so far after each batch.

    Decoder threads read, decode, resize and scale the next batch straight into the model's
    input array while the model runs on this one (Pillow and numpy release the GIL for their
    work, onnxruntime for the whole run)."""
    from assay.evaluation.runs._data import model_input, stack_inputs
    from assay.labeling.prelabel import decode_image

    out = LabelResult()
    size = adapter.input_size
    batches = [list(item_ids[s : s + batch_size]) for s in range(0, len(item_ids), batch_size)]

    def load(item_id: str, data: bytes, dest: Any, row: int) -> tuple[tuple[int, ...], Any]:
        image = decode_image(data, item_id)
        return image.shape, model_input(image, size, None if dest is None else dest[row])

    # One bulk read for the whole run, taken a batch at a time: on S3 its blobs (neighbours
    # in a pack when the caller orders them by `in_read_order`) come in a few ranged GETs,
    # locally each pack is opened once.
    datas = iter(blobs.read_many(item_ids))
    with ThreadPoolExecutor(max_workers=DECODERS) as pool:

        def submit(chunk: list[str]) -> tuple[Any, list[Any]]:
            dest = None if size is None else np.empty((len(chunk), 3, *size), np.float32)
            return dest, [pool.submit(load, i, next(datas), dest, j) for j, i in enumerate(chunk)]

        dest, pending = submit(batches[0]) if batches else (None, [])
        for n, ids in enumerate(batches):
            loaded = [f.result() for f in pending]
            x = dest if dest is not None else stack_inputs([a for _, a in loaded], ref)
            if n + 1 < len(batches):
                dest, pending = submit(batches[n + 1])
            shapes = [shp for shp, _ in loaded]
            _label_batch(adapter, kind, ids, shapes, x, ctl, labels, min_score, out)
            out.batches += 1
            out.items += len(ids)
            if on_batch is not None:
                on_batch(out)
    return out


def _label_batch(
    adapter: Any,
    kind: str,
    ids: list[str],
    shapes: list[tuple[int, ...]],
    x: np.ndarray[Any, Any],
    ctl: Control,
    labels: frozenset[str] | set[str],
    min_score: float,
    out: LabelResult,
) -> None:
    if kind == "classification":
        probs = np.asarray(adapter.predict_proba(x), dtype=np.float64)
        classes = list(adapter.classes)
        best: list[int] = probs.argmax(axis=1).tolist() if len(probs) else []
        scores = np.clip(probs[np.arange(len(probs)), best], 0.0, 1.0).tolist() if best else []
        for item_id, k, score in zip(ids, best, scores, strict=True):
            if classes[k] not in labels:
                out.unmapped[classes[k]] += 1
                continue
            region = {  # the fields a Region stores: no None values, empty attributes kept
                "id": "p1",
                "kind": "choice",
                "control": ctl.name,
                "label": classes[k],
                "attributes": {},
                "score": score,
            }
            out.results.append(Prelabelled(item_id, payload_to_json_trusted([region]), 1, score))
        return
    in_h, in_w = x.shape[2], x.shape[3]
    for item_id, shape, dets in zip(ids, shapes, adapter.detect(x), strict=True):
        sy, sx = shape[0] / in_h, shape[1] / in_w
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
            if box[0] < 0 or box[1] < 0 or box[0] + box[2] > shape[1] or box[1] + box[3] > shape[0]:
                # A detector's box may reach past the image: cut to it, so an annotator can
                # submit the pre-label as it is (answers must lie on the image).
                x0, y0 = max(0.0, box[0]), max(0.0, box[1])
                x1 = min(float(shape[1]), box[0] + box[2])
                y1 = min(float(shape[0]), box[1] + box[3])
                if x1 <= x0 or y1 <= y0:
                    out.empty_boxes += 1
                    continue
                box = (x0, y0, x1 - x0, y1 - y0)
            regions.append(
                {
                    "id": f"p{len(regions) + 1}",
                    "kind": "box",
                    "control": ctl.name,
                    "label": d.label,
                    "box": box,
                    "attributes": {},
                    "score": min(1.0, max(0.0, float(d.score))),
                }
            )
        lowest = min((r["score"] for r in regions), default=None)
        out.results.append(
            Prelabelled(item_id, payload_to_json_trusted(regions), len(regions), lowest)
        )
