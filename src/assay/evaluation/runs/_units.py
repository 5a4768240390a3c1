"""Where an evaluation's images meet the model: in this process, or as units of work on a
local process pool or a Dask cluster (`assay.compute`).

A registered ONNX model runs in units: a unit names the model and a run of items by the blob
store's url and their sha256, with the corruption (if any) and the items' place in the run,
so the corruption's seeds are the same wherever it runs. A Python model object, which need
not pickle, and prediction files stay in this process. Either way the same images are
decoded, corrupted and batched the same way, so the numbers match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.compute import Runner, chunks
from assay.evaluation.corruptions import CorruptionSpec, apply
from assay.evaluation.runs._data import EvalItem, Image, decode_bytes
from assay.evaluation.runs._predict import (
    BATCH,
    Boxes,
    Source,
    model_detections,
    model_probabilities,
)
from assay.models import ModelRef, load_model
from assay.store import open_blobs

UNIT_ITEMS = 4 * BATCH  # whole model batches, so a unit batches as one process would


@dataclass(frozen=True)
class PredictUnit:
    """A run of items to predict on, maybe corrupted first."""

    model: ModelRef
    name: str  # the model's name in messages
    task: str  # classification | detection
    item_ids: tuple[str, ...]
    names: tuple[str, ...]
    start: int  # the first item's place in the evaluated list (the corruption's index)
    corruption: CorruptionSpec | None


def _predict(src: Source, images: list[Image]) -> Any:
    if src.task == "classification":
        return model_probabilities(src, images)
    return model_detections(src, images)


def _corrupt(images: list[Image], spec: CorruptionSpec | None, start: int) -> list[Image]:
    if spec is None:
        return images
    return [apply(im, spec, index=start + k) for k, im in enumerate(images)]


def predict_unit(unit: PredictUnit) -> Any:
    """Probabilities (n, C) or detections of one unit (the function workers run)."""
    adapter = load_model(unit.model)
    blobs = open_blobs(unit.model.blob_url)
    images = [
        decode_bytes(data, iid, name)
        for iid, name, data in zip(
            unit.item_ids, unit.names, blobs.read_many(list(unit.item_ids)), strict=True
        )
    ]
    src = Source("onnx", unit.name, unit.task, list(adapter.classes), adapter=adapter)  # type: ignore[arg-type]
    return _predict(src, _corrupt(images, unit.corruption, unit.start))


@dataclass
class Predictor:
    """The model's answers on `items`, clean or under one corruption."""

    src: Source
    items: list[EvalItem]
    run: Runner | None = None
    model: ModelRef | None = None
    _images: list[Image] | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return self.run is not None and self.model is not None

    @property
    def images(self) -> list[Image]:
        """The decoded images, in this process (the adversarial suite needs them here)."""
        if self._images is None:
            from assay.evaluation.runs._data import decode

            self._images = [decode(it) for it in self.items]
        return self._images

    def predict(self, spec: CorruptionSpec | None = None) -> Any:
        if not self.remote:
            return _predict(self.src, _corrupt(self.images, spec, 0))
        assert self.run is not None and self.model is not None
        units = []
        for part in chunks(list(range(len(self.items))), UNIT_ITEMS):
            its = [self.items[k] for k in part]
            units.append(
                PredictUnit(
                    self.model,
                    self.src.name,
                    self.src.task,
                    tuple(it.item_id for it in its),
                    tuple(it.name for it in its),
                    part[0],
                    spec,
                )
            )
        results = list(self.run.map(predict_unit, units))
        if self.src.task == "classification":
            if not results:
                return np.zeros((0, len(self.src.classes)))
            return np.concatenate(results)
        out: list[Boxes] = []
        for r in results:
            out += r
        return out
